-- Revokes the presented token's whole family (nothing, for an unknown token).
WITH family AS (
    SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = :presented
), revoked AS (
    UPDATE refresh_tokens SET revoked_at = now()
    WHERE family_id IN (SELECT family_id FROM family) AND revoked_at IS NULL
)
SELECT true AS signed_out
