-- Registers an app of no organization, by an admin (the Admin principal): its users'
-- grants reach what they reach.
WITH created AS (
    INSERT INTO oauth_apps (organization_id, created_by, name, redirect_uris, confidential, backend, jwks, jwks_uri,
                            scopes)
    VALUES (NULL, :actor, :name, :redirect_uris, :confidential, :backend, :jwks, :jwks_uri, :scopes)
    RETURNING id AS client_id, organization_id, name, redirect_uris, confidential, backend, jwks, jwks_uri, scopes,
              created_at
)
SELECT * FROM created
