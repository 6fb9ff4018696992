-- A message did not go out: the claim is released and the next attempt waits 2^attempts
-- minutes (2, 4, 8 ... capped at an hour), so a long SES outage is not hammered.
UPDATE mail_outbox
SET claimed_until = NULL, last_error = :error,
    next_attempt_at = now() + make_interval(secs => least(60 * power(2, attempts), 3600))
WHERE id = :id
