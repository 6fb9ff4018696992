-- One page of the mappings of patients the principal reaches, newest first.
WITH page AS (
    SELECT m.id, m.patient_id, m.doctor_id, m.assigned_by, m.assigned_at
    FROM mappings m JOIN reach ON reach.id = m.patient_id
    WHERE (:after::uuid IS NULL OR m.id < :after)
      AND (:patient_id::uuid IS NULL OR m.patient_id = :patient_id)
      AND (:doctor_id::uuid IS NULL OR m.doctor_id = :doctor_id)
    ORDER BY m.id DESC
    LIMIT :fetch
)
SELECT * FROM page ORDER BY id DESC
