-- A new user and their first session, committed together. ON CONFLICT turns a
-- duplicate email - including one from a registration racing this one - into "no
-- row", never into a half-made account.
WITH new_user AS (
    INSERT INTO users (name, email, password_hash) VALUES (:name, :email, :password_hash)
    ON CONFLICT (email) DO NOTHING
    RETURNING id, name, email, role, created_at
), session AS (
    INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)
    SELECT uuid_v7(), id, :token_hash, :expires_at FROM new_user
)
SELECT * FROM new_user
