-- What the code step of a sign-in checks: the user's sealed TOTP secret and last
-- accepted step, their email (the throttle is per email) and whether it is throttled.
SELECT u.email, u.mfa_secret, u.mfa_last_step, u.status,
       (SELECT count(*) FROM login_failures f
        WHERE f.email_hash = sha256(convert_to(u.email, 'UTF8'))
          AND f.failed_at > now() - make_interval(mins => :window_minutes)) >= :max_failures::int4 AS throttled
FROM users u
WHERE u.id = :user_id
