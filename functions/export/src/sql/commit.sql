-- A bulk export's progress, committed by the worker holding the lease: the cursor past
-- the rows walked, the file they went into (if one), the doctors they are assigned to
-- (the Practitioner phase exports those), and - in the audit CTE composed after these -
-- one `patient.export` event per patient in the file. All of it or, for a worker whose
-- lease was taken over or whose job was cancelled, none (`committed` false).
WITH job AS (
    UPDATE export_jobs
    SET phase = :phase, cursor = :cursor, files = files + (:key::text IS NOT NULL)::integer,
        exported = exported + :count::integer, attempts = 0, lease_until = now() + :lease_seconds::integer * interval '1 second'
    WHERE id = :job AND lease = :lease
    RETURNING id
), file AS (
    INSERT INTO export_files (job_id, seq, type, key, count, bytes)
    SELECT id, :seq, :type, :key, :count, :bytes FROM job WHERE :key::text IS NOT NULL
    RETURNING seq
), doctors AS (
    INSERT INTO export_practitioners (job_id, doctor_id)
    SELECT job.id, d.id FROM job CROSS JOIN unnest(:doctors::uuid[]) AS d (id)
    ON CONFLICT DO NOTHING
    RETURNING doctor_id
), exported AS (
    SELECT e.id, e.access, e.organization_id
    FROM unnest(:patients::uuid[], :accesses::text[], :organizations::uuid[]) AS e (id, access, organization_id)
    WHERE EXISTS (SELECT 1 FROM job)
)
SELECT EXISTS (SELECT 1 FROM job) AS committed
