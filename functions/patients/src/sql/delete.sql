-- Deletes a patient the principal reaches and may delete; `found` tells 403 from 404.
-- The patient's mappings go with it (ON DELETE CASCADE); its audit events stay.
WITH target AS (
    SELECT r.id, r.deletes FROM reach r
), deleted AS (
    DELETE FROM patients WHERE id = (SELECT id FROM target WHERE deletes) RETURNING id
)
SELECT EXISTS (SELECT 1 FROM target) AS found, (SELECT id FROM deleted) AS id
