-- Removes what is past its window and can no longer be used, and nothing else:
-- sessions revoked, expired, or unused for 30 days (their refresh tokens go with them);
-- refresh tokens past their expiry; email tokens used or expired; login failures older
-- than the throttling window; MFA challenges spent or expired; queued emails whose link
-- has expired, unless a sender holds them; authorization codes a day past their
-- expiry (kept that long so a late second use still revokes what the first issued);
-- client-assertion ids past their assertion's `exp`; bulk exports a day old (their files
-- expire in S3 with them: the bucket's lifecycle rule). Audit events are never pruned here.
WITH sessions_gone AS (
    DELETE FROM sessions
    WHERE revoked_at IS NOT NULL OR expires_at <= now() OR last_used_at <= now() - interval '30 days'
    RETURNING id
), refresh_tokens_gone AS (
    DELETE FROM refresh_tokens WHERE expires_at <= now() AND family_id NOT IN (SELECT id FROM sessions_gone)
    RETURNING id
), email_tokens_gone AS (
    DELETE FROM email_tokens WHERE used_at IS NOT NULL OR expires_at <= now()
    RETURNING token_hash
), login_failures_gone AS (
    DELETE FROM login_failures WHERE failed_at <= now() - make_interval(mins => :window_minutes)
    RETURNING failed_at
), challenges_gone AS (
    DELETE FROM mfa_challenges WHERE spent_at IS NOT NULL OR expires_at <= now()
    RETURNING token_hash
), codes_gone AS (
    DELETE FROM oauth_codes WHERE expires_at <= now() - interval '1 day'
    RETURNING code_hash
), assertions_gone AS (
    DELETE FROM oauth_assertions WHERE expires_at <= now()
    RETURNING jti
), exports_gone AS (
    DELETE FROM export_jobs WHERE transaction_time <= now() - interval '1 day'
    RETURNING id
), mail_gone AS (
    DELETE FROM mail_outbox WHERE discard_after <= now() AND (claimed_until IS NULL OR claimed_until <= now())
    RETURNING id
)
SELECT (SELECT count(*) FROM sessions_gone) AS sessions,
       (SELECT count(*) FROM refresh_tokens_gone) AS refresh_tokens,
       (SELECT count(*) FROM email_tokens_gone) AS email_tokens,
       (SELECT count(*) FROM login_failures_gone) AS login_failures,
       (SELECT count(*) FROM challenges_gone) AS mfa_challenges,
       (SELECT count(*) FROM codes_gone) AS oauth_codes,
       (SELECT count(*) FROM assertions_gone) AS oauth_assertions,
       (SELECT count(*) FROM exports_gone) AS exports,
       (SELECT count(*) FROM mail_gone) AS mail_discarded
