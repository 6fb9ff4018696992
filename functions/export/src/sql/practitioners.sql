-- One batch of a bulk export's doctors: those assigned to the patients it walked
-- (`export_practitioners`), below the cursor, newest first, as the directory has them
-- now (a doctor deleted since: its id alone, which is skipped). Every row - and the one
-- row there is when the batch is empty - says whether the worker still holds the job
-- (its lease, renewed here) and whether a Group export's requester may still export the
-- organization.
WITH held AS (
    UPDATE export_jobs SET lease_until = now() + :lease_seconds::integer * interval '1 second'
    WHERE id = :job AND lease = :lease
    RETURNING id
), batch AS (
    SELECT e.doctor_id, d.id, d.name, d.specialization, d.email, d.phone, d.license_number, d.user_id,
           d.created_by, d.created_at, d.updated_at, d.version
    FROM export_practitioners e LEFT JOIN doctors d ON d.id = e.doctor_id
    WHERE e.job_id = :job AND (:after::uuid IS NULL OR e.doctor_id < :after)
    ORDER BY e.doctor_id DESC
    LIMIT :batch
)
SELECT b.*, EXISTS (SELECT 1 FROM held) AS held,
       export_group_allowed(:actor, :group, :backend_organization) AS allowed
FROM (SELECT) AS standing LEFT JOIN batch b ON true
ORDER BY b.doctor_id DESC
