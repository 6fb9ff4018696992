-- Who may hold a grant of an organization's app, in one place: a member of the
-- organization, or the portal user of one of its patients (a clinic's patient-facing
-- app is the commonest SMART app there is). 0010 asked for a membership in four
-- statements; a portal user could sign in on the page and then hold a token that every
-- request refused. `require_live_session`, the token endpoint's refresh and
-- introspection now all ask this. A backend app acts as the owner who registered it, so
-- it stays with the membership alone. An admin's app (no organization) admits anyone.
CREATE FUNCTION app_admits(app uuid, actor uuid)
RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (
    SELECT 1 FROM oauth_apps a
    WHERE a.id = app
      AND (a.organization_id IS NULL
           OR EXISTS (SELECT 1 FROM memberships m WHERE m.organization_id = a.organization_id AND m.user_id = actor)
           OR (NOT a.backend AND EXISTS (SELECT 1 FROM patients p
                                         WHERE p.organization_id = a.organization_id AND p.portal_user_id = actor))))
$$;

CREATE OR REPLACE FUNCTION require_live_session(session uuid, actor uuid, idle_minutes integer)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM 1
  FROM sessions s JOIN users u ON u.id = s.user_id
  WHERE s.id = session AND s.user_id = actor AND s.revoked_at IS NULL AND s.expires_at > now()
    AND s.last_used_at > now() - make_interval(mins => idle_minutes) AND u.status = 'active'
    AND (s.client_id IS NULL OR app_admits(s.client_id, actor));
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the session has ended' USING ERRCODE = 'HC401';
  END IF;
  RETURN true;
END
$$;
