-- One page of the acting user's live sessions, newest first; `current` marks the one
-- the access token belongs to; a SMART app's grant names the app (`client_id`,
-- `client_name`; both null for a first-party session).
SELECT s.id, s.created_at, s.last_used_at, s.expires_at, s.id = :session AS current, s.client_id,
       a.name AS client_name
FROM sessions s LEFT JOIN oauth_apps a ON a.id = s.client_id
WHERE s.user_id = :actor AND s.revoked_at IS NULL AND s.expires_at > now()
  AND s.last_used_at > now() - make_interval(mins => :idle_minutes)
  AND (:after::uuid IS NULL OR s.id < :after)
ORDER BY s.id DESC
LIMIT :fetch
