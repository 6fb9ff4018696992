-- One page of the audit trail, newest first. CTEs share one snapshot, so the page is
-- read before this request's own event is added: a page never contains the read that
-- produced it. The page is found among the compact rows (migrations/0015), the filters
-- on who and what resolved to their contexts and kinds; only its events are read whole.
WITH kinds AS (
    SELECT k.id FROM audit_kinds k
    WHERE (:resource_type::text IS NULL OR k.resource_type = :resource_type)
      AND (:action::text IS NULL OR k.action = :action)
), page AS (
    -- An actor's events (without a record): the newest of each of their contexts along
    -- (context, id), then the newest of those, so a rare actor's page does not walk the
    -- primary key past everyone else's events.
    SELECT x.id, x.resource_id, x.request_id, x.source_ip, x.context, x.kind
    FROM audit_contexts c
    CROSS JOIN LATERAL (
        SELECT e.id, e.resource_id, e.request_id, e.source_ip, e.context, e.kind
        FROM audit_events e
        WHERE e.context = c.id
          AND (:after::uuid IS NULL OR e.id < :after)
          AND ((:resource_type::text IS NULL AND :action::text IS NULL)
               OR e.kind = ANY (ARRAY(SELECT id FROM kinds)))
        ORDER BY e.id DESC
        LIMIT :fetch
    ) AS x
    WHERE c.actor_id = :actor_id AND :resource_id::uuid IS NULL
    UNION ALL
    -- Everyone's (the primary key, newest first), or a record's (its index).
    SELECT e.id, e.resource_id, e.request_id, e.source_ip, e.context, e.kind
    FROM audit_events e
    WHERE (:actor_id::uuid IS NULL OR :resource_id::uuid IS NOT NULL)
      AND (:after::uuid IS NULL OR e.id < :after)
      AND (:actor_id::uuid IS NULL
           OR e.context = ANY (ARRAY(SELECT c.id FROM audit_contexts c WHERE c.actor_id = :actor_id)))
      AND ((:resource_type::text IS NULL AND :action::text IS NULL)
           OR e.kind = ANY (ARRAY(SELECT id FROM kinds)))
      AND (:resource_id::uuid IS NULL OR e.resource_id = :resource_id)
    ORDER BY id DESC
    LIMIT :fetch
)
SELECT p.id, audit_time(p.id) AS at, w.actor_id, k.action, k.resource_type, p.resource_id, k.outcome,
       audit_request_text(p.request_id) AS request_id, p.source_ip, w.organization_id, k.access, k.purpose,
       w.emergency_access_id, w.client_id
FROM page p JOIN audit_who w ON w.context = p.context JOIN audit_what k ON k.kind = p.kind
ORDER BY p.id DESC
