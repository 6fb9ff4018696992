-- The user (if any) and the email's throttle state, in one round trip. The rule is
-- 5 failures in 15 minutes: `OFFSET 4` finds the 5th most recent failure within the
-- window, and `retry_after` is the seconds until it leaves the window (NULL: not
-- throttled).
SELECT u.id, u.name, u.email, u.role, u.created_at, u.password_hash,
       ceil(extract(epoch FROM t.fifth_newest + interval '15 minutes' - now()))::int8 AS retry_after
FROM (SELECT (SELECT failed_at FROM login_failures
              WHERE email_hash = :email_hash AND failed_at > now() - interval '15 minutes'
              ORDER BY failed_at DESC OFFSET 4 LIMIT 1) AS fifth_newest) t
LEFT JOIN users u ON u.email = :email
