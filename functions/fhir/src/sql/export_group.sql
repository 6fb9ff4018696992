-- Whether the caller is a member of a Group's organization at all: a refused kick-off of
-- another organization's Group is 404, whatever else was wrong with it.
SELECT (SELECT role FROM membership) AS member_role
