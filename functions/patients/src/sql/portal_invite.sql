-- A portal invitation for a patient the caller reaches and may write, unless the
-- patient has its portal user already (`linked`, 409). Its email is queued with the
-- token; the token is kept only as its hash, like a reset token.
WITH target AS (
    SELECT r.id, r.writes, p.portal_user_id IS NOT NULL AS linked
    FROM reach r JOIN patients p ON p.id = r.id
), created AS (
    INSERT INTO portal_invitations (patient_id, email, token_hash, invited_by, expires_at)
    SELECT id, :email, :token_hash, :actor, now() + interval '7 days'
    FROM target WHERE writes AND NOT linked
    RETURNING id, patient_id, email, created_at, expires_at
), mail AS (
    SELECT queue_mail(email, :mail_subject, :mail_body, :mail_sealed, expires_at, :mail_claim_seconds) AS id
    FROM created
)
SELECT EXISTS (SELECT 1 FROM target) AS found, COALESCE((SELECT writes FROM target), false) AS may_write,
       COALESCE((SELECT linked FROM target), false) AS linked, created.*, mail.id AS mail_id
FROM (SELECT) AS one LEFT JOIN created ON true LEFT JOIN mail ON true
