-- One batch of a bulk export's patients: those the requester reaches (`reach`, below the
-- cursor, at most a batch), newest first, each with its doctors and how it was reached;
-- no notes. Every row - and the one row there is when the batch is empty - says whether
-- the worker still holds the job (its lease, renewed here) and whether a Group export's
-- requester may still export the organization.
WITH held AS (
    UPDATE export_jobs SET lease_until = now() + :lease_seconds::integer * interval '1 second'
    WHERE id = :job AND lease = :lease
    RETURNING id
), batch AS (
    SELECT r.id, r.owner_id, r.organization_id, r.name, r.date_of_birth, r.gender, r.phone, r.email, r.address,
           r.created_at, r.updated_at, r.version, r.restricted, r.identifiers, r.access,
           ARRAY(SELECT m.doctor_id FROM mappings m WHERE m.patient_id = r.id ORDER BY m.id DESC) AS practitioners
    FROM reach r
    WHERE :reach_after::uuid IS NULL OR r.id < :reach_after
    ORDER BY r.id DESC
    LIMIT :batch
)
SELECT b.id, b.owner_id, b.organization_id, b.name, b.date_of_birth, b.gender, b.phone, b.email, b.address,
       NULL::text AS notes, b.created_at, b.updated_at, b.version, b.restricted, false AS reads_notes, b.identifiers,
       b.access, b.practitioners, EXISTS (SELECT 1 FROM held) AS held,
       export_group_allowed(:actor, :group, :backend_organization) AS allowed
FROM (SELECT) AS standing LEFT JOIN batch b ON true
ORDER BY b.id DESC
