-- One page of users, newest first; `text` matches name or email, `role` is exact.
WITH page AS (
    SELECT id, name, email, role, created_at, email_verified, mfa_secret IS NOT NULL AS mfa_enabled, status
    FROM users
    WHERE (:after::uuid IS NULL OR id < :after)
      AND (:text::text IS NULL OR name ILIKE :text OR email ILIKE :text)
      AND (:role::text IS NULL OR role = :role)
    ORDER BY id DESC
    LIMIT :fetch
)
SELECT * FROM page ORDER BY id DESC
