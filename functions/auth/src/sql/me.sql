-- The acting user's account.
SELECT id, name, email, role, created_at, email_verified, mfa_secret IS NOT NULL AS mfa_enabled, status
FROM users
WHERE id = :actor
