-- One version of a patient the principal reaches (vread): the current one, from `reach`,
-- or one it replaced (patient_versions, migrations/0012). The access decision is the
-- current record's: whoever reaches the patient now reads its versions. Notes are not
-- part of the resource. Only the current version lists doctors: assignments are not
-- versioned, and today's doctors in an old version would be a false record.
WITH found AS (
    SELECT r.id, r.owner_id, r.organization_id, r.name, r.date_of_birth, r.gender, r.phone, r.email, r.address,
           r.created_at, r.updated_at, r.version, r.restricted
    FROM reach r
), every AS (
    SELECT found.*, true AS current FROM found
    UNION ALL
    SELECT f.id, f.owner_id, v.organization_id, v.name, v.date_of_birth, v.gender, v.phone, v.email, v.address,
           f.created_at, v.changed_at, v.version, v.restricted, false
    FROM found f JOIN patient_versions v ON v.patient_id = f.id AND v.version = :version
)
SELECT id, owner_id, organization_id, name, date_of_birth, gender, phone, email, address, NULL::text AS notes,
       created_at, updated_at, version, restricted, false AS reads_notes,
       CASE WHEN current THEN ARRAY(SELECT doctor_id FROM mappings WHERE patient_id = every.id ORDER BY id DESC)
            ELSE '{}'::uuid[] END AS practitioners
FROM every
WHERE version = :version
