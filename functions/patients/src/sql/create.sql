-- A new patient, owned by the acting user.
WITH created AS (
    INSERT INTO patients (owner_id, name, date_of_birth, gender, phone, email, address, notes)
    VALUES (:actor, :name, :date_of_birth, :gender, :phone, :email, :address, :notes)
    RETURNING id, owner_id, name, date_of_birth, gender, phone, email, address, notes, created_at, updated_at, version
)
SELECT * FROM created
