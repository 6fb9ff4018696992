-- Rotates a live refresh token: marks it used and adds the next one to its session,
-- whose idle clock and expiry move on. The session must be live (not revoked, not
-- idle past the limit, not expired) and its user active. `rotated_at IS NULL` in the
-- WHERE lets exactly one of two concurrent refreshes win. The role is read from the
-- user row, so a promotion or demotion lands here. A SMART grant's refresh tokens are
-- the OAuth token endpoint's (`client_id` set): refused here.
WITH old AS (
    UPDATE refresh_tokens t SET rotated_at = now()
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE t.token_hash = :presented AND t.rotated_at IS NULL AND t.expires_at > now()
      AND s.id = t.family_id AND s.client_id IS NULL AND s.revoked_at IS NULL AND s.expires_at > now()
      AND s.last_used_at > now() - make_interval(mins => :idle_minutes) AND u.status = 'active'
    RETURNING t.family_id, t.user_id
), touched AS (
    UPDATE sessions SET last_used_at = now(), expires_at = :expires_at
    WHERE id IN (SELECT family_id FROM old)
), next AS (
    INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)
    SELECT family_id, user_id, :next_hash, :expires_at FROM old
)
SELECT u.id, u.name, u.email, u.role, u.created_at, u.email_verified, u.mfa_secret IS NOT NULL AS mfa_enabled,
       u.status, old.family_id AS session_id
FROM old JOIN users u ON u.id = old.user_id
