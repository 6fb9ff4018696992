-- SMART on FHIR (Part 4): registered apps, the authorization codes and client-assertion
-- ids of the OAuth flows, and grants as sessions.
--
-- A grant is a session row with the app's `client_id`, the scopes granted and the
-- launch patient, so everything Part 2 does to sessions applies to it unchanged: it is
-- listed, revocable, logged off when idle, refused once its user is disabled. The one
-- session check every statement runs (`require_live_session`) also refuses a grant whose
-- app is gone, or whose user is no longer a member of the app's organization, so
-- deleting either stops its tokens on the next request.

-- `id` is the OAuth `client_id`. An app of no organization is an admin's.
CREATE TABLE oauth_apps (
  id              uuid PRIMARY KEY DEFAULT uuid_v7(),
  organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
  -- A backend app's tokens act with this user's reach, inside the app's organization
  -- (docs/API.md, "Connecting an app"); the app goes when they do.
  created_by      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  redirect_uris   text[] NOT NULL,
  confidential    boolean NOT NULL,
  backend         boolean NOT NULL CHECK (NOT backend OR confidential),
  jwks            jsonb,
  jwks_uri        text,
  CHECK (confidential = (jwks IS NOT NULL OR jwks_uri IS NOT NULL)),
  -- The most it may be granted, space-separated as OAuth writes scopes.
  scopes          text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_apps_organization_idx ON oauth_apps (organization_id, id DESC);
CREATE INDEX oauth_apps_created_by_idx ON oauth_apps (created_by);

ALTER TABLE sessions
  ADD COLUMN client_id uuid REFERENCES oauth_apps (id) ON DELETE CASCADE,
  ADD COLUMN scope text,
  -- The launch patient: a `patient/` scope reaches this patient only. Deleting the
  -- patient ends the grant rather than widening it.
  ADD COLUMN patient_id uuid REFERENCES patients (id) ON DELETE CASCADE,
  -- The user as a FHIR resource (`Practitioner/<id>`, `Patient/<id>`), when `fhirUser`
  -- was granted.
  ADD COLUMN fhir_user text;
CREATE INDEX sessions_client_idx ON sessions (client_id) WHERE client_id IS NOT NULL;
CREATE INDEX sessions_patient_idx ON sessions (patient_id) WHERE patient_id IS NOT NULL;

-- An authorization code, by its hash. Single use: `used_at` is set by the exchange, and
-- the session it started is kept so that a second use can revoke it.
CREATE TABLE oauth_codes (
  code_hash      bytea PRIMARY KEY,
  client_id      uuid NOT NULL REFERENCES oauth_apps (id) ON DELETE CASCADE,
  user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  redirect_uri   text NOT NULL,
  scope          text NOT NULL,
  patient_id     uuid REFERENCES patients (id) ON DELETE CASCADE,
  code_challenge text NOT NULL,
  fhir_user      text,
  nonce          text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL,
  used_at        timestamptz,
  session_id     uuid REFERENCES sessions (id) ON DELETE SET NULL
);

-- Client assertions seen, so none is accepted twice (`jti` per client). A row outlives
-- its assertion's `exp`, past which the assertion is refused anyway; `ops prune`
-- removes it then.
CREATE TABLE oauth_assertions (
  client_id  uuid NOT NULL REFERENCES oauth_apps (id) ON DELETE CASCADE,
  jti        text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (client_id, jti)
);

ALTER TABLE audit_events ADD COLUMN client_id uuid;

-- Part 2's check, now also for grants: the app still registered and, for an app of an
-- organization, the user still a member of it.
CREATE OR REPLACE FUNCTION require_live_session(session uuid, actor uuid, idle_minutes integer)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM 1
  FROM sessions s JOIN users u ON u.id = s.user_id
  WHERE s.id = session AND s.user_id = actor AND s.revoked_at IS NULL AND s.expires_at > now()
    AND s.last_used_at > now() - make_interval(mins => idle_minutes) AND u.status = 'active'
    AND (s.client_id IS NULL OR EXISTS (
      SELECT 1 FROM oauth_apps a
      WHERE a.id = s.client_id
        AND (a.organization_id IS NULL
             OR EXISTS (SELECT 1 FROM memberships m WHERE m.organization_id = a.organization_id AND m.user_id = actor))));
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the session has ended' USING ERRCODE = 'HC401';
  END IF;
  RETURN true;
END
$$;

-- A grant starts like a session (`start_session`), with its id chosen by the caller
-- (the code exchange records it on the code in the same statement), its app, scopes,
-- launch patient and FHIR user.
CREATE FUNCTION start_grant(session uuid, user_id uuid, token_hash bytea, expires_at timestamptz, client uuid,
                            scope text, patient uuid, fhir_user text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  INSERT INTO sessions (id, user_id, expires_at, client_id, scope, patient_id, fhir_user)
  VALUES (session, start_grant.user_id, start_grant.expires_at, client, start_grant.scope, patient,
          start_grant.fhir_user);
  INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)
  VALUES (session, start_grant.user_id, start_grant.token_hash, start_grant.expires_at);
  RETURN session;
END
$$;
