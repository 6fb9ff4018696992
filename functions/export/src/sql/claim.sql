-- A worker takes a job: one queued, or running under a lease that lapsed (its worker
-- died, or stopped at its deadline), with a fresh lease of its own; answers the job as
-- the worker needs it. No row: the job is done, cancelled or another worker's.
UPDATE export_jobs
SET state = 'running', lease = :lease, lease_until = now() + :lease_seconds::integer * interval '1 second',
    attempts = attempts + 1
WHERE id = :job AND state IN ('queued', 'running') AND (lease_until IS NULL OR lease_until < now())
RETURNING id, user_id, role, client_id, app_organization, app_patient, backend_organization, organization_id,
          types, since, phase, cursor, files, attempts
