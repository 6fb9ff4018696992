-- Deletes an app of the organization, by a member whose role manages it. Its grants
-- (sessions) and codes go with it, so its tokens stop on the next request.
WITH deleted AS (
    DELETE FROM oauth_apps a
    USING membership
    WHERE a.id = :client_id AND a.organization_id = membership.organization_id AND membership.manages
    RETURNING a.id
)
SELECT (SELECT role FROM membership) AS caller_role, (SELECT manages FROM membership) AS caller_manages,
       (SELECT id FROM deleted) AS id
