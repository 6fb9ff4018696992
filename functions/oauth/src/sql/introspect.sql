-- The grant behind an access token, if still live (the same conditions as the
-- session check), for introspection.
SELECT s.id, s.client_id, s.scope, s.patient_id, s.fhir_user, s.user_id
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = :session_id AND s.user_id = :user_id AND s.client_id = :client_id AND s.revoked_at IS NULL
  AND s.expires_at > now() AND s.last_used_at > now() - make_interval(mins => :idle_minutes) AND u.status = 'active'
  AND app_admits(s.client_id, u.id)
