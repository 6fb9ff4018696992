-- Rotates a live refresh token: marks it used and adds the next one to its family.
-- `rotated_at IS NULL` in the WHERE lets exactly one of two concurrent refreshes win.
-- The role is read from the user row, so a promotion or demotion lands here.
WITH old AS (
    UPDATE refresh_tokens SET rotated_at = now()
    WHERE token_hash = :presented AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > now()
    RETURNING family_id, user_id
), next AS (
    INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)
    SELECT family_id, user_id, :next_hash, :expires_at FROM old
)
SELECT u.id, u.name, u.email, u.role, u.created_at FROM old JOIN users u ON u.id = old.user_id
