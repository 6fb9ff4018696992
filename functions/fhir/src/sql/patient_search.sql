-- One page of the patients the principal reaches that match every given parameter,
-- newest first, each with its doctors (most recently assigned first). No notes.
WITH page AS (
    SELECT p.id, p.owner_id, p.organization_id, p.name, p.date_of_birth, p.gender, p.phone, p.email, p.address,
           NULL::text AS notes, p.created_at, p.updated_at, p.version, false AS reads_notes
    FROM reach JOIN patients p ON p.id = reach.patient_id
    WHERE (:after::uuid IS NULL OR p.id < :after)
      AND (:name::text IS NULL OR p.name ILIKE :name)
      AND (:birthdate::date IS NULL OR p.date_of_birth = :birthdate)
      AND (:gender::text IS NULL OR p.gender = :gender)
    ORDER BY p.id DESC
    LIMIT :fetch
)
SELECT page.*,
       ARRAY(SELECT doctor_id FROM mappings WHERE patient_id = page.id ORDER BY id DESC)
           AS practitioners
FROM page
ORDER BY id DESC
