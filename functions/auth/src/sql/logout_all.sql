-- Revokes every session of the acting user, the calling one included.
WITH revoked AS (
    UPDATE sessions SET revoked_at = now()
    WHERE user_id = :actor AND revoked_at IS NULL
    RETURNING id
)
SELECT count(*) AS revoked FROM revoked
