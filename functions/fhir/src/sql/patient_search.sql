-- One page of the patients the principal reaches that match every given parameter,
-- newest first, each with its doctors (most recently assigned first).
WITH page AS (
    SELECT id, owner_id, name, date_of_birth, gender, phone, email, address, notes, created_at, updated_at, version
    FROM patients
    WHERE (:sees_all OR owner_id = :actor)
      AND (:after::uuid IS NULL OR id < :after)
      AND (:name::text IS NULL OR name ILIKE :name)
      AND (:birthdate::date IS NULL OR date_of_birth = :birthdate)
      AND (:gender::text IS NULL OR gender = :gender)
    ORDER BY id DESC
    LIMIT :fetch
)
SELECT page.*,
       ARRAY(SELECT doctor_id FROM mappings WHERE patient_id = page.id ORDER BY id DESC)
           AS practitioners
FROM page
ORDER BY id DESC
