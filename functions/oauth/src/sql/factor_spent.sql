-- The right code: its step becomes the last accepted one, so it is never accepted
-- again (a concurrent use of the same code finds nothing to spend: `spent` false).
WITH spent AS (
    UPDATE users SET mfa_last_step = :step
    WHERE id = :user_id AND (mfa_last_step IS NULL OR mfa_last_step < :step)
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM spent) AS spent
