-- One patient, if the principal reaches it, with its doctors, most recently assigned first
-- (mapping ids are UUIDv7, so id order is assignment order, as in /api/mappings, and
-- the (patient_id, id DESC) index gives it without a sort).
WITH found AS (
    SELECT id, owner_id, name, date_of_birth, gender, phone, email, address, notes, created_at, updated_at, version
    FROM patients
    WHERE id = :id AND (:sees_all OR owner_id = :actor)
)
SELECT found.*,
       ARRAY(SELECT doctor_id FROM mappings WHERE patient_id = found.id ORDER BY id DESC)
           AS practitioners
FROM found
