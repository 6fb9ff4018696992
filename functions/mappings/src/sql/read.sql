-- One mapping by its own id, if the principal reaches its patient.
WITH found AS (
    SELECT m.id, m.patient_id, m.doctor_id, m.assigned_by, m.assigned_at
    FROM mappings m JOIN patients p ON p.id = m.patient_id
    WHERE m.id = :id AND (:sees_all OR p.owner_id = :actor)
)
SELECT * FROM found
