-- Cancelling a bulk export, for the user and app that started it: the job goes, and its
-- rows with it; the keys of its committed files are answered, for their objects to go.
WITH job AS (
    SELECT j.id FROM export_jobs j
    WHERE j.id = :job AND j.user_id = :actor AND j.client_id IS NOT DISTINCT FROM :app_client
), files AS (
    SELECT f.key FROM export_files f JOIN job ON f.job_id = job.id
), cancelled AS (
    DELETE FROM export_jobs j USING job WHERE j.id = job.id RETURNING j.id
)
SELECT (SELECT id FROM cancelled) AS id, ARRAY(SELECT key FROM files) AS keys
