-- Spends a reset token: sets the new password, ends every session, forgets the
-- email's failed logins (the stored email is lower-case, as login hashes it), marks the
-- email verified (the mailbox was proven) and starts a new session (`start_session`).
-- A bad, used or expired token - or an account disabled since - changes nothing.
WITH spent AS (
    UPDATE email_tokens SET used_at = now()
    WHERE token_hash = :token_hash AND purpose = 'reset' AND used_at IS NULL AND expires_at > now()
    RETURNING user_id
), changed AS (
    UPDATE users SET password_hash = :password_hash, email_verified = true, updated_at = now()
    WHERE id IN (SELECT user_id FROM spent) AND status = 'active'
    RETURNING id, name, email, role, created_at, email_verified, mfa_secret IS NOT NULL AS mfa_enabled, status
), revoked AS (
    UPDATE sessions SET revoked_at = now()
    WHERE user_id IN (SELECT id FROM changed) AND revoked_at IS NULL
), cleared AS (
    DELETE FROM login_failures WHERE email_hash IN (SELECT sha256(convert_to(email, 'UTF8')) FROM changed)
), session AS (
    SELECT start_session(id, :session_token_hash, :session_expires_at) AS id FROM changed
)
SELECT changed.*, session.id AS session_id FROM changed, session
