-- A correct password: a session starts (`start_session`) and the email's failures are
-- forgotten - unless, while the password was being checked, concurrent wrong guesses
-- used up the email's allowance: then nothing happens (429).
WITH allowed AS (
    SELECT count(*) < :max_failures::int4 AS ok FROM login_failures
    WHERE email_hash = :email_hash AND failed_at > now() - make_interval(mins => :window_minutes)
), session AS (
    SELECT start_session(:user_id, :session_token_hash, :session_expires_at) AS id FROM allowed WHERE ok
), cleared AS (
    DELETE FROM login_failures WHERE email_hash = :email_hash AND EXISTS (SELECT 1 FROM session)
)
SELECT (SELECT id FROM session) AS session_id
