-- One page of the patients the principal reaches (`reach` has applied `name`) that match
-- every other given parameter,
-- newest first, each with its doctors (most recently assigned first). No notes.
WITH page AS (
    SELECT r.id, r.owner_id, r.organization_id, r.name, r.date_of_birth, r.gender, r.phone, r.email, r.address,
           NULL::text AS notes, r.created_at, r.updated_at, r.version, r.restricted, false AS reads_notes
    FROM reach r
    WHERE (:after::uuid IS NULL OR r.id < :after)
      AND (:birthdate::date IS NULL OR r.date_of_birth = :birthdate)
      AND (:gender::text IS NULL OR r.gender = :gender)
    ORDER BY r.id DESC
    LIMIT :fetch
)
SELECT page.*,
       ARRAY(SELECT doctor_id FROM mappings WHERE patient_id = page.id ORDER BY id DESC)
           AS practitioners
FROM page
ORDER BY id DESC
