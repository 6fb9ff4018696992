-- The organization's emergency grants, newest first, for members whose role reviews
-- them (`membership`); `reviewed` (NULL: all) keeps the reviewed or the open ones.
WITH readable AS (
    SELECT organization_id FROM membership WHERE audits
), page AS (
    SELECT g.id, g.patient_id, g.user_id, g.reason, g.created_at, g.expires_at, g.ended_at,
           g.expires_at > now() AS active, g.review_outcome, g.reviewed_by, g.reviewed_at, g.review_comment
    FROM emergency_access g
    WHERE g.organization_id = (SELECT organization_id FROM readable)
      AND (:reviewed::bool IS NULL OR (g.reviewed_at IS NOT NULL) = :reviewed)
      AND (:after::uuid IS NULL OR g.id < :after)
    ORDER BY g.id DESC
    LIMIT :fetch
)
SELECT (SELECT role FROM membership) AS caller_role, (SELECT audits FROM membership) AS caller_audits, page.*
FROM (SELECT) AS one LEFT JOIN page ON true
ORDER BY page.id DESC
