-- A wrong, replayed or unusable code: one attempt of the challenge is gone (all of it
-- after the last), and the failure counts towards the email's login throttling.
WITH attempt AS (
    UPDATE mfa_challenges
    SET failures = failures + 1, spent_at = CASE WHEN failures + 1 >= :max_attempts::int4 THEN now() END
    WHERE token_hash = :token_hash AND spent_at IS NULL
    RETURNING user_id
)
SELECT record_login_failure(:email_hash, :max_failures, :window_minutes) AS recorded
