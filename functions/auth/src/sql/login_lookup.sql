-- The user (if any) and the email's throttle state, in one round trip: `retry_after`
-- is the seconds until the email's `max_failures`-th most recent failure leaves the
-- window (NULL: not throttled).
SELECT u.id, u.name, u.email, u.role, u.created_at, u.email_verified, u.mfa_secret IS NOT NULL AS mfa_enabled,
       u.status, u.password_hash,
       ceil(extract(epoch FROM t.oldest_counted + make_interval(mins => :window_minutes) - now()))::int8 AS retry_after
FROM (SELECT (SELECT failed_at FROM login_failures
              WHERE email_hash = :email_hash AND failed_at > now() - make_interval(mins => :window_minutes)
              ORDER BY failed_at DESC OFFSET :max_failures::int4 - 1 LIMIT 1) AS oldest_counted) t
LEFT JOIN users u ON u.email = :email
