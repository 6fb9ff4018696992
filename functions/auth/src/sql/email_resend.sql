-- A new verification token for the acting user, unless the email is verified already
-- or `:per_hour` were issued in the past hour. Its email is queued with the
-- token (`queue_mail`). No row: nothing to send.
WITH target AS (
    SELECT id, email FROM users WHERE id = :actor AND NOT email_verified
), recent AS (
    SELECT count(*) AS issued FROM email_tokens
    WHERE user_id = :actor AND purpose = 'verify' AND created_at > now() - interval '1 hour'
), issued AS (
    INSERT INTO email_tokens (token_hash, user_id, purpose, email, expires_at)
    SELECT :token_hash, id, 'verify', email, now() + interval '7 days'
    FROM target WHERE (SELECT issued FROM recent) < :per_hour
    RETURNING email, expires_at
), mail AS (
    SELECT queue_mail(email, :mail_subject, :mail_body, :mail_sealed, expires_at, :mail_claim_seconds) AS id
    FROM issued
)
SELECT issued.email, mail.id AS mail_id FROM issued, mail
