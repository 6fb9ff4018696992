-- Users, their refresh-token families, login throttling, and the append-only audit trail.

-- Time-ordered UUIDs (RFC 9562 v7): the first 48 bits are the Unix time in ms, so ids sort
-- by creation and keyset pagination on `id` walks newest-first without a second key.
-- PostgreSQL 18 has uuidv7() built in; this is for 15-17 (Neon's default is 17).
CREATE FUNCTION uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              placing substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;

CREATE TABLE users (
  id            uuid PRIMARY KEY DEFAULT uuid_v7(),
  name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  -- Stored lower-cased, so the unique constraint is the case-insensitive rule.
  email         text NOT NULL CHECK (email = lower(email) AND char_length(email) <= 254),
  password_hash text NOT NULL,
  role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_email_key UNIQUE (email)
);

-- One row per refresh token ever issued. A login starts a family; each refresh rotates
-- the presented token (rotated_at) and adds the next one to the same family. Presenting
-- a rotated token again is theft: the whole family is revoked.
CREATE TABLE refresh_tokens (
  id          uuid PRIMARY KEY DEFAULT uuid_v7(),
  family_id   uuid NOT NULL,
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- SHA-256 of the token; the token itself is never stored.
  token_hash  bytea NOT NULL CONSTRAINT refresh_tokens_hash_key UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  rotated_at  timestamptz,
  revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

-- Failed logins per email, for throttling across Lambda instances. Keyed by a SHA-256
-- of the lower-cased email so the table holds no address; rows older than the window are
-- pruned whenever a new failure for the same email is recorded.
CREATE TABLE login_failures (
  email_hash bytea NOT NULL,
  failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_email_idx ON login_failures (email_hash, failed_at);

-- Who did what to which record, and how it ended. Ids only: never names, dates of birth,
-- notes or emails. No foreign keys, so events outlive the records they describe.
CREATE TABLE audit_events (
  id            uuid PRIMARY KEY DEFAULT uuid_v7(),
  at            timestamptz NOT NULL DEFAULT now(),
  actor_id      uuid,
  action        text NOT NULL,
  resource_type text NOT NULL,
  resource_id   uuid,
  outcome       text NOT NULL CHECK (outcome IN ('success', 'denied', 'not_found', 'error')),
  request_id    text NOT NULL,
  source_ip     inet
);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id DESC);
CREATE INDEX audit_events_resource_idx ON audit_events (resource_type, resource_id, id DESC);
CREATE INDEX audit_events_action_idx ON audit_events (action, id DESC);

CREATE FUNCTION audit_events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate
  BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
