-- Exchanges a code: unused, unexpired, for this client, redirect URI and PKCE
-- challenge. The row is locked, so of two concurrent exchanges one wins and the other
-- sees it used. A code used before is a replay: the grant it started is revoked.
WITH code AS (
    SELECT * FROM oauth_codes WHERE code_hash = :code_hash FOR UPDATE
), redeemed AS (
    UPDATE oauth_codes c SET used_at = now(), session_id = :session_id
    FROM code
    WHERE c.code_hash = code.code_hash AND code.used_at IS NULL AND code.expires_at > now()
      AND code.client_id = :client_id AND code.redirect_uri = :redirect_uri AND code.code_challenge = :code_challenge
    RETURNING c.user_id, c.scope, c.patient_id, c.fhir_user, c.nonce
), replayed AS (
    UPDATE sessions s SET revoked_at = now()
    FROM code
    WHERE code.used_at IS NOT NULL AND s.id = code.session_id AND s.revoked_at IS NULL
    RETURNING s.id
), session AS (
    SELECT start_grant(:session_id, r.user_id, :session_token_hash, :session_expires_at, :client_id, r.scope,
                       r.patient_id, r.fhir_user) AS id
    FROM redeemed r JOIN users u ON u.id = r.user_id AND u.status = 'active'
)
SELECT r.user_id, r.scope, r.patient_id, r.fhir_user, r.nonce, u.role, (SELECT id FROM session) AS session_id,
       (SELECT count(*) FROM replayed) AS revoked
FROM (SELECT) AS one
LEFT JOIN redeemed r ON true
LEFT JOIN users u ON u.id = r.user_id
