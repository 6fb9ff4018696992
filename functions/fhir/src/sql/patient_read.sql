-- One patient, if the principal reaches it, with its doctors, most recently assigned first
-- (mapping ids are UUIDv7, so id order is assignment order, as in /api/mappings, and
-- the (patient_id, id DESC) index gives it without a sort). Notes are not part of the
-- resource, and go out as NULL whatever the reach.
WITH found AS (
    SELECT r.id, r.owner_id, r.organization_id, r.name, r.date_of_birth, r.gender, r.phone, r.email, r.address,
           NULL::text AS notes, r.created_at, r.updated_at, r.version, r.restricted, r.identifiers,
           false AS reads_notes
    FROM reach r
)
SELECT found.*,
       ARRAY(SELECT doctor_id FROM mappings WHERE patient_id = found.id ORDER BY id DESC)
           AS practitioners
FROM found
