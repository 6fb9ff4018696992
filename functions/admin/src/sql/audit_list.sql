-- One page of the audit trail, newest first. CTEs share one snapshot, so the page is
-- read before this request's own event is added: a page never contains the read that
-- produced it. The page is found among the compact rows (migrations/0015), the filters
-- on who and what resolved to their contexts and kinds; only its events are read whole.
-- An actor's events with no record named are paged by sql/audit_list_by_actor.sql.
WITH page AS (
    SELECT e.id, e.resource_id, e.request_id, e.source_ip, e.context, e.kind
    FROM audit_events e
    WHERE (:after::uuid IS NULL OR e.id < :after)
      AND (:actor_id::uuid IS NULL OR e.context IN (SELECT c.id FROM audit_contexts c WHERE c.actor_id = :actor_id))
      AND (:resource_type::text IS NULL
           OR e.kind IN (SELECT k.id FROM audit_kinds k WHERE k.resource_type = :resource_type))
      AND (:resource_id::uuid IS NULL OR e.resource_id = :resource_id)
      AND (:action::text IS NULL OR e.kind IN (SELECT k.id FROM audit_kinds k WHERE k.action = :action))
    ORDER BY e.id DESC
    LIMIT :fetch
)
SELECT p.id, audit_time(p.id) AS at, w.actor_id, k.action, k.resource_type, p.resource_id, k.outcome,
       audit_request_text(p.request_id) AS request_id, p.source_ip, w.organization_id, k.access, k.purpose,
       w.emergency_access_id, w.client_id
FROM page p JOIN audit_who w ON w.context = p.context JOIN audit_what k ON k.kind = p.kind
ORDER BY p.id DESC
