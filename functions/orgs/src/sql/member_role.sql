-- Sets a member's role, by a member whose role manages the organization. The last
-- owner is never demoted, also by two owners at once: the memberships_keep_an_owner
-- trigger (migrations/0008) refuses it (SQLSTATE HC409, a 409).
WITH changed AS (
    UPDATE memberships m SET role = :role
    FROM membership
    WHERE membership.manages AND m.organization_id = membership.organization_id AND m.user_id = :user_id
    RETURNING m.user_id, m.role, m.joined_at
)
SELECT (SELECT role FROM membership) AS caller_role, (SELECT manages FROM membership) AS caller_manages, changed.*, u.name, u.email
FROM (SELECT) AS one LEFT JOIN changed ON true LEFT JOIN users u ON u.id = changed.user_id
