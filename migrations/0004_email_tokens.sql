-- Single-use tokens sent by email: password resets (30 minutes) and email
-- verification (7 days). Only a SHA-256 of each token is kept; the token itself exists
-- only in the email.
CREATE TABLE email_tokens (
  token_hash bytea PRIMARY KEY,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  purpose    text NOT NULL CHECK (purpose IN ('reset', 'verify')),
  -- The address it was sent to: verifying proves this address, not a later one.
  email      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at    timestamptz
);
-- The per-user rate limit (3 a hour) counts by this.
CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose, created_at);
