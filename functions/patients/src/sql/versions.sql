-- A patient's versions, if the principal reaches it: the current one (from `reach`) and
-- those it replaced (patient_versions, migrations/0012), newest first, below :after
-- (a version number; NULL: from the current one). Whoever reaches the patient now reads
-- its versions, and the notes of each only if they may read the notes now: the access
-- decision is the current record's, as for every read. `updated_at` is when the version
-- was made, `changed_by` by whom; only the current version lists doctors (assignments
-- are not versioned, and today's doctors in an old version would be a false record).
WITH found AS (
    SELECT r.id, r.owner_id, r.organization_id, r.name, r.date_of_birth, r.gender, r.phone, r.email, r.address,
           r.notes, r.created_at, r.updated_at, r.version, r.restricted, r.identifiers, r.reads_notes
    FROM reach r
), every AS (
    SELECT f.id, f.owner_id, f.organization_id, f.name, f.date_of_birth, f.gender, f.phone, f.email, f.address,
           f.notes, f.created_at, f.updated_at, f.version, f.restricted, f.identifiers, f.reads_notes,
           p.updated_by AS changed_by,
           true AS current
    FROM found f JOIN patients p ON p.id = f.id
    WHERE :after::int IS NULL OR f.version < :after
    UNION ALL
    (SELECT f.id, f.owner_id, v.organization_id, v.name, v.date_of_birth, v.gender, v.phone, v.email, v.address,
            v.notes, f.created_at, v.changed_at, v.version, v.restricted, v.identifiers, f.reads_notes, v.changed_by,
            false
     FROM found f JOIN patient_versions v ON v.patient_id = f.id
     WHERE :after::int IS NULL OR v.version < :after
     ORDER BY v.version DESC
     LIMIT :fetch)
)
SELECT id, owner_id, organization_id, name, date_of_birth, gender, phone, email, address,
       CASE WHEN reads_notes THEN notes END AS notes, created_at, updated_at, version, restricted, identifiers,
       reads_notes,
       changed_by,
       CASE WHEN current THEN ARRAY(SELECT doctor_id FROM mappings WHERE patient_id = every.id ORDER BY id DESC)
            ELSE '{}'::uuid[] END AS practitioners
FROM every
ORDER BY version DESC
LIMIT :fetch
