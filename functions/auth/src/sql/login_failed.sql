-- A wrong password or an unknown email: the failure counts towards throttling, and
-- the email's failures that have left the window are pruned.
WITH failure AS (
    INSERT INTO login_failures (email_hash) VALUES (:email_hash)
), pruned AS (
    DELETE FROM login_failures
    WHERE email_hash = :email_hash AND failed_at <= now() - interval '15 minutes'
)
SELECT true AS recorded
