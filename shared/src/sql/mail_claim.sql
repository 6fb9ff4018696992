-- Claims up to :batch messages that are due, still worth sending and held by no other
-- sender, for :claim_seconds, counting the attempt. SKIP LOCKED and the claim together
-- mean two retry runs at once never claim the same message: the second skips rows the
-- first has locked, and a row the first has claimed since fails `claimed_until` when
-- the second re-checks it.
WITH due AS (
    SELECT id FROM mail_outbox
    WHERE next_attempt_at <= now() AND discard_after > now() AND (claimed_until IS NULL OR claimed_until <= now())
    ORDER BY next_attempt_at
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
)
UPDATE mail_outbox m
SET claimed_until = now() + make_interval(secs => :claim_seconds::int4), attempts = m.attempts + 1
FROM due WHERE m.id = due.id
RETURNING m.id, m.recipient, m.subject, m.body, m.sealed, m.attempts
