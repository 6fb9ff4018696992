-- One page of the patients the principal reaches, newest first. `owner_filter` is set
-- only for principals who see every owner's patients.
WITH page AS (
    SELECT p.id, p.owner_id, p.organization_id, p.name, p.date_of_birth, p.gender, p.phone, p.email, p.address,
           CASE WHEN reach.reads_notes THEN p.notes END AS notes, p.created_at, p.updated_at, p.version,
           reach.reads_notes
    FROM reach JOIN patients p ON p.id = reach.patient_id
    WHERE (:owner_filter::uuid IS NULL OR p.owner_id = :owner_filter)
      AND (:after::uuid IS NULL OR p.id < :after)
      AND (:name::text IS NULL OR p.name ILIKE :name)
    ORDER BY p.id DESC
    LIMIT :fetch
)
SELECT * FROM page ORDER BY id DESC
