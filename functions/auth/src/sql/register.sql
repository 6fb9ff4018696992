-- A new user, their first session and their email-verification token with its email,
-- committed together. ON CONFLICT turns a duplicate email - including one from a
-- registration racing this one - into "no row", never into a half-made account.
WITH new_user AS (
    INSERT INTO users (name, email, password_hash) VALUES (:name, :email, :password_hash)
    ON CONFLICT (email) DO NOTHING
    RETURNING id, name, email, role, created_at, email_verified, mfa_secret IS NOT NULL AS mfa_enabled, status
), session AS (
    SELECT start_session(id, :session_token_hash, :session_expires_at) AS id FROM new_user
), verification AS (
    INSERT INTO email_tokens (token_hash, user_id, purpose, email, expires_at)
    SELECT :verify_hash, id, 'verify', email, now() + interval '7 days' FROM new_user
    RETURNING email, expires_at
), mail AS (
    SELECT queue_mail(email, :mail_subject, :mail_body, :mail_sealed, expires_at, :mail_claim_seconds) AS id
    FROM verification
)
SELECT new_user.*, session.id AS session_id, mail.id AS mail_id FROM new_user, session, mail
