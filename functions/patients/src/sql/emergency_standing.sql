-- Whether the caller may break the glass on the patient (`emergency_access_standing`,
-- migrations/0009), and what a fresh re-authentication is checked against: the
-- caller's password hash and, with MFA on, the sealed secret and its last spent step;
-- and whether the caller's email has used up its allowance of failed logins (a wrong
-- password here counts as one, so break-glass is no way around the login throttle).
SELECT emergency_access_standing(:actor, :id) AS standing, u.name, u.password_hash, u.mfa_secret, u.mfa_last_step,
       (SELECT count(*) FROM login_failures f
        WHERE f.email_hash = sha256(convert_to(u.email, 'UTF8'))
          AND f.failed_at > now() - make_interval(mins => :window_minutes)) >= :max_failures::int4 AS throttled
FROM users u
WHERE u.id = :actor
