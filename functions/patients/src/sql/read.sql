-- One patient, if the principal reaches it (`reach` carries its row); its notes only if
-- they may read them.
WITH found AS (
    SELECT r.id, r.owner_id, r.organization_id, r.name, r.date_of_birth, r.gender, r.phone, r.email, r.address,
           CASE WHEN r.reads_notes THEN r.notes END AS notes, r.created_at, r.updated_at, r.version, r.restricted, r.identifiers, r.reads_notes
    FROM reach r
)
SELECT * FROM found
