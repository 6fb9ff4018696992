-- Spends a verification token: the address it was sent to is verified, if it is
-- still the account's address.
WITH spent AS (
    UPDATE email_tokens SET used_at = now()
    WHERE token_hash = :token_hash AND purpose = 'verify' AND used_at IS NULL AND expires_at > now()
    RETURNING user_id, email
), verified AS (
    UPDATE users u SET email_verified = true, updated_at = now()
    FROM spent WHERE u.id = spent.user_id AND u.email = spent.email
    RETURNING u.id
)
SELECT id FROM verified
