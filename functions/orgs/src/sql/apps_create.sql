-- Registers an app of the organization, by a member whose role manages it. Its id is
-- the app's OAuth `client_id`.
WITH created AS (
    INSERT INTO oauth_apps (organization_id, created_by, name, redirect_uris, confidential, backend, jwks, jwks_uri,
                            scopes)
    SELECT organization_id, :actor, :name, :redirect_uris, :confidential, :backend, :jwks, :jwks_uri, :scopes
    FROM membership WHERE manages
    RETURNING id AS client_id, organization_id, name, redirect_uris, confidential, backend, jwks, jwks_uri, scopes,
              created_at
)
SELECT (SELECT role FROM membership) AS caller_role, (SELECT manages FROM membership) AS caller_manages,
       created.*
FROM (SELECT) AS one LEFT JOIN created ON true
