-- A Patient search: the patients the principal reaches (`reach` has applied `name`
-- and `organization`) that match every other parameter given, newest first below the
-- keyset, each with its doctors (most recently assigned first); no notes. Rows are of
-- three kinds: `patient` (a match), `practitioner` (a doctor of a match on this page,
-- for `_include=Patient:general-practitioner`: the directory, which every caller who
-- may include reads), and `total` (`_summary=count`: how many match, over all pages).
-- Dates are half-open ranges, `[from, before)`, with `not_*` the ranges `ne` excludes.
WITH matched AS (
    SELECT r.id, r.owner_id, r.organization_id, r.name, r.date_of_birth, r.gender, r.phone, r.email, r.address,
           r.created_at, r.updated_at, r.version, r.restricted, r.identifiers
    FROM reach r
    WHERE (:ids::uuid[] IS NULL OR r.id = ANY (:ids))
      AND (NOT :identifier_sent OR EXISTS (
          SELECT 1 FROM patient_identifiers i
          WHERE i.patient_id = r.id
            AND (:identifier_value::text IS NULL OR i.value = :identifier_value)
            AND (:identifier_system::text IS NULL OR i.system = :identifier_system)))
      AND r.name ~* ALL (:name_matches::text[])
      AND (:gender::text IS NULL OR r.gender = :gender)
      AND (:birth_from::date IS NULL OR r.date_of_birth >= :birth_from)
      AND (:birth_before::date IS NULL OR r.date_of_birth < :birth_before)
      AND NOT EXISTS (SELECT 1 FROM unnest(:birth_not_from::date[], :birth_not_before::date[]) AS n (f, b)
                      WHERE r.date_of_birth >= n.f AND r.date_of_birth < n.b)
      AND (:updated_from::timestamptz IS NULL OR r.updated_at >= :updated_from)
      AND (:updated_before::timestamptz IS NULL OR r.updated_at < :updated_before)
      AND NOT EXISTS (SELECT 1 FROM unnest(:updated_not_from::timestamptz[], :updated_not_before::timestamptz[])
                          AS n (f, b)
                      WHERE r.updated_at >= n.f AND r.updated_at < n.b)
      AND (:practitioner::uuid IS NULL
           OR EXISTS (SELECT 1 FROM mappings m WHERE m.patient_id = r.id AND m.doctor_id = :practitioner))
), page AS (
    SELECT m.*, ARRAY(SELECT doctor_id FROM mappings WHERE patient_id = m.id ORDER BY id DESC) AS practitioners
    FROM matched m
    WHERE NOT :count_only AND (:after::uuid IS NULL OR m.id < :after)
    ORDER BY m.id DESC
    LIMIT :fetch
), included AS (
    SELECT d.id, d.name, d.specialization, d.email, d.phone, d.license_number, d.user_id, d.created_by,
           d.created_at, d.updated_at, d.version
    FROM doctors d
    -- The page's own matches only: `page` holds one row past the page (it says whether a
    -- `next` link is due), whose doctors belong to the next page.
    WHERE :include AND d.id IN (SELECT unnest(p.practitioners) FROM (SELECT practitioners FROM page ORDER BY id DESC
                                                                     LIMIT :fetch - 1) p)
)
SELECT 'patient' AS kind, id, owner_id, organization_id, name, date_of_birth, gender, phone, email, address,
       NULL::text AS notes, created_at, updated_at, version, restricted, identifiers, false AS reads_notes,
       practitioners, NULL::text AS specialization, NULL::text AS license_number, NULL::uuid AS user_id,
       NULL::uuid AS created_by, NULL::bigint AS total
FROM page
UNION ALL
SELECT 'practitioner', id, NULL, NULL, name, NULL, NULL, phone, email, NULL, NULL, created_at, updated_at, version,
       NULL, NULL, NULL, NULL, specialization, license_number, user_id, created_by, NULL
FROM included
UNION ALL
SELECT 'total', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, (SELECT count(*) FROM matched)
WHERE :count_only
ORDER BY kind, id DESC
