-- A bulk export's status, for the user and app that started it (anyone else: no row,
-- 404), while a Group export's requester may still export the organization (`allowed`).
-- A poll sooner than :poll_seconds after the last one finds `polled` false while the job
-- runs (429); one that finds no live worker :restart_seconds after the job was last
-- handed out hands it out again (`restart`: its worker died, or never started).
WITH job AS (
    SELECT j.id, j.state, j.failure, j.transaction_time, j.request, j.phase, j.exported, j.polled_at,
           j.organization_id
    FROM export_jobs j
    WHERE j.id = :job AND j.user_id = :actor AND j.client_id IS NOT DISTINCT FROM :app_client
), polled AS (
    UPDATE export_jobs j
    SET polled_at = now(),
        dispatched_at = CASE
            WHEN (j.lease_until IS NULL OR j.lease_until < now())
                 AND j.dispatched_at < now() - :restart_seconds::integer * interval '1 second' THEN now()
            ELSE j.dispatched_at END
    FROM job
    WHERE j.id = job.id AND job.state IN ('queued', 'running')
      AND (job.polled_at IS NULL OR job.polled_at < now() - :poll_seconds::integer * interval '1 second')
    RETURNING j.dispatched_at = now() AS restart
)
SELECT job.state, job.failure, job.transaction_time, job.request, job.phase, job.exported,
       EXISTS (SELECT 1 FROM polled) AS polled, COALESCE((SELECT restart FROM polled), false) AS restart,
       export_group_allowed(:actor, job.organization_id, :backend_organization) AS allowed,
       COALESCE((SELECT jsonb_agg(jsonb_build_object('seq', f.seq, 'type', f.type, 'count', f.count) ORDER BY f.seq)
                 FROM export_files f WHERE f.job_id = job.id AND job.state = 'done'), '[]'::jsonb) AS output
FROM job
