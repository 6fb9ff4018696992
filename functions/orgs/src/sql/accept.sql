-- Joins the caller to the organization of an open invitation, when the caller's email
-- is verified and is the invited one (case-insensitive; `matches`, else 403); the
-- invitation is then used up. Locked, so two accepts of one token make one member.
-- No invitation row: the token is bad, used, withdrawn or expired (400). Already a
-- member: nothing joins (409) and the invitation stays open.
WITH caller AS (
    SELECT id, email, email_verified FROM users WHERE id = :actor
), invitation AS (
    SELECT i.id, i.organization_id, i.role,
           lower(i.email) = lower(caller.email) AND caller.email_verified AS matches
    FROM organization_invitations i, caller
    WHERE i.token_hash = :token_hash AND i.accepted_at IS NULL AND i.expires_at > now()
    FOR UPDATE OF i
), joined AS (
    INSERT INTO memberships (user_id, organization_id, role)
    SELECT caller.id, invitation.organization_id, invitation.role FROM invitation, caller WHERE invitation.matches
    ON CONFLICT (user_id, organization_id) DO NOTHING
    RETURNING organization_id, role
), used AS (
    UPDATE organization_invitations SET accepted_at = now(), accepted_by = :actor
    WHERE id = (SELECT id FROM invitation) AND EXISTS (SELECT 1 FROM joined)
)
SELECT (SELECT matches FROM invitation) AS matches, o.id, o.name, o.created_at, o.updated_at, o.version,
       joined.role AS my_role
FROM (SELECT) AS one LEFT JOIN joined ON true LEFT JOIN organizations o ON o.id = joined.organization_id
