-- Removes a member: any member, by one whose role manages the organization; oneself
-- (`:leaving`), by any member. The last owner stays (the trigger, as in
-- member_role.sql). Access through the organization ends with the row, on the removed
-- user's very next request.
WITH removed AS (
    DELETE FROM memberships m
    USING membership
    WHERE m.organization_id = membership.organization_id AND m.user_id = :user_id
      AND (membership.manages OR :leaving)
    RETURNING m.user_id
)
SELECT (SELECT role FROM membership) AS caller_role, (SELECT manages FROM membership) AS caller_manages, (SELECT user_id FROM removed) AS user_id
