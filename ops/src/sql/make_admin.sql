-- Gives the user with this email the admin role (a no-op for an admin already).
WITH target AS (
    SELECT id, role FROM users WHERE email = lower(trim(:email))
), promoted AS (
    UPDATE users SET role = 'admin', updated_at = now()
    WHERE id IN (SELECT id FROM target WHERE role <> 'admin')
    RETURNING id
)
SELECT (SELECT role FROM target) AS role, EXISTS (SELECT 1 FROM promoted) AS promoted
