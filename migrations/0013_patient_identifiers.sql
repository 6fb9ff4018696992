-- Patient identifiers (API.md Part 5, "Identifiers and conditional create"): a list of
-- {system, value} on the patient, as REST `identifiers` and FHIR `identifier`. Within
-- one organization, or among one user's personal patients, a system|value pair names
-- one patient; the same pair in another organization is another patient.
--
-- The list lives on the patient (so a version keeps it, and reads carry it like any
-- column); `patient_identifiers` indexes it, kept by a trigger of the same statement
-- that writes the patient, so its unique indexes decide duplicates (409), a move into
-- an organization included, and two racing creates of one identifier cannot both
-- commit: the second waits on the first's index entry, then fails, and a conditional
-- create answers the first's patient.
ALTER TABLE patients ADD COLUMN identifiers jsonb NOT NULL DEFAULT '[]';
ALTER TABLE patient_versions ADD COLUMN identifiers jsonb NOT NULL DEFAULT '[]';

CREATE TABLE patient_identifiers (
  patient_id      uuid NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  organization_id uuid,
  owner_id        uuid NOT NULL,
  system          text NOT NULL,
  value           text NOT NULL
);
CREATE UNIQUE INDEX patient_identifiers_organization_key
  ON patient_identifiers (organization_id, system, value) WHERE organization_id IS NOT NULL;
CREATE UNIQUE INDEX patient_identifiers_personal_key
  ON patient_identifiers (owner_id, system, value) WHERE organization_id IS NULL;
-- Search by `identifier=value` or `system|value`, and the trigger's own delete.
CREATE INDEX patient_identifiers_value_idx ON patient_identifiers (value, system);
CREATE INDEX patient_identifiers_patient_idx ON patient_identifiers (patient_id);

CREATE FUNCTION patients_index_identifiers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.identifiers <> '[]' THEN
    DELETE FROM patient_identifiers WHERE patient_id = NEW.id;
  END IF;
  INSERT INTO patient_identifiers (patient_id, organization_id, owner_id, system, value)
  SELECT NEW.id, NEW.organization_id, NEW.owner_id, i ->> 'system', i ->> 'value'
    FROM jsonb_array_elements(NEW.identifiers) i;
  RETURN NULL;
END
$$;
CREATE TRIGGER patients_index_identifiers_insert
  AFTER INSERT ON patients
  FOR EACH ROW WHEN (NEW.identifiers <> '[]') EXECUTE FUNCTION patients_index_identifiers();
CREATE TRIGGER patients_index_identifiers_update
  AFTER UPDATE ON patients
  FOR EACH ROW WHEN (OLD.identifiers IS DISTINCT FROM NEW.identifiers
                     OR OLD.organization_id IS DISTINCT FROM NEW.organization_id
                     OR OLD.owner_id IS DISTINCT FROM NEW.owner_id)
  EXECUTE FUNCTION patients_index_identifiers();

-- A version keeps the identifiers it had.
CREATE OR REPLACE FUNCTION patients_keep_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO patient_versions (patient_id, version, organization_id, name, date_of_birth, gender, phone, email,
                                address, notes, restricted, identifiers, changed_at, changed_by)
  VALUES (OLD.id, OLD.version, OLD.organization_id, OLD.name, OLD.date_of_birth, OLD.gender, OLD.phone, OLD.email,
          OLD.address, OLD.notes, OLD.restricted, OLD.identifiers, OLD.updated_at, OLD.updated_by);
  RETURN NEW;
END
$$;

-- The reach functions answer the identifiers with the patient's other columns
-- (unchanged otherwise from 0009).
DROP FUNCTION patient_reach(uuid, uuid);
DROP FUNCTION patients_reached(uuid, uuid, boolean, text, uuid, bigint);

CREATE FUNCTION patient_reach(actor uuid, patient uuid)
RETURNS TABLE (id uuid, owner_id uuid, organization_id uuid, name text, date_of_birth date, gender text,
               phone text, email text, address text, notes text, created_at timestamptz, updated_at timestamptz,
               version integer, restricted boolean, identifiers jsonb, access text, reads_notes boolean, writes boolean,
               writes_notes boolean, deletes boolean, assigns boolean, emergency_access_id uuid)
LANGUAGE plpgsql STABLE ROWS 1 AS $$
DECLARE
  own boolean;
  portal boolean;
  org_role text;
  care_team boolean;
BEGIN
  SELECT p.id, p.owner_id, p.organization_id, p.name, p.date_of_birth, p.gender, p.phone, p.email, p.address,
         p.notes, p.created_at, p.updated_at, p.version, p.restricted, p.identifiers,
         p.organization_id IS NULL AND p.owner_id = actor, p.portal_user_id IS NOT DISTINCT FROM actor
    INTO id, owner_id, organization_id, name, date_of_birth, gender, phone, email, address, notes, created_at,
         updated_at, version, restricted, identifiers, own, portal
    FROM patients p WHERE p.id = patient;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF NOT own AND organization_id IS NOT NULL THEN
    SELECT m.role INTO org_role FROM memberships m
     WHERE m.user_id = actor AND m.organization_id = patient_reach.organization_id
       AND org_role_reaches_patients(m.role);
  END IF;
  -- The personal owner, and an organization's owner, may already do everything: no
  -- other way is looked up. (The answer goes out through the OUT columns and RETURN
  -- NEXT: a RETURN QUERY would be one more query.)
  IF own OR org_role_deletes_patients(org_role) THEN
    access := CASE WHEN own THEN 'owner' ELSE org_role_access(org_role) END;
    reads_notes := true;
    writes := true;
    writes_notes := true;
    deletes := true;
    assigns := true;
    RETURN NEXT;
    RETURN;
  END IF;
  care_team := EXISTS (SELECT 1 FROM doctors d JOIN mappings mp ON mp.doctor_id = d.id
                        WHERE d.user_id = actor AND mp.patient_id = patient);
  IF NOT (org_role IS NOT NULL OR care_team OR portal) THEN
    RETURN;
  END IF;
  writes_notes := care_team OR org_role_reads_notes(org_role, restricted);
  IF NOT writes_notes AND org_role_breaks_glass(org_role) THEN
    SELECT g.id INTO emergency_access_id FROM emergency_access g
     WHERE g.user_id = actor AND g.patient_id = patient AND g.expires_at > now()
     ORDER BY g.expires_at DESC LIMIT 1;
  END IF;
  access := CASE WHEN care_team THEN 'care_team' WHEN emergency_access_id IS NOT NULL THEN 'emergency'
                 WHEN org_role IS NOT NULL THEN org_role_access(org_role) ELSE 'patient' END;
  reads_notes := writes_notes OR emergency_access_id IS NOT NULL OR portal;
  writes := care_team OR org_role IS NOT NULL;
  deletes := false;
  assigns := org_role IS NOT NULL;
  RETURN NEXT;
END
$$;

CREATE FUNCTION patients_reached(actor uuid, organization uuid, personal_only boolean, name_like text, after uuid,
                                 page bigint)
RETURNS TABLE (id uuid, owner_id uuid, organization_id uuid, name text, date_of_birth date, gender text,
               phone text, email text, address text, notes text, created_at timestamptz, updated_at timestamptz,
               version integer, restricted boolean, identifiers jsonb, access text, reads_notes boolean, writes boolean,
               writes_notes boolean, deletes boolean, assigns boolean, emergency_access_id uuid)
LANGUAGE plpgsql STABLE ROWS 50 SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  below uuid := COALESCE(after, 'ffffffff-ffff-ffff-ffff-ffffffffffff');
BEGIN
  -- Someone with no membership, held doctor or portal link has only personal
  -- patients: one index walk, nothing to merge.
  IF NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = actor
                 UNION ALL SELECT 1 FROM doctors d WHERE d.user_id = actor
                 UNION ALL SELECT 1 FROM patients q WHERE q.portal_user_id = actor) THEN
    RETURN QUERY
    SELECT p.id, p.owner_id, p.organization_id, p.name, p.date_of_birth, p.gender, p.phone, p.email, p.address,
           p.notes, p.created_at, p.updated_at, p.version, p.restricted, p.identifiers, 'owner'::text, true, true, true, true,
           true, NULL::uuid
      FROM patients p
     WHERE p.owner_id = actor AND p.organization_id IS NULL AND organization IS NULL AND p.id < below
       AND (name_like IS NULL OR p.name ILIKE name_like)
     ORDER BY p.id DESC LIMIT page;
    RETURN;
  END IF;
  RETURN QUERY
  SELECT p.id, p.owner_id, p.organization_id, p.name, p.date_of_birth, p.gender, p.phone, p.email, p.address,
         p.notes, p.created_at, p.updated_at, p.version, p.restricted, p.identifiers, r.how, r.notes, r.w, r.wn, r.d, r.a,
         NULL::uuid
  FROM (
    SELECT s.id, (array_agg(s.how ORDER BY s.strength))[1] AS how, bool_or(s.notes) AS notes,
           bool_or(s.w) AS w, bool_or(s.wn) AS wn, bool_or(s.d) AS d, bool_or(s.a) AS a
    FROM (
      (SELECT o.id, 'owner'::text, 1, true, true, true, true, true
         FROM patients o
        WHERE o.owner_id = actor AND o.organization_id IS NULL AND organization IS NULL AND o.id < below
          AND (name_like IS NULL OR o.name ILIKE name_like)
        ORDER BY o.id DESC LIMIT page)
      UNION ALL
      (SELECT o.id, org_role_access(m.role), org_role_rank(m.role), org_role_reads_notes(m.role, o.restricted),
              true, org_role_reads_notes(m.role, o.restricted), org_role_deletes_patients(m.role), true
         FROM memberships m
         CROSS JOIN LATERAL (
           SELECT q.id, q.restricted FROM patients q
            WHERE q.organization_id = m.organization_id AND q.id < below
              AND (name_like IS NULL OR q.name ILIKE name_like)
            ORDER BY q.id DESC LIMIT page) o
        WHERE m.user_id = actor AND org_role_reaches_patients(m.role) AND NOT personal_only
          AND (organization IS NULL OR m.organization_id = organization))
      UNION ALL
      (SELECT t.patient_id, 'care_team'::text, 3, true, true, true, false, false
         FROM doctors d
         CROSS JOIN LATERAL (
           SELECT mp.patient_id FROM mappings mp JOIN patients q ON q.id = mp.patient_id
            WHERE mp.doctor_id = d.id AND mp.patient_id < below
              AND (organization IS NULL OR q.organization_id = organization)
              AND (NOT personal_only OR q.organization_id IS NULL)
              AND (name_like IS NULL OR q.name ILIKE name_like)
            ORDER BY mp.patient_id DESC LIMIT page) t
        WHERE d.user_id = actor)
      UNION ALL
      (SELECT o.id, 'patient'::text, 6, true, false, false, false, false
         FROM patients o
        WHERE o.portal_user_id = actor AND o.id < below
          AND (organization IS NULL OR o.organization_id = organization)
          AND (NOT personal_only OR o.organization_id IS NULL)
          AND (name_like IS NULL OR o.name ILIKE name_like)
        ORDER BY o.id DESC LIMIT page)
    ) AS s (id, how, strength, notes, w, wn, d, a)
    GROUP BY s.id
  ) r
  JOIN patients p ON p.id = r.id;
END
$$;
