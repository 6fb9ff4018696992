-- The acting user's account.
SELECT id, name, email, role, created_at FROM users WHERE id = :actor
