-- A registered app, by its client_id (none: an unknown client).
SELECT id AS client_id, organization_id, name, redirect_uris, confidential, backend, jwks, jwks_uri, scopes, created_at
FROM oauth_apps
WHERE id = :client_id
