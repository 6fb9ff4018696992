-- The names of these users, where their accounts still exist.
SELECT id, name FROM users WHERE id = ANY (:ids)
