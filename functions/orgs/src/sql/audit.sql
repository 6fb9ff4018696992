-- One page of the organization's audit trail, newest first, for members whose role
-- audits it (`membership`): the events about its patients, members and grants, by
-- their `organization_id`. Filters: action, actor, and the patient an event is about.
-- The organization is named by its parameter, gated by `readable`, so the plan is
-- made for it (see functions/patients/src/sql/access_log.sql).
WITH readable AS (
    SELECT organization_id FROM membership WHERE audits
), page AS (
    SELECT e.id, e.at, e.action, e.outcome, e.actor_id, u.name AS actor_name, e.resource_type, e.resource_id,
           e.access, e.purpose, e.emergency_access_id, e.client_id
    FROM audit_trail e LEFT JOIN users u ON u.id = e.actor_id
    WHERE e.organization_id = :id AND EXISTS (SELECT 1 FROM readable)
      AND (:after::uuid IS NULL OR e.id < :after)
      AND (:action::text IS NULL OR e.action = :action)
      AND (:actor_id::uuid IS NULL OR e.actor_id = :actor_id)
      AND (:patient_id::uuid IS NULL OR (e.resource_type = 'patient' AND e.resource_id = :patient_id))
    ORDER BY e.id DESC
    LIMIT :fetch
)
SELECT (SELECT role FROM membership) AS caller_role, (SELECT audits FROM membership) AS caller_audits, page.*
FROM (SELECT) AS one LEFT JOIN page ON true
ORDER BY page.id DESC
