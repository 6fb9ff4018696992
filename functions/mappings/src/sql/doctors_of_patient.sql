-- One row per doctor assigned to the patient, newest assignment first, or a single row
-- with NULL doctor columns when it has none; no row at all when the principal does not
-- reach the patient.
WITH patient AS (
    SELECT r.id AS patient_id FROM reach r
), assigned AS (
    SELECT d.id, d.name, d.specialization, d.email, d.phone, d.license_number, d.user_id, d.created_by, d.created_at,
           d.updated_at, d.version, m.id AS mapping_id, m.assigned_at
    FROM patient JOIN mappings m ON m.patient_id = patient.patient_id JOIN doctors d ON d.id = m.doctor_id
)
SELECT assigned.* FROM patient LEFT JOIN assigned ON true
ORDER BY mapping_id DESC
