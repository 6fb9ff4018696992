-- A new password ends every session of the user, the calling one included, and starts
-- a new one (`start_session`), together. `password_hash = :old_hash` makes a concurrent
-- change win or lose whole: the loser changes nothing.
WITH changed AS (
    UPDATE users SET password_hash = :password_hash, updated_at = now()
    WHERE id = :actor AND password_hash = :old_hash
    RETURNING id, name, email, role, created_at, email_verified, mfa_secret IS NOT NULL AS mfa_enabled, status
), revoked AS (
    UPDATE sessions SET revoked_at = now()
    WHERE user_id = :actor AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM changed)
), session AS (
    SELECT start_session(id, :session_token_hash, :session_expires_at) AS id FROM changed
)
SELECT changed.*, session.id AS session_id FROM changed, session
