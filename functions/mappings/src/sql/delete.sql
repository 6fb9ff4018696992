-- Removes one assignment, if the principal reaches its patient and may assign to it;
-- `found` tells 403 from 404.
WITH target AS (
    SELECT m.id, r.assigns FROM mappings m JOIN reach r ON r.id = m.patient_id WHERE m.id = :id
), deleted AS (
    DELETE FROM mappings WHERE id = (SELECT id FROM target WHERE assigns) RETURNING id
)
SELECT EXISTS (SELECT 1 FROM target) AS found, (SELECT id FROM deleted) AS id
