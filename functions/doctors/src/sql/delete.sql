-- Deletes a doctor, by its creator or a principal who edits all; its mappings go with it
-- (ON DELETE CASCADE). `creator` is as in update.sql.
WITH target AS (
    SELECT created_by FROM doctors WHERE id = :id
), deleted AS (
    DELETE FROM doctors WHERE id = :id AND (:edits_all OR created_by = :actor) RETURNING id
)
SELECT (SELECT created_by FROM target) AS creator, (SELECT id FROM deleted) AS id
