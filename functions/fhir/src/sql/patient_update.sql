-- FHIR update: every field the resource carries is replaced (absent ones cleared);
-- `notes` are not part of the resource and stay. The patient changes only if the
-- principal reaches it and may write it (`reach`), the version matches (when named),
-- and the sent generalPractitioner and managingOrganization - when sent - name exactly
-- its current doctors and organization: those change through /api/mappings and
-- /api/patients, never as a side effect. `found`, `may_write`, `doctors_match` and
-- `organization_matches` tell a 404, a 403 and a 400 from a stale version (412).
WITH target AS (
    SELECT r.id, r.organization_id, r.writes,
           ARRAY(SELECT doctor_id FROM mappings WHERE patient_id = r.id ORDER BY id DESC) AS practitioners
    FROM reach r
), checked AS (
    SELECT id, writes, practitioners,
           (:practitioners::uuid[] IS NULL
            OR (practitioners @> :practitioners AND practitioners <@ :practitioners)) AS doctors_match,
           (NOT :organization_sent OR organization_id IS NOT DISTINCT FROM :organization_id) AS organization_matches
    FROM target
), updated AS (
    UPDATE patients SET
        name = :name,
        date_of_birth = :date_of_birth,
        gender = :gender,
        phone = :phone,
        email = :email,
        address = :address,
        identifiers = :identifiers,
        version = version + 1,
        updated_at = now(),
        -- The trigger of migrations/0012 keeps the version this replaces.
        updated_by = :actor
    WHERE id = (SELECT id FROM checked WHERE doctors_match AND organization_matches AND writes)
      AND (:expected_version::int4 IS NULL OR version = :expected_version)
    RETURNING id, owner_id, organization_id, name, date_of_birth, gender, phone, email, address, NULL::text AS notes,
              created_at, updated_at, version, restricted, identifiers, false AS reads_notes
)
SELECT EXISTS (SELECT 1 FROM target) AS found,
       COALESCE((SELECT writes FROM checked), false) AS may_write,
       COALESCE((SELECT doctors_match FROM checked), false) AS doctors_match,
       COALESCE((SELECT organization_matches FROM checked), false) AS organization_matches,
       COALESCE((SELECT practitioners FROM checked), '{}') AS practitioners,
       updated.*
FROM (SELECT) AS one LEFT JOIN updated ON true
