-- One patient, if the principal reaches it; its notes only if they may read them.
WITH found AS (
    SELECT p.id, p.owner_id, p.organization_id, p.name, p.date_of_birth, p.gender, p.phone, p.email, p.address,
           CASE WHEN reach.reads_notes THEN p.notes END AS notes, p.created_at, p.updated_at, p.version,
           reach.reads_notes
    FROM patients p JOIN reach ON reach.patient_id = p.id
    WHERE p.id = :id
)
SELECT * FROM found
