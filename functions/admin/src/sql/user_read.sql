-- One user (never the password hash).
WITH found AS (
    SELECT id, name, email, role, created_at FROM users WHERE id = :id
)
SELECT * FROM found
