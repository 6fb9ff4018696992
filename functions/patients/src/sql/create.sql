-- A new patient: personal (owned by the acting user) or, with :organization_id, the
-- organization's - when the caller's role there creates patients, and reads notes if
-- notes or `restricted` are sent (`membership`). No row in `created`: `creates_patients` tells 403 (a
-- member who may not) from 404 (no member, or no such organization).
WITH created AS (
    INSERT INTO patients (owner_id, organization_id, name, date_of_birth, gender, phone, email, address, notes,
                          restricted, identifiers, updated_by)
    SELECT :actor, :organization_id, :name, :date_of_birth, :gender, :phone, :email, :address, :notes,
           COALESCE(:restricted, false), :identifiers, :actor
    WHERE :organization_id::uuid IS NULL OR EXISTS (
        SELECT 1 FROM membership
        WHERE creates_patients AND ((:notes::text IS NULL AND :restricted::bool IS NULL) OR reads_notes)
    )
    RETURNING id, owner_id, organization_id, name, date_of_birth, gender, phone, email, address, notes,
              created_at, updated_at, version, restricted, identifiers
)
SELECT (SELECT creates_patients FROM membership) AS creates_patients,
       COALESCE((SELECT reads_notes FROM membership), true) AS reads_notes, created.*
FROM (SELECT) AS one LEFT JOIN created ON true
