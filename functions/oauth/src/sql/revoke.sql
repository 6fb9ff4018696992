-- Revokes the grant behind a token of this client: an access token names its session,
-- a refresh token is found by its hash. Nothing found is no error (RFC 7009).
WITH by_refresh AS (
    SELECT family_id AS id FROM refresh_tokens WHERE token_hash = :token_hash
), revoked AS (
    UPDATE sessions s SET revoked_at = now()
    WHERE s.client_id = :client_id AND s.revoked_at IS NULL
      AND (s.id = :session_id OR s.id IN (SELECT id FROM by_refresh))
    RETURNING s.id
)
SELECT count(*) AS revoked FROM revoked
