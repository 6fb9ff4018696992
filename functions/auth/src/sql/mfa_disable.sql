-- Turns MFA off, spending the second factor that allowed it: a TOTP step newer than
-- the last accepted one, or an unused recovery code. Its recovery codes go with it.
WITH disabled AS (
    UPDATE users SET mfa_secret = NULL, mfa_pending_secret = NULL, mfa_last_step = NULL, updated_at = now()
    WHERE id = :actor AND mfa_secret = :secret
      AND (:step::int8 IS NULL OR mfa_last_step IS NULL OR mfa_last_step < :step)
      AND (:recovery_hash::bytea IS NULL OR EXISTS (
              SELECT 1 FROM mfa_recovery_codes
              WHERE user_id = :actor AND code_hash = :recovery_hash AND used_at IS NULL))
    RETURNING id
), codes AS (
    DELETE FROM mfa_recovery_codes WHERE user_id IN (SELECT id FROM disabled)
)
SELECT id FROM disabled
