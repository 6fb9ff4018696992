-- The caller claims a doctor whose email is the caller's own, verified
-- (case-insensitive). Nothing changes otherwise: `caller_verified`, `email_matches` and
-- `holder` tell 403 from 409. Holding a second doctor trips doctors_user_key (409),
-- also when two claims race. Claiming a doctor one already holds changes nothing and
-- answers it.
WITH caller AS (
    SELECT id, email, email_verified FROM users WHERE id = :actor
), target AS (
    SELECT d.id, d.user_id AS holder, d.email IS NOT NULL AND lower(d.email) = lower(caller.email) AS email_matches
    FROM doctors d, caller WHERE d.id = :id
), claimed AS (
    UPDATE doctors d SET user_id = caller.id, version = d.version + 1, updated_at = now()
    FROM target t, caller
    WHERE d.id = t.id AND t.holder IS NULL AND t.email_matches AND caller.email_verified
    RETURNING d.id, d.name, d.specialization, d.email, d.phone, d.license_number, d.user_id, d.created_by,
              d.created_at, d.updated_at, d.version
), answer AS (
    SELECT * FROM claimed
    UNION ALL
    SELECT d.id, d.name, d.specialization, d.email, d.phone, d.license_number, d.user_id, d.created_by,
           d.created_at, d.updated_at, d.version
    FROM doctors d JOIN target t ON t.id = d.id JOIN caller ON caller.id = t.holder
)
SELECT EXISTS (SELECT 1 FROM target) AS found, (SELECT email_verified FROM caller) AS caller_verified,
       COALESCE((SELECT email_matches FROM target), false) AS email_matches,
       (SELECT holder FROM target) AS holder, answer.*
FROM (SELECT) AS one LEFT JOIN answer ON true
