-- A partial update, by the doctor's creator or a principal who edits all. `creator`
-- (NULL when there is no such doctor) lets the handler tell 404, 403 and a stale
-- version (412) apart when no row was updated.
WITH target AS (
    SELECT created_by FROM doctors WHERE id = :id
), updated AS (
    UPDATE doctors SET
        name = COALESCE(:name, name),
        specialization = COALESCE(:specialization, specialization),
        email = CASE WHEN :email_sent THEN :email ELSE email END,
        phone = CASE WHEN :phone_sent THEN :phone ELSE phone END,
        license_number = CASE WHEN :license_number_sent THEN :license_number ELSE license_number END,
        version = version + 1,
        updated_at = now()
    WHERE id = :id AND (:edits_all OR created_by = :actor)
      AND (:expected_version::int4 IS NULL OR version = :expected_version)
    RETURNING id, name, specialization, email, phone, license_number, user_id, created_by, created_at, updated_at, version
)
SELECT (SELECT created_by FROM target) AS creator, updated.*
FROM (SELECT) AS one LEFT JOIN updated ON true
