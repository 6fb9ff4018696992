-- A refresh token that did not rotate: if it had been rotated before, two parties hold
-- it, so its whole session is revoked.
WITH reused AS (
    SELECT family_id, user_id FROM refresh_tokens
    WHERE token_hash = :presented AND rotated_at IS NOT NULL
), revoked AS (
    UPDATE sessions SET revoked_at = now()
    WHERE id IN (SELECT family_id FROM reused) AND revoked_at IS NULL
)
SELECT true AS checked
