-- One user (never the password hash).
WITH found AS (
    SELECT id, name, email, role, created_at, email_verified, mfa_secret IS NOT NULL AS mfa_enabled, status
    FROM users WHERE id = :id
)
SELECT * FROM found
