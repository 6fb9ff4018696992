-- One file of a finished bulk export, for the user and app that started it (`found`),
-- while a Group export's requester may still export the organization (`permitted`).
WITH found AS (
    SELECT f.key, export_group_allowed(:actor, j.organization_id, :backend_organization) AS allowed
    FROM export_jobs j JOIN export_files f ON f.job_id = j.id
    WHERE j.id = :job AND j.user_id = :actor AND j.client_id IS NOT DISTINCT FROM :app_client
      AND j.state = 'done' AND f.seq = :seq
), permitted AS (
    SELECT key FROM found WHERE allowed
)
SELECT key, allowed FROM found
