-- One patient, if the principal reaches it, with its doctors, most recently assigned first
-- (mapping ids are UUIDv7, so id order is assignment order, as in /api/mappings, and
-- the (patient_id, id DESC) index gives it without a sort). Notes are not part of the
-- resource, and go out as NULL whatever the reach.
WITH found AS (
    SELECT p.id, p.owner_id, p.organization_id, p.name, p.date_of_birth, p.gender, p.phone, p.email, p.address,
           NULL::text AS notes, p.created_at, p.updated_at, p.version, false AS reads_notes
    FROM patients p JOIN reach ON reach.patient_id = p.id
    WHERE p.id = :id
)
SELECT found.*,
       ARRAY(SELECT doctor_id FROM mappings WHERE patient_id = found.id ORDER BY id DESC)
           AS practitioners
FROM found
