-- A backend app's grant: a session of the user who registered the app (whose reach,
-- inside the app's organization, its tokens act with), ending with the token. No
-- refresh token is handed out (the one `start_grant` keeps is never revealed).
WITH owner AS (
    SELECT u.id, u.role FROM oauth_apps a JOIN users u ON u.id = a.created_by
    WHERE a.id = :client_id AND u.status = 'active'
      AND (a.organization_id IS NULL OR EXISTS (
          SELECT 1 FROM memberships m WHERE m.organization_id = a.organization_id AND m.user_id = u.id))
), session AS (
    SELECT start_grant(:session_id, id, :session_token_hash, :session_expires_at, :client_id, :scope, NULL, NULL) AS id
    FROM owner
)
SELECT owner.id AS user_id, owner.role, (SELECT id FROM session) AS session_id
FROM owner
