-- One batch of the events about a patient still in Postgres, oldest first (the access
-- report; the archived months are read from S3).
SELECT id, at, action, resource_type, resource_id, outcome, actor_id, organization_id, access, purpose,
       emergency_access_id, client_id, request_id, abbrev(source_ip) AS source_ip
FROM audit_trail
WHERE resource_type = 'patient' AND resource_id = :patient AND (:after::uuid IS NULL OR id > :after)
ORDER BY id
LIMIT :batch
