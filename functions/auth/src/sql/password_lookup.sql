-- The acting user and their password hash, to check the current password.
SELECT id, name, email, role, created_at, email_verified, mfa_secret IS NOT NULL AS mfa_enabled, status, password_hash
FROM users
WHERE id = :actor
