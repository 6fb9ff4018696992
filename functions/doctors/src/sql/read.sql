-- One doctor; the directory is shared, so any signed-in user reads any doctor.
SELECT id, name, specialization, email, phone, license_number, user_id, created_by, created_at, updated_at, version
FROM doctors
WHERE id = :id
