-- One page of the audit events about a patient, newest first, for those who may read
-- its access log (`reach`: `reads_log`), each with its actor's name. Events are read
-- from the statement's snapshot: the page never holds the read that produced it. The
-- patient is named by its parameter, gated by `readable`, so the plan is made for that
-- very patient: behind a subquery's value the planner guesses from the column's
-- average and may walk the month's primary key past everyone else's events instead of
-- the patient's own index entries (25 ms against 0.1 ms, measured).
WITH target AS (
    SELECT r.id, r.reads_log FROM reach r
), readable AS (
    SELECT id FROM target WHERE reads_log
), page AS (
    SELECT e.id, e.at, e.action, e.outcome, e.actor_id, u.name AS actor_name, e.resource_type, e.resource_id,
           e.access, e.purpose, e.emergency_access_id, e.client_id
    FROM audit_trail e LEFT JOIN users u ON u.id = e.actor_id
    WHERE e.resource_type = 'patient' AND e.resource_id = :id AND EXISTS (SELECT 1 FROM readable)
      AND (:after::uuid IS NULL OR e.id < :after)
    ORDER BY e.id DESC
    LIMIT :fetch
)
SELECT EXISTS (SELECT 1 FROM target) AS found, COALESCE((SELECT reads_log FROM target), false) AS reads_log, page.*
FROM (SELECT) AS one LEFT JOIN page ON true
ORDER BY page.id DESC
