-- Whether the caller may break the glass on the patient (`emergency_access_standing`,
-- migrations/0009), and what a fresh re-authentication is checked against: the
-- caller's password hash and, with MFA on, the sealed secret and its last spent step.
SELECT emergency_access_standing(:actor, :id) AS standing, u.name, u.password_hash, u.mfa_secret, u.mfa_last_step
FROM users u
WHERE u.id = :actor
