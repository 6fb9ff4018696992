-- The patient's mappings go with it (ON DELETE CASCADE); its audit events stay.
WITH deleted AS (
    DELETE FROM patients WHERE id = :id AND (:sees_all OR owner_id = :actor) RETURNING id
)
SELECT id FROM deleted
