-- One page of the apps of no organization (the admins'), newest first.
SELECT id AS client_id, organization_id, name, redirect_uris, confidential, backend, jwks, jwks_uri, scopes, created_at
FROM oauth_apps
WHERE organization_id IS NULL AND (:after::uuid IS NULL OR id < :after)
ORDER BY id DESC
LIMIT :fetch
