-- One page of the organization's audit trail, newest first, for members whose role
-- audits it (`membership`): the events about its patients, members and grants, by
-- their `organization_id`. Filters: action, actor, and the patient an event is about.
-- The organization is named by its parameter, gated by `readable`, so the plan is
-- made for it (see functions/patients/src/sql/access_log.sql).
WITH readable AS (
    SELECT organization_id FROM membership WHERE audits
), contexts AS (
    -- Who acted in the organization (with the actor filter): the contexts of its events.
    SELECT c.id FROM audit_contexts c
    WHERE c.organization_id = :id AND (:actor_id::uuid IS NULL OR c.actor_id = :actor_id)
      AND EXISTS (SELECT 1 FROM readable)
), patient_events AS MATERIALIZED (
    -- With a patient: the patient's events, by their index, before the contexts are
    -- looked at (unfenced, the planner ANDs the contexts' index in: four times the pages).
    SELECT e.id, e.resource_id, e.context, e.kind
    FROM audit_events e
    WHERE :patient_id::uuid IS NOT NULL AND EXISTS (SELECT 1 FROM readable)
      AND e.resource_id = :patient_id
      AND e.kind IN (SELECT k.id FROM audit_kinds k
                     WHERE k.resource_type = 'patient' AND (:action::text IS NULL OR k.action = :action))
      AND (:after::uuid IS NULL OR e.id < :after)
), page_ids AS (
    -- The page among the compact rows (migrations/0015); only its events are read whole
    -- below. Without a patient: the newest events of each context along (context, id),
    -- then the newest of those, so a small clinic's page costs what a large one's does
    -- (walking the primary key past everyone else's events took 1.8 s at 10 M events).
    -- With a patient: those of the patient's events that are the organization's.
    SELECT x.id, x.resource_id, x.context, x.kind
    FROM contexts c
    CROSS JOIN LATERAL (
        SELECT e.id, e.resource_id, e.context, e.kind
        FROM audit_events e
        WHERE e.context = c.id
          AND (:after::uuid IS NULL OR e.id < :after)
          AND (:action::text IS NULL OR e.kind IN (SELECT k.id FROM audit_kinds k WHERE k.action = :action))
        ORDER BY e.id DESC
        LIMIT :fetch
    ) AS x
    WHERE :patient_id::uuid IS NULL
    UNION ALL
    SELECT p.id, p.resource_id, p.context, p.kind
    FROM patient_events p
    WHERE p.context IN (SELECT id FROM contexts)
    ORDER BY id DESC
    LIMIT :fetch
), page AS (
    SELECT p.id, audit_time(p.id) AS at, k.action, k.outcome, w.actor_id, u.name AS actor_name, k.resource_type,
           p.resource_id, k.access, k.purpose, w.emergency_access_id, w.client_id
    FROM page_ids p JOIN audit_who w ON w.context = p.context JOIN audit_what k ON k.kind = p.kind
    LEFT JOIN users u ON u.id = w.actor_id
)
SELECT (SELECT role FROM membership) AS caller_role, (SELECT audits FROM membership) AS caller_audits, page.*
FROM (SELECT) AS one LEFT JOIN page ON true
ORDER BY page.id DESC
