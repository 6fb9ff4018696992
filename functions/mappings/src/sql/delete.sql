-- Removes one assignment, if the principal reaches its patient.
WITH deleted AS (
    DELETE FROM mappings m USING patients p
    WHERE m.id = :id AND p.id = m.patient_id AND (:sees_all OR p.owner_id = :actor)
    RETURNING m.id
)
SELECT id FROM deleted
