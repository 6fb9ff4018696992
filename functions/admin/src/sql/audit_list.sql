-- One page of the audit trail, newest first. CTEs share one snapshot, so the page is
-- read before this request's own event is added: a page never contains the read that
-- produced it.
WITH page AS (
    SELECT id, at, actor_id, action, resource_type, resource_id, outcome, request_id, source_ip, organization_id,
           access, purpose, emergency_access_id, client_id
    FROM audit_trail
    WHERE (:after::uuid IS NULL OR id < :after)
      AND (:actor_id::uuid IS NULL OR actor_id = :actor_id)
      AND (:resource_type::text IS NULL OR resource_type = :resource_type)
      AND (:resource_id::uuid IS NULL OR resource_id = :resource_id)
      AND (:action::text IS NULL OR action = :action)
    ORDER BY id DESC
    LIMIT :fetch
)
SELECT * FROM page ORDER BY id DESC
