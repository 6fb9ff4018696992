-- One page of the patients the principal reaches, newest first (`reach` carries their
-- columns, and has applied the organization and name filters); notes only where they
-- may be read. `owner_filter` is set only for
-- principals who see every owner's patients.
WITH page AS (
    SELECT r.id, r.owner_id, r.organization_id, r.name, r.date_of_birth, r.gender, r.phone, r.email, r.address,
           CASE WHEN r.reads_notes THEN r.notes END AS notes, r.created_at, r.updated_at, r.version, r.restricted, r.identifiers, r.reads_notes
    FROM reach r
    WHERE (:owner_filter::uuid IS NULL OR r.owner_id = :owner_filter)
      AND (:after::uuid IS NULL OR r.id < :after)
    ORDER BY r.id DESC
    LIMIT :fetch
)
SELECT * FROM page ORDER BY id DESC
