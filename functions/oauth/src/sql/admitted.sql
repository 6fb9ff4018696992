-- May this user hold a grant of this app? (`app_admits`, migrations/0011: a member of
-- the app's organization or the portal user of one of its patients.) Asked before the
-- consent page, so that nobody approves a grant every request would refuse.
SELECT app_admits(:client_id, :user_id) AS admitted
