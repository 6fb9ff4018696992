-- A new user, their first session and their email-verification token, committed
-- together. ON CONFLICT turns a duplicate email - including one from a registration
-- racing this one - into "no row", never into a half-made account.
WITH new_user AS (
    INSERT INTO users (name, email, password_hash) VALUES (:name, :email, :password_hash)
    ON CONFLICT (email) DO NOTHING
    RETURNING id, name, email, role, created_at, email_verified, mfa_secret IS NOT NULL AS mfa_enabled, status
), session AS (
    INSERT INTO sessions (user_id, expires_at)
    SELECT id, :expires_at FROM new_user
    RETURNING id
), token AS (
    INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)
    SELECT session.id, new_user.id, :token_hash, :expires_at FROM session, new_user
), verification AS (
    INSERT INTO email_tokens (token_hash, user_id, purpose, email, expires_at)
    SELECT :verify_hash, id, 'verify', email, now() + interval '7 days' FROM new_user
)
SELECT new_user.*, session.id AS session_id FROM new_user, session
