-- Sessions that end at once, accounts that can be disabled, and login throttling that
-- concurrent attempts cannot outrun.

ALTER TABLE users
  ADD COLUMN status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  -- Set when the user proves the mailbox (a verification or reset link).
  ADD COLUMN email_verified boolean NOT NULL DEFAULT false,
  -- TOTP: the confirmed secret and an enrolment's pending one, each encrypted
  -- (AES-256-GCM: key id, nonce, ciphertext); the last accepted time step, so a code is
  -- accepted once.
  ADD COLUMN mfa_secret bytea,
  ADD COLUMN mfa_pending_secret bytea,
  ADD COLUMN mfa_last_step bigint;

-- A session is a refresh-token family: it starts at login (or register, reset, password
-- change) and ends when revoked, when unused for the idle limit, or at `expires_at`.
-- Access tokens name it (claim `sid`), and every authenticated statement checks it is
-- still live (`require_live_session`), so revocation takes effect on the next request.
CREATE TABLE sessions (
  id           uuid PRIMARY KEY DEFAULT uuid_v7(),
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  -- Moves on refresh and on authenticated requests, at most once a minute.
  last_used_at timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  revoked_at   timestamptz
);
CREATE INDEX sessions_user_idx ON sessions (user_id, id DESC);

-- Every existing family becomes a session; revocation now lives on the session.
INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at)
SELECT family_id, user_id, min(created_at), max(coalesce(rotated_at, created_at)), max(expires_at),
       max(revoked_at)
FROM refresh_tokens
GROUP BY family_id, user_id;
ALTER TABLE refresh_tokens
  ADD CONSTRAINT refresh_tokens_session_fkey FOREIGN KEY (family_id) REFERENCES sessions (id) ON DELETE CASCADE,
  DROP COLUMN revoked_at;

-- Raises SQLSTATE HC401 (this project's own; PostgreSQL uses no class HC), which the
-- API answers with 401, unless the session is live and its user active. STABLE: it
-- reads the calling statement's snapshot, so what that statement itself changes (a
-- logout-all revoking this very session) does not refuse it halfway.
CREATE FUNCTION require_live_session(session uuid, actor uuid, idle_minutes integer)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM 1
  FROM sessions s JOIN users u ON u.id = s.user_id
  WHERE s.id = session AND s.user_id = actor AND s.revoked_at IS NULL AND s.expires_at > now()
    AND s.last_used_at > now() - make_interval(mins => idle_minutes) AND u.status = 'active';
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the session has ended' USING ERRCODE = 'HC401';
  END IF;
  RETURN true;
END
$$;

-- Every authenticated statement calls require_live_session where it is sure to run:
-- in the WHERE of its audit event's one-row INSERT, or, without one, in a guard CTE
-- that inserts here:
--   session_guard AS (INSERT INTO session_guard SELECT true WHERE NOT require_live_session(...))
-- A data-modifying CTE always runs to completion, so its source - the check - is always
-- evaluated, whatever the rest of the statement reads; the check raises rather than
-- answering false, so no row is ever written here and a dead session's statement
-- changes nothing at all.
CREATE TABLE session_guard (never_written boolean);

-- Records a failed login for an email unless it already has `max_failures` within
-- `window_minutes`, and says whether it did. The advisory lock serialises the count and
-- the insert per email, and each query in a function takes a fresh snapshot, so
-- concurrent wrong passwords are counted one after another: at most `max_failures` are
-- recorded (and answered 401) per window. Correct logins never come here.
CREATE FUNCTION record_login_failure(email_hash bytea, max_failures integer, window_minutes integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  recent integer;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(encode(email_hash, 'hex'), 7261));
  DELETE FROM login_failures f
  WHERE f.email_hash = record_login_failure.email_hash
    AND f.failed_at <= now() - make_interval(mins => window_minutes);
  SELECT count(*) INTO recent FROM login_failures f WHERE f.email_hash = record_login_failure.email_hash;
  IF recent >= max_failures THEN
    RETURN false;
  END IF;
  INSERT INTO login_failures (email_hash) VALUES (record_login_failure.email_hash);
  RETURN true;
END
$$;
