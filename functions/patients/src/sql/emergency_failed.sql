-- A wrong password or code at break-glass: counted towards the caller's login
-- throttling, like a failed login (`recorded` false: the allowance was used up).
SELECT record_login_failure(sha256(convert_to(u.email, 'UTF8')), :max_failures, :window_minutes) AS recorded
FROM users u
WHERE u.id = :actor
