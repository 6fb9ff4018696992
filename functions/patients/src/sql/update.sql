-- A partial update. `target` tells a stale version (412) from a patient the principal
-- does not reach (404). The version check is in the UPDATE's WHERE, so of concurrent
-- updates naming the same version exactly one matches; the rest see the bumped version
-- and change nothing. A `*_sent` flag says the field was in the body (its value may be
-- NULL, which clears it).
WITH target AS (
    SELECT id FROM patients WHERE id = :id AND (:sees_all OR owner_id = :actor)
), updated AS (
    UPDATE patients SET
        name = COALESCE(:name, name),
        date_of_birth = COALESCE(:date_of_birth, date_of_birth),
        gender = COALESCE(:gender, gender),
        phone = CASE WHEN :phone_sent THEN :phone ELSE phone END,
        email = CASE WHEN :email_sent THEN :email ELSE email END,
        address = CASE WHEN :address_sent THEN :address ELSE address END,
        notes = CASE WHEN :notes_sent THEN :notes ELSE notes END,
        version = version + 1,
        updated_at = now()
    WHERE id = :id AND (:sees_all OR owner_id = :actor)
      AND (:expected_version::int4 IS NULL OR version = :expected_version)
    RETURNING id, owner_id, name, date_of_birth, gender, phone, email, address, notes, created_at, updated_at, version
)
SELECT EXISTS (SELECT 1 FROM target) AS found, updated.*
FROM (SELECT) AS one LEFT JOIN updated ON true
