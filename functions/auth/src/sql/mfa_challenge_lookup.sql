-- A live challenge (not spent, not expired, attempts left) and what checking its code
-- needs: the user's sealed secret and last accepted step, whether a recovery code is
-- theirs and unused, and whether the email is throttled.
SELECT u.id, u.name, u.email, u.role, u.created_at, u.email_verified, u.mfa_secret IS NOT NULL AS mfa_enabled,
       u.status, u.mfa_secret, u.mfa_last_step,
       EXISTS (SELECT 1 FROM mfa_recovery_codes r
               WHERE r.user_id = u.id AND r.code_hash = :recovery_hash AND r.used_at IS NULL) AS recovery_ok,
       (SELECT count(*) FROM login_failures f
        WHERE f.email_hash = sha256(convert_to(u.email, 'UTF8'))
          AND f.failed_at > now() - make_interval(mins => :window_minutes)) >= :max_failures::int4 AS throttled
FROM mfa_challenges c JOIN users u ON u.id = c.user_id
WHERE c.token_hash = :token_hash AND c.spent_at IS NULL AND c.expires_at > now() AND c.failures < :max_attempts::int4
  AND u.status = 'active' AND u.mfa_secret IS NOT NULL
