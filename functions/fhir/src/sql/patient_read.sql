-- One patient, if the principal reaches it, with its doctors, most recently assigned first.
WITH found AS (
    SELECT id, owner_id, name, date_of_birth, gender, phone, email, address, notes, created_at, updated_at, version
    FROM patients
    WHERE id = :id AND (:sees_all OR owner_id = :actor)
)
SELECT found.*,
       ARRAY(SELECT doctor_id FROM mappings WHERE patient_id = found.id ORDER BY assigned_at DESC, id DESC)
           AS practitioners
FROM found
