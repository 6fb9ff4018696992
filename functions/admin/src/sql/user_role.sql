-- Sets a user's role. Demoting the last admin is refused, also when two admins demote
-- each other at once: the statement locks every admin row (FOR UPDATE) before counting,
-- so the second demotion waits for the first, then counts one admin and stops.
-- Selecting the admin count takes the locks even when the UPDATE's WHERE would not.
-- `settled` has a row when the user now has the role asked for (changed, or had it).
WITH admins AS (
    SELECT id FROM users WHERE role = 'admin' FOR UPDATE
), target AS (
    SELECT id, name, email, role, created_at, email_verified, mfa_secret IS NOT NULL AS mfa_enabled, status
    FROM users WHERE id = :id
), changed AS (
    UPDATE users SET role = :role, updated_at = now()
    WHERE id = :id AND role <> :role AND (:role = 'admin' OR (SELECT count(*) FROM admins) > 1)
    RETURNING id
), settled AS (
    SELECT id FROM changed UNION ALL SELECT id FROM target WHERE role = :role
)
SELECT t.id, t.name, t.email, t.created_at, t.email_verified, t.mfa_enabled, t.status, t.role AS previous_role,
       CASE WHEN EXISTS (SELECT 1 FROM changed) THEN :role ELSE t.role END AS role,
       (SELECT count(*) FROM admins) AS admins
FROM target t
