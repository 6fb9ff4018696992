-- The right code: the challenge is spent, the factor too - a TOTP step newer than the
-- last accepted one (a replay matches nothing), or an unused recovery code - and a
-- session starts; the email's failures are forgotten. A concurrent use of the same
-- code or challenge finds nothing left to spend, and no session starts (`start_session`).
WITH spent AS (
    UPDATE mfa_challenges SET spent_at = now()
    WHERE token_hash = :token_hash AND spent_at IS NULL AND expires_at > now() AND failures < :max_attempts::int4
    RETURNING user_id
), factor AS (
    UPDATE users SET mfa_last_step = COALESCE(:step, mfa_last_step)
    WHERE id IN (SELECT user_id FROM spent)
      AND (:step::int8 IS NULL OR mfa_last_step IS NULL OR mfa_last_step < :step)
    RETURNING id
), recovery AS (
    UPDATE mfa_recovery_codes SET used_at = now()
    WHERE user_id IN (SELECT id FROM factor) AND code_hash = :recovery_hash AND used_at IS NULL
    RETURNING user_id
), passed AS (
    SELECT id FROM factor WHERE :recovery_hash::bytea IS NULL OR EXISTS (SELECT 1 FROM recovery)
), session AS (
    SELECT start_session(id, :session_token_hash, :session_expires_at) AS id FROM passed
), cleared AS (
    DELETE FROM login_failures WHERE email_hash = :email_hash AND EXISTS (SELECT 1 FROM session)
)
SELECT (SELECT id FROM session) AS session_id
