-- One page of the organization's open invitations (not accepted, not expired), newest
-- first, for a member whose role manages it. Always one row at least (`caller_role`).
WITH page AS (
    SELECT i.id, i.email, i.role, i.created_at, i.expires_at
    FROM membership JOIN organization_invitations i ON i.organization_id = membership.organization_id
    WHERE membership.manages AND i.accepted_at IS NULL AND i.expires_at > now()
      AND (:after::uuid IS NULL OR i.id < :after)
    ORDER BY i.id DESC
    LIMIT :fetch
)
SELECT (SELECT role FROM membership) AS caller_role, (SELECT manages FROM membership) AS caller_manages,
       page.*
FROM (SELECT) AS one LEFT JOIN page ON true
ORDER BY page.id DESC
