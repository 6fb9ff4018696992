-- Sets a user's role or status (:field is 'role' or 'status', :value what it becomes).
-- Refused: demoting the last admin, disabling the last active admin, disabling oneself -
-- also when two admins act on each other at once: every admin row is locked (FOR
-- UPDATE) before counting, so the second change waits for the first, then counts again
-- and stops. Selecting the count in the answer takes the locks even when the UPDATE's
-- WHERE would not. Disabling revokes every session of the user; the session guard would
-- refuse them anyway, but revoked they stay ended if the account is enabled again.
-- `settled` has a row when the user now has the value asked for (changed, or had it).
WITH admins AS (
    SELECT id, status FROM users WHERE role = 'admin' FOR UPDATE
), target AS (
    SELECT id, name, email, role, created_at, email_verified, mfa_secret IS NOT NULL AS mfa_enabled, status,
           CASE :field WHEN 'role' THEN role ELSE status END AS previous
    FROM users WHERE id = :id
), changed AS (
    UPDATE users u
    SET role = CASE :field WHEN 'role' THEN :value ELSE u.role END,
        status = CASE :field WHEN 'status' THEN :value ELSE u.status END,
        updated_at = now()
    FROM target t
    WHERE u.id = t.id AND t.previous <> :value AND CASE :field
        WHEN 'role' THEN :value = 'admin' OR (SELECT count(*) FROM admins) > 1
        ELSE :value = 'active' OR (u.id <> :actor AND (u.role <> 'admin'
            OR (SELECT count(*) FROM admins WHERE status = 'active') > 1))
    END
    RETURNING u.id
), revoked AS (
    UPDATE sessions SET revoked_at = now()
    WHERE user_id IN (SELECT id FROM changed) AND :field = 'status' AND :value = 'disabled' AND revoked_at IS NULL
), settled AS (
    SELECT id FROM changed UNION ALL SELECT id FROM target WHERE previous = :value
)
SELECT t.id, t.name, t.email, t.created_at, t.email_verified, t.mfa_enabled, t.previous,
       CASE WHEN :field = 'role' AND EXISTS (SELECT 1 FROM changed) THEN :value ELSE t.role END AS role,
       CASE WHEN :field = 'status' AND EXISTS (SELECT 1 FROM changed) THEN :value ELSE t.status END AS status,
       (SELECT count(*) FROM admins) AS admins
FROM target t
