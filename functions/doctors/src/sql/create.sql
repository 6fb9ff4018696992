-- A new doctor in the shared directory, created by the acting user.
WITH created AS (
    INSERT INTO doctors (name, specialization, email, phone, license_number, created_by)
    VALUES (:name, :specialization, :email, :phone, :license_number, :actor)
    RETURNING id, name, specialization, email, phone, license_number, user_id, created_by, created_at, updated_at, version
)
SELECT * FROM created
