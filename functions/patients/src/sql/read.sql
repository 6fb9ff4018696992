-- One patient, if the principal reaches it.
WITH found AS (
    SELECT id, owner_id, name, date_of_birth, gender, phone, email, address, notes, created_at, updated_at, version
    FROM patients
    WHERE id = :id AND (:sees_all OR owner_id = :actor)
)
SELECT * FROM found
