-- Sets a user's status. Disabling oneself, or the last active admin, is refused - also
-- when two admins disable each other at once: every active admin row is locked (FOR
-- UPDATE) before counting, as for roles. Disabling revokes every session of the user;
-- the session guard would refuse them anyway, but revoked they stay ended if the
-- account is enabled again. `settled` has a row when the user now has the status asked
-- for (changed, or had it).
WITH admins AS (
    SELECT id FROM users WHERE role = 'admin' AND status = 'active' FOR UPDATE
), target AS (
    SELECT id, name, email, role, created_at, email_verified, mfa_secret IS NOT NULL AS mfa_enabled, status
    FROM users WHERE id = :id
), changed AS (
    UPDATE users SET status = :status, updated_at = now()
    WHERE id = :id AND status <> :status
      AND (:status = 'active' OR (id <> :actor AND (role <> 'admin' OR (SELECT count(*) FROM admins) > 1)))
    RETURNING id
), revoked AS (
    UPDATE sessions SET revoked_at = now()
    WHERE user_id IN (SELECT id FROM changed) AND :status = 'disabled' AND revoked_at IS NULL
), settled AS (
    SELECT id FROM changed UNION ALL SELECT id FROM target WHERE status = :status
)
SELECT t.id, t.name, t.email, t.role, t.created_at, t.email_verified, t.mfa_enabled, t.status AS previous_status,
       CASE WHEN EXISTS (SELECT 1 FROM changed) THEN :status ELSE t.status END AS status,
       (SELECT count(*) FROM admins) AS admins
FROM target t
