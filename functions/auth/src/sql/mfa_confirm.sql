-- Confirms enrolment: the pending secret (the one the code was checked against)
-- becomes the secret, the code's step is the last accepted one, and the recovery codes
-- replace any earlier ones.
WITH confirmed AS (
    UPDATE users SET mfa_secret = mfa_pending_secret, mfa_pending_secret = NULL, mfa_last_step = :step,
                     updated_at = now()
    WHERE id = :actor AND mfa_secret IS NULL AND mfa_pending_secret = :pending
    RETURNING id
), cleared AS (
    DELETE FROM mfa_recovery_codes WHERE user_id IN (SELECT id FROM confirmed)
), codes AS (
    INSERT INTO mfa_recovery_codes (user_id, code_hash)
    SELECT confirmed.id, code_hash FROM confirmed, unnest(:code_hashes::bytea[]) AS code_hash
)
SELECT id FROM confirmed
