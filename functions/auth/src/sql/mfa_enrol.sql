-- Starts (or restarts) TOTP enrolment: the new secret waits, sealed, until a code
-- confirms it. No row: MFA is on already.
UPDATE users SET mfa_pending_secret = :sealed, updated_at = now()
WHERE id = :actor AND mfa_secret IS NULL
RETURNING email
