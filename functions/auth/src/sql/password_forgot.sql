-- A reset token for an active account with this email, unless it already had
-- `:per_hour` of them issued in the past hour. Its email is queued with the
-- token (`queue_mail`). No row: nothing to send (the answer is the same either way).
WITH target AS (
    SELECT id, email FROM users WHERE email = :email AND status = 'active'
), recent AS (
    SELECT count(*) AS issued FROM email_tokens
    WHERE user_id IN (SELECT id FROM target) AND purpose = 'reset' AND created_at > now() - interval '1 hour'
), issued AS (
    INSERT INTO email_tokens (token_hash, user_id, purpose, email, expires_at)
    SELECT :token_hash, id, 'reset', email, now() + interval '30 minutes'
    FROM target WHERE (SELECT issued FROM recent) < :per_hour
    RETURNING email, expires_at
), mail AS (
    SELECT queue_mail(email, :mail_subject, :mail_body, :mail_sealed, expires_at, :mail_claim_seconds) AS id
    FROM issued
)
SELECT issued.email, mail.id AS mail_id FROM issued, mail
