-- One page of the acting user's live sessions, newest first; `current` marks the one
-- the access token belongs to.
SELECT id, created_at, last_used_at, expires_at, id = :session AS current
FROM sessions
WHERE user_id = :actor AND revoked_at IS NULL AND expires_at > now()
  AND last_used_at > now() - make_interval(mins => :idle_minutes)
  AND (:after::uuid IS NULL OR id < :after)
ORDER BY id DESC
LIMIT :fetch
