-- Reviews one of the organization's grants, by a member whose role reviews them and
-- who is not its holder (`emergency_grant`), once: the UPDATE's condition takes the
-- row lock, so of two reviewers at once one reviews and the other finds it reviewed
-- (409). `target` tells 404, 403 and 409 apart.
WITH target AS (
    SELECT g.id, g.audits AND NOT g.holds AS may_review, g.reviewed_at IS NOT NULL AS reviewed
    FROM emergency_grant g
    WHERE g.organization_id = :id AND g.member
), reviewed AS (
    UPDATE emergency_access SET review_outcome = :outcome, review_comment = :comment, reviewed_by = :actor,
                                reviewed_at = now()
    WHERE id = (SELECT id FROM target WHERE may_review) AND reviewed_at IS NULL
    RETURNING id, patient_id, user_id, reason, created_at, expires_at, ended_at, expires_at > now() AS active,
              review_outcome, reviewed_by, reviewed_at, review_comment
)
SELECT (SELECT role FROM membership) AS caller_role, COALESCE((SELECT may_review FROM target), false) AS may_review,
       EXISTS (SELECT 1 FROM target) AS found, reviewed.*
FROM (SELECT) AS one LEFT JOIN reviewed ON true
