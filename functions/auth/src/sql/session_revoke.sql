-- Revokes one of the acting user's live sessions (another user's is "no row", a 404).
WITH revoked AS (
    UPDATE sessions SET revoked_at = now()
    WHERE id = :id AND user_id = :actor AND revoked_at IS NULL AND expires_at > now()
    RETURNING id
)
SELECT id FROM revoked
