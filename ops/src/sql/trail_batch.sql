-- One batch of the audit trail, whole, in id order: the events after the keyset cursor
-- and before :upper (each archived month and each seal is such a range; the first batch
-- starts after its lower bound, which no event id equals: bounds carry no version). The
-- cursor is the index's condition, so each batch starts where the last one ended.
SELECT id, at, action, resource_type, resource_id, outcome, actor_id, organization_id, access, purpose,
       emergency_access_id, client_id, request_id, abbrev(source_ip) AS source_ip
FROM audit_trail
WHERE id > :after AND id < :upper
ORDER BY id
LIMIT :batch
