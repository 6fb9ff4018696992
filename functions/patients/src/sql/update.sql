-- A partial update of a patient the principal reaches and may write (notes, and
-- `restricted`, only by who may write the notes). `target` tells a refusal (403, 400) or a stale version (412) from a
-- patient the principal does not reach (404). The version check is in the UPDATE's
-- WHERE, so of concurrent updates naming the same version exactly one matches; the
-- rest see the bumped version and change nothing. A `*_sent` flag says the field was
-- in the body (its value may be NULL, which clears it).
--
-- `organization_id` moves a personal patient into an organization, one way: by its
-- personal owner, into one whose `membership` receives patients. Naming the patient's
-- own organization (or none for a personal one) changes nothing.
WITH target AS (
    SELECT r.id, r.organization_id, r.access, r.writes, r.writes_notes, r.reads_notes FROM reach r
), updated AS (
    UPDATE patients SET
        name = COALESCE(:name, name),
        date_of_birth = COALESCE(:date_of_birth, date_of_birth),
        gender = COALESCE(:gender, gender),
        phone = CASE WHEN :phone_sent THEN :phone ELSE phone END,
        email = CASE WHEN :email_sent THEN :email ELSE email END,
        address = CASE WHEN :address_sent THEN :address ELSE address END,
        notes = CASE WHEN :notes_sent THEN :notes ELSE notes END,
        organization_id = CASE WHEN :organization_sent THEN :organization_id ELSE patients.organization_id END,
        restricted = COALESCE(:restricted, restricted),
        identifiers = COALESCE(:identifiers, identifiers),
        version = version + 1,
        updated_at = now(),
        -- The trigger of migrations/0012 keeps the version this replaces.
        updated_by = :actor
    FROM target t
    WHERE patients.id = t.id AND t.writes AND ((NOT :notes_sent AND :restricted::bool IS NULL) OR t.writes_notes)
      AND (NOT :organization_sent
           OR t.organization_id IS NOT DISTINCT FROM :organization_id
           OR (t.organization_id IS NULL AND t.access = 'owner'
               AND EXISTS (SELECT 1 FROM membership WHERE receives_patients)))
      AND (:expected_version::int4 IS NULL OR version = :expected_version)
    RETURNING patients.id, patients.owner_id, patients.organization_id, patients.name, patients.date_of_birth,
              patients.gender, patients.phone, patients.email, patients.address,
              CASE WHEN t.reads_notes THEN patients.notes END AS notes, patients.created_at, patients.updated_at,
              patients.version, patients.restricted, patients.identifiers, t.reads_notes
)
SELECT EXISTS (SELECT 1 FROM target) AS found, t.writes AS may_write, t.writes_notes AS may_write_notes,
       t.access AS reached_as, t.organization_id AS current_organization,
       (SELECT receives_patients FROM membership) AS receives_patients, updated.*
FROM (SELECT) AS one LEFT JOIN target t ON true LEFT JOIN updated ON true
