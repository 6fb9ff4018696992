-- The acting user's second factor as it stands: the confirmed and the pending secret
-- (sealed), the last accepted time step, the password hash, and whether a recovery
-- code is one of theirs and unused.
SELECT mfa_secret, mfa_pending_secret, mfa_last_step, password_hash,
       EXISTS (SELECT 1 FROM mfa_recovery_codes
               WHERE user_id = :actor AND code_hash = :recovery_hash AND used_at IS NULL) AS recovery_ok
FROM users
WHERE id = :actor
