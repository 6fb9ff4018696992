-- Withdraws an open invitation, by a member whose role manages the organization: the
-- row goes, so its token stops working.
WITH withdrawn AS (
    DELETE FROM organization_invitations i
    USING membership
    WHERE i.id = :invitation_id AND i.organization_id = membership.organization_id AND membership.manages
      AND i.accepted_at IS NULL
    RETURNING i.id
)
SELECT (SELECT role FROM membership) AS caller_role, (SELECT manages FROM membership) AS caller_manages, (SELECT id FROM withdrawn) AS id
