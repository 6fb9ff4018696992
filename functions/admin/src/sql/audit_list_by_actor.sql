-- One page of an actor's audit events, newest first: the admin list filtered by
-- `actor_id` and no `resource_id` (sql/audit_list.sql pages the rest, and says why the
-- request's own event is never on its page). The newest events of each of the actor's
-- contexts along (context, id), then the newest of those (migrations/0015): walking the
-- primary key for them went past everyone else's events, the whole trail for an actor
-- seldom seen.
WITH page AS (
    SELECT x.id, x.resource_id, x.request_id, x.source_ip, x.context, x.kind
    FROM audit_contexts c
    CROSS JOIN LATERAL (
        SELECT e.id, e.resource_id, e.request_id, e.source_ip, e.context, e.kind
        FROM audit_events e
        WHERE e.context = c.id
          AND (:after::uuid IS NULL OR e.id < :after)
          AND (:resource_type::text IS NULL
               OR e.kind IN (SELECT k.id FROM audit_kinds k WHERE k.resource_type = :resource_type))
          AND (:action::text IS NULL OR e.kind IN (SELECT k.id FROM audit_kinds k WHERE k.action = :action))
        ORDER BY e.id DESC
        LIMIT :fetch
    ) AS x
    WHERE c.actor_id = :actor_id
    ORDER BY x.id DESC
    LIMIT :fetch
)
SELECT p.id, audit_time(p.id) AS at, w.actor_id, k.action, k.resource_type, p.resource_id, k.outcome,
       audit_request_text(p.request_id) AS request_id, p.source_ip, w.organization_id, k.access, k.purpose,
       w.emergency_access_id, w.client_id
FROM page p JOIN audit_who w ON w.context = p.context JOIN audit_what k ON k.kind = p.kind
ORDER BY p.id DESC
