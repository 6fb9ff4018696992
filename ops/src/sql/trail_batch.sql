-- One batch of the audit trail, whole, in id order: the events with lower <= id < upper
-- after the keyset cursor (each archived month and each seal is such a range).
SELECT id, at, action, resource_type, resource_id, outcome, actor_id, organization_id, access, purpose,
       emergency_access_id, client_id, request_id, abbrev(source_ip) AS source_ip
FROM audit_trail
WHERE id >= :lower AND id < :upper AND (:after::uuid IS NULL OR id > :after)
ORDER BY id
LIMIT :batch
