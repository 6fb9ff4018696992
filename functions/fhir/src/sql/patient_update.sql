-- FHIR update: every field the resource carries is replaced (absent ones cleared);
-- `notes` are not part of the resource and stay. The patient changes only if the
-- principal reaches it, the version matches (when named), and the sent
-- generalPractitioner - when sent - lists exactly its current doctors: mappings change
-- through /api/mappings, never as a side effect. `found` and `doctors_match` tell a
-- 404 and a 400 from a stale version (412).
WITH target AS (
    SELECT id,
           ARRAY(SELECT doctor_id FROM mappings WHERE patient_id = patients.id ORDER BY id DESC)
               AS practitioners
    FROM patients
    WHERE id = :id AND (:sees_all OR owner_id = :actor)
), checked AS (
    SELECT id, practitioners,
           (:practitioners::uuid[] IS NULL
            OR (practitioners @> :practitioners AND practitioners <@ :practitioners)) AS doctors_match
    FROM target
), updated AS (
    UPDATE patients SET
        name = :name,
        date_of_birth = :date_of_birth,
        gender = :gender,
        phone = :phone,
        email = :email,
        address = :address,
        version = version + 1,
        updated_at = now()
    WHERE id = (SELECT id FROM checked WHERE doctors_match)
      AND (:sees_all OR owner_id = :actor)
      AND (:expected_version::int4 IS NULL OR version = :expected_version)
    RETURNING id, owner_id, name, date_of_birth, gender, phone, email, address, notes, created_at, updated_at, version
)
SELECT EXISTS (SELECT 1 FROM target) AS found,
       COALESCE((SELECT doctors_match FROM checked), false) AS doctors_match,
       COALESCE((SELECT practitioners FROM checked), '{}') AS practitioners,
       updated.*
FROM (SELECT) AS one LEFT JOIN updated ON true
