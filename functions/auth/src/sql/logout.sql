-- Revokes the presented refresh token's session (nothing, for an unknown token).
WITH family AS (
    SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = :presented
), revoked AS (
    UPDATE sessions SET revoked_at = now()
    WHERE id IN (SELECT family_id FROM family) AND revoked_at IS NULL
)
SELECT true AS signed_out
