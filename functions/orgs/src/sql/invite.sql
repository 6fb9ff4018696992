-- An invitation, by a member whose role manages the organization, unless the address
-- already belongs to a member (`already_member`, 409). Its email is queued with the
-- token (`queue_mail`); the token is kept only as its hash, like a reset token.
WITH already AS (
    SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
    WHERE m.organization_id = :id AND lower(u.email) = lower(:email)
), created AS (
    INSERT INTO organization_invitations (organization_id, email, role, token_hash, invited_by, expires_at)
    SELECT organization_id, :email, :role, :token_hash, :actor, now() + interval '7 days'
    FROM membership WHERE manages AND NOT EXISTS (SELECT 1 FROM already)
    RETURNING id, email, role, created_at, expires_at
), mail AS (
    SELECT queue_mail(email, :mail_subject, :mail_body, :mail_sealed, expires_at, :mail_claim_seconds) AS id
    FROM created
)
SELECT (SELECT role FROM membership) AS caller_role, (SELECT manages FROM membership) AS caller_manages,
       EXISTS (SELECT 1 FROM already) AS already_member,
       created.*, mail.id AS mail_id
FROM (SELECT) AS one LEFT JOIN created ON true LEFT JOIN mail ON true
