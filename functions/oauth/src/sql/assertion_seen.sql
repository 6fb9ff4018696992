-- Records a client assertion's `jti` for its client; `fresh` is false when it was
-- seen before (a replay).
WITH seen AS (
    INSERT INTO oauth_assertions (client_id, jti, expires_at) VALUES (:client_id, :jti, :expires_at)
    ON CONFLICT DO NOTHING
    RETURNING jti
)
SELECT EXISTS (SELECT 1 FROM seen) AS fresh
