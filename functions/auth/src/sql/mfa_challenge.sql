-- A correct password for an account with MFA: a challenge, unless concurrent wrong
-- guesses used up the email's allowance while the password was being checked.
WITH allowed AS (
    SELECT count(*) < :max_failures::int4 AS ok FROM login_failures
    WHERE email_hash = :email_hash AND failed_at > now() - make_interval(mins => :window_minutes)
), challenge AS (
    INSERT INTO mfa_challenges (token_hash, user_id, expires_at)
    SELECT :token_hash, :user_id, now() + :lifetime_seconds::int4 * interval '1 second' FROM allowed WHERE ok
    RETURNING user_id
)
SELECT EXISTS (SELECT 1 FROM challenge) AS challenged
