-- A worker lets go of its job: `done` (finished), `running` (stopped at its deadline or
-- after a failure: the next worker started picks it up), `refused` (the requester's
-- access ended) or `failed` (failed again and again), with why in words. Only while it
-- holds the lease; no row: another worker has the job, or it was cancelled.
UPDATE export_jobs
SET state = :state, failure = :failure, lease = NULL, lease_until = NULL,
    completed_at = CASE WHEN :state = 'done' THEN now() END
WHERE id = :job AND lease = :lease
RETURNING id
