-- One page of the organization's apps, newest first, for a member whose role manages
-- it. Always one row at least (`caller_role`).
WITH page AS (
    SELECT a.id AS client_id, a.organization_id, a.name, a.redirect_uris, a.confidential, a.backend, a.jwks,
           a.jwks_uri, a.scopes, a.created_at
    FROM membership JOIN oauth_apps a ON a.organization_id = membership.organization_id
    WHERE membership.manages AND (:after::uuid IS NULL OR a.id < :after)
    ORDER BY a.id DESC
    LIMIT :fetch
)
SELECT (SELECT role FROM membership) AS caller_role, (SELECT manages FROM membership) AS caller_manages,
       page.*
FROM (SELECT) AS one LEFT JOIN page ON true
ORDER BY page.client_id DESC
