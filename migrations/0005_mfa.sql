-- TOTP multi-factor sign-in: the secret lives on `users` (encrypted, 0003); here the
-- single-use recovery codes and the short-lived challenges of the two-step login.

-- SHA-256 of each recovery code; a used one stays, marked, until MFA is turned off.
CREATE TABLE mfa_recovery_codes (
  user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  code_hash bytea NOT NULL,
  used_at   timestamptz,
  PRIMARY KEY (user_id, code_hash)
);

-- A correct password for an account with MFA opens a challenge: its `mfa_token` (only
-- its SHA-256 here) buys one attempt at a code, up to 5 wrong ones, for 5 minutes.
CREATE TABLE mfa_challenges (
  token_hash bytea PRIMARY KEY,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  failures   integer NOT NULL DEFAULT 0,
  spent_at   timestamptz
);
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id);
