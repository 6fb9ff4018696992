-- One page of the organization's members, for any member, by user id (newest
-- accounts first). Always one row at least: `member` false is a 404; a member past
-- the last page gets a row of NULLs.
WITH page AS (
    SELECT m.user_id, u.name, u.email, m.role, m.joined_at
    FROM membership JOIN memberships m ON m.organization_id = membership.organization_id
    JOIN users u ON u.id = m.user_id
    WHERE (:after::uuid IS NULL OR m.user_id < :after)
    ORDER BY m.user_id DESC
    LIMIT :fetch
)
SELECT EXISTS (SELECT 1 FROM membership) AS member, page.*
FROM (SELECT) AS one LEFT JOIN page ON true
ORDER BY page.user_id DESC
