-- Assigns a doctor to a patient the principal reaches and may assign to (`reach`).
-- ON CONFLICT makes a duplicate (also a racing one) "no row" instead of an error; a
-- patient or doctor deleted meanwhile fails the foreign key, which is a 404.
WITH patient AS (
    SELECT r.id, r.assigns FROM reach r
), doctor AS (
    SELECT id FROM doctors WHERE id = :doctor_id
), pair AS (
    SELECT patient.id AS patient_id, doctor.id AS doctor_id FROM patient, doctor WHERE patient.assigns
), created AS (
    INSERT INTO mappings (patient_id, doctor_id, assigned_by)
    SELECT patient_id, doctor_id, :actor FROM pair
    ON CONFLICT (patient_id, doctor_id) DO NOTHING
    RETURNING id, patient_id, doctor_id, assigned_by, assigned_at
)
SELECT EXISTS (SELECT 1 FROM patient) AS patient_found, COALESCE((SELECT assigns FROM patient), false) AS assigns,
       EXISTS (SELECT 1 FROM doctor) AS doctor_found, created.*
FROM (SELECT) AS one LEFT JOIN created ON true
