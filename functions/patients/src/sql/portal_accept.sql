-- Makes the caller the portal user of an open invitation's patient, when the caller's
-- email is verified and is the invited one (case-insensitive; `matches`, else 403) and
-- the patient has no portal user yet (the UPDATE's condition: of two accepts at once,
-- one links, the other finds it taken, 409). The invitation is then used up. No
-- invitation row: the token is bad, used or expired (400). The answer is the patient
-- as its portal user reads it, notes included.
WITH caller AS (
    SELECT id, email, email_verified FROM users WHERE id = :actor
), invitation AS (
    SELECT i.id, i.patient_id, lower(i.email) = lower(caller.email) AND caller.email_verified AS matches
    FROM portal_invitations i, caller
    WHERE i.token_hash = :token_hash AND i.accepted_at IS NULL AND i.expires_at > now()
    FOR UPDATE OF i
), linked AS (
    UPDATE patients SET portal_user_id = :actor
    WHERE id = (SELECT patient_id FROM invitation WHERE matches) AND portal_user_id IS NULL
    RETURNING id, owner_id, organization_id, name, date_of_birth, gender, phone, email, address, notes, created_at,
              updated_at, version, restricted, identifiers, true AS reads_notes
), used AS (
    UPDATE portal_invitations SET accepted_at = now(), accepted_by = :actor
    WHERE id = (SELECT id FROM invitation) AND EXISTS (SELECT 1 FROM linked)
)
SELECT (SELECT matches FROM invitation) AS matches, linked.*
FROM (SELECT) AS one LEFT JOIN linked ON true
