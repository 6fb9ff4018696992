-- One way to start a session, and email that is never lost.

-- Every sign-in path (register, login, MFA verify, password change, password reset, and
-- later OAuth) starts a session the same way: a new session row, the first refresh
-- token of its family. A statement calls this from a CTE over the row of the user who is
-- signing in - `session AS (SELECT start_session(id, :session_token_hash,
-- :session_expires_at) AS id FROM changed)` - and must read that CTE (a plain SELECT
-- runs only as far as it is read). VOLATILE: it writes, and it must not be inlined.
CREATE FUNCTION start_session(user_id uuid, token_hash bytea, expires_at timestamptz)
RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  session uuid;
BEGIN
  INSERT INTO sessions (user_id, expires_at) VALUES (start_session.user_id, start_session.expires_at)
  RETURNING id INTO session;
  INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)
  VALUES (session, start_session.user_id, start_session.token_hash, start_session.expires_at);
  RETURN session;
END
$$;

-- The transactional outbox: the statement that issues a token (a reset, a verification,
-- later an invitation or an emergency-access alert) queues its email here, so the email
-- exists exactly when the token does. The handler sends it at once; what did not go out
-- is retried by the operator on a schedule. A row is removed once sent.
--
-- The body holds a live link (a token), so it is sealed under the data key when one is
-- configured (`sealed`); only a deployment without DATA_KEY keeps it as plain text.
CREATE TABLE mail_outbox (
  id              uuid PRIMARY KEY DEFAULT uuid_v7(),
  recipient       text NOT NULL,
  subject         text NOT NULL,
  body            bytea NOT NULL,
  sealed          boolean NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  -- When the message stops being worth sending (its link has expired): not sent after.
  discard_after   timestamptz NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  -- A sender (the handler, or one retry run) holds the row until then; no other sends it.
  claimed_until   timestamptz,
  -- The last failure's kind (an SES error code, "timeout"...), never an address or body.
  last_error      text
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at);

-- Queues a message claimed by its caller for `claim_seconds`, so the handler that sends
-- it at once races no retry; the id is what it deletes once sent. Called like
-- start_session, from a CTE the statement reads.
CREATE FUNCTION queue_mail(recipient text, subject text, body bytea, sealed boolean, discard_after timestamptz,
                           claim_seconds integer)
RETURNS uuid
LANGUAGE sql VOLATILE AS $$
  INSERT INTO mail_outbox (recipient, subject, body, sealed, discard_after, attempts, claimed_until)
  VALUES (recipient, subject, body, sealed, discard_after, 1, now() + make_interval(secs => claim_seconds))
  RETURNING id
$$;
