-- A correct password: the email's failures are forgotten and a session (a new
-- refresh-token family) starts.
WITH cleared AS (
    DELETE FROM login_failures WHERE email_hash = :email_hash
), session AS (
    INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)
    VALUES (uuid_v7(), :user_id, :token_hash, :expires_at)
)
SELECT true AS signed_in
