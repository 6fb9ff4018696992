-- Rotates a grant's refresh token, as refresh_rotate.sql does for a first-party
-- session, for this client's grants only: marks it used and adds the next one; the
-- grant's idle clock moves on. The grant must be live, its user active, its app
-- registered and, for an app of an organization, its user still standing in it
-- (`app_admits`, migrations/0011).
WITH old AS (
    UPDATE refresh_tokens t SET rotated_at = now()
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE t.token_hash = :presented AND t.rotated_at IS NULL AND t.expires_at > now()
      AND s.id = t.family_id AND s.client_id = :client_id AND s.revoked_at IS NULL AND s.expires_at > now()
      AND s.last_used_at > now() - make_interval(mins => :idle_minutes) AND u.status = 'active'
      AND app_admits(s.client_id, u.id)
    RETURNING t.family_id, t.user_id
), touched AS (
    UPDATE sessions SET last_used_at = now(), expires_at = :expires_at
    WHERE id IN (SELECT family_id FROM old)
), next AS (
    INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)
    SELECT family_id, user_id, :next_hash, :expires_at FROM old
)
SELECT s.id AS session_id, s.user_id, s.scope, s.patient_id, s.fhir_user, u.role
FROM old JOIN sessions s ON s.id = old.family_id JOIN users u ON u.id = old.user_id
