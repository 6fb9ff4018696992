-- A correct password: a session (a new refresh-token family) starts and the email's
-- failures are forgotten - unless, while the password was being checked, concurrent
-- wrong guesses used up the email's allowance: then nothing happens (429).
WITH allowed AS (
    SELECT count(*) < :max_failures::int4 AS ok FROM login_failures
    WHERE email_hash = :email_hash AND failed_at > now() - make_interval(mins => :window_minutes)
), session AS (
    INSERT INTO sessions (user_id, expires_at)
    SELECT :user_id, :expires_at FROM allowed WHERE ok
    RETURNING id
), token AS (
    INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)
    SELECT id, :user_id, :token_hash, :expires_at FROM session
), cleared AS (
    DELETE FROM login_failures WHERE email_hash = :email_hash AND EXISTS (SELECT 1 FROM session)
)
SELECT (SELECT id FROM session) AS session_id
