-- One mapping by its own id, if the principal reaches its patient.
WITH found AS (
    SELECT m.id, m.patient_id, m.doctor_id, m.assigned_by, m.assigned_at
    FROM mappings m JOIN reach r ON r.id = m.patient_id
    WHERE m.id = :id
)
SELECT * FROM found
