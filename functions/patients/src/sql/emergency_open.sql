-- Opens an emergency grant when the caller still may (the standing is checked again,
-- in this statement: a role changed since the first look counts) and, with MFA on,
-- the TOTP step of the code is newer than the last one spent (spent here: a code opens
-- one grant). One alert per owner of the organization is queued with it; the body was
-- written before the statement and names the requester, the grant and the reason only.
WITH standing AS (
    SELECT emergency_access_standing(:actor, :id) AS standing
), spent AS (
    UPDATE users SET mfa_last_step = :step
    WHERE id = :actor AND :step::int8 IS NOT NULL AND (mfa_last_step IS NULL OR mfa_last_step < :step)
    RETURNING id
), created AS (
    INSERT INTO emergency_access (id, patient_id, organization_id, user_id, reason, expires_at)
    SELECT :grant_id, r.id, r.organization_id, :actor, :reason, now() + make_interval(mins => :minutes)
    FROM reach r, standing s
    WHERE s.standing = 'allowed' AND (:step::int8 IS NULL OR EXISTS (SELECT 1 FROM spent))
    RETURNING id, patient_id, organization_id, user_id, reason, created_at, expires_at, ended_at, true AS active,
              review_outcome, reviewed_by, reviewed_at, review_comment
), mail AS (
    SELECT queue_mail(u.email, :mail_subject, :mail_body, :mail_sealed, c.created_at + interval '30 days',
                      :mail_claim_seconds) AS id, u.email
    FROM created c, organization_alerted(c.organization_id) u
)
SELECT s.standing, c.id, c.patient_id, c.user_id, c.reason, c.created_at, c.expires_at, c.ended_at, c.active,
       c.review_outcome, c.reviewed_by, c.reviewed_at, c.review_comment,
       ARRAY(SELECT id FROM mail) AS mail_ids, ARRAY(SELECT email FROM mail) AS mail_to
FROM standing s LEFT JOIN created c ON true
