-- Clinics (API.md Part 3): organizations, their members and invitations; patients that
-- belong to an organization; doctors held by a user account (the care team).
--
-- Who reaches a patient is decided from these rows by the access piece every statement
-- composes (shared/src/access), never written into a statement of its own. The indexes
-- below are the ones that piece walks: the caller's memberships by user, an
-- organization's patients by (organization_id, id), a held doctor's mappings by
-- (doctor_id, patient_id).

CREATE TABLE organizations (
  id         uuid PRIMARY KEY DEFAULT uuid_v7(),
  name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  created_by uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version    integer NOT NULL DEFAULT 1 CHECK (version >= 1)
);

CREATE TABLE memberships (
  -- The access piece looks memberships up by the acting user first.
  user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  role            text NOT NULL CHECK (role IN ('owner', 'clinician', 'front_desk', 'auditor')),
  joined_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, organization_id)
);
-- The member list, in join order (user ids are time-ordered too, but joining is not).
CREATE INDEX memberships_organization_idx ON memberships (organization_id, user_id);

-- An organization never loses its last owner, also when two owners demote or remove
-- each other at once: the organization's row is locked first, so the second change
-- waits for the first, and the count runs on what is committed by then (each query in
-- a PL/pgSQL function takes a fresh snapshot). SQLSTATE HC409 is answered 409.
CREATE FUNCTION memberships_keep_an_owner() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.role <> 'owner' OR (TG_OP = 'UPDATE' AND NEW.role = 'owner') THEN
    RETURN NULL;
  END IF;
  PERFORM 1 FROM organizations WHERE id = OLD.organization_id FOR UPDATE;
  IF FOUND AND NOT EXISTS (
    SELECT 1 FROM memberships WHERE organization_id = OLD.organization_id AND role = 'owner'
  ) THEN
    RAISE EXCEPTION 'an organization keeps at least one owner' USING ERRCODE = 'HC409';
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER memberships_keep_an_owner
  AFTER UPDATE OF role OR DELETE ON memberships
  FOR EACH ROW EXECUTE FUNCTION memberships_keep_an_owner();

-- Invitations: tokens like the reset tokens (SHA-256 only). A withdrawn invitation is
-- deleted; an accepted one keeps its row, marked.
CREATE TABLE organization_invitations (
  id              uuid PRIMARY KEY DEFAULT uuid_v7(),
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  email           text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
  role            text NOT NULL CHECK (role IN ('owner', 'clinician', 'front_desk', 'auditor')),
  token_hash      bytea NOT NULL UNIQUE,
  invited_by      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  accepted_by     uuid REFERENCES users (id) ON DELETE SET NULL,
  accepted_at     timestamptz
);
CREATE INDEX organization_invitations_open_idx ON organization_invitations (organization_id, id DESC)
  WHERE accepted_at IS NULL;

-- A patient is personal (organization_id NULL, reached through owner_id) or an
-- organization's (reached through the organization; owner_id then only records who
-- created it). RESTRICT: an organization with records cannot vanish by accident.
-- `restricted` charts (Part 3, the next issue) already shape what a clinician reaches.
ALTER TABLE patients
  ADD COLUMN organization_id uuid REFERENCES organizations (id) ON DELETE RESTRICT,
  ADD COLUMN restricted boolean NOT NULL DEFAULT false;
CREATE INDEX patients_organization_idx ON patients (organization_id, id DESC) WHERE organization_id IS NOT NULL;
-- A user's personal patients: the front desk that registered 10,000 of its
-- organization's patients still finds its few own ones without walking past those.
CREATE INDEX patients_personal_idx ON patients (owner_id, id DESC) WHERE organization_id IS NULL;

-- A doctor held by an account (claimed by verified email): at most one per user.
ALTER TABLE doctors ADD COLUMN user_id uuid REFERENCES users (id) ON DELETE SET NULL;
CREATE UNIQUE INDEX doctors_user_key ON doctors (user_id);

-- The care team's walk: a held doctor's patients in id order.
DROP INDEX mappings_doctor_idx;
CREATE INDEX mappings_doctor_idx ON mappings (doctor_id, patient_id DESC);

-- Who reaches a patient, and how far (API.md Part 3), decided here and nowhere else:
-- statements compose these through shared/src/access.rs (`reach`). The role table is
-- the org_role_* functions (SQL, inlined where they are called). The reach functions
-- are PL/pgSQL so their queries are planned once per connection and kept (the list's
-- with force_generic_plan: its LIMIT and keyset are parameters, and a custom plan per
-- call is what the function is there to avoid): a statement that composes them plans
-- one function call, not three more joins. Measured
-- on GET-by-id: the same probes inlined as SQL took planning from 0.19 to 0.6 ms, and
-- the request to 40% of its throughput.

CREATE FUNCTION org_role_reaches_patients(role text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN role IN ('owner', 'clinician', 'front_desk');
-- Notes of an unrestricted chart: owners and clinicians; of a restricted one: owners.
CREATE FUNCTION org_role_reads_notes(role text, restricted boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN role = 'owner' OR (role = 'clinician' AND NOT restricted);
CREATE FUNCTION org_role_deletes_patients(role text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN role = 'owner';
-- A personal patient moved in by its owner.
CREATE FUNCTION org_role_receives_patients(role text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN role IN ('owner', 'clinician');
-- Rename, members, invitations.
CREATE FUNCTION org_role_manages(role text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN role = 'owner';
-- The organization's audit and emergency reviews.
CREATE FUNCTION org_role_audits(role text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN role IN ('owner', 'auditor');
-- How a role shows in `access` (the access log's vocabulary), and its strength when a
-- patient is reached several ways (lower is stronger).
CREATE FUNCTION org_role_access(role text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN CASE role WHEN 'owner' THEN 'org_owner' ELSE role END;
CREATE FUNCTION org_role_rank(role text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN CASE role WHEN 'owner' THEN 2 WHEN 'clinician' THEN 4 ELSE 5 END;

-- One patient: its row, with how far, when `actor` reaches it; none otherwise. The
-- personal owner may do everything; the care team (a held doctor assigned to the
-- patient) reads, notes too, restricted or not, and writes, but neither deletes nor
-- assigns; an organization's members as their role allows. Reached several ways: the
-- union of what each allows, and the strongest way as `access`. It answers the row
-- itself, so a statement that only reads the patient plans a function call and nothing
-- more.
CREATE FUNCTION patient_reach(actor uuid, patient uuid)
RETURNS TABLE (id uuid, owner_id uuid, organization_id uuid, name text, date_of_birth date, gender text,
               phone text, email text, address text, notes text, created_at timestamptz, updated_at timestamptz,
               version integer, access text, reads_notes boolean, writes boolean, deletes boolean, assigns boolean)
LANGUAGE plpgsql STABLE ROWS 1 AS $$
DECLARE
  own boolean;
  chart_restricted boolean;
  org_role text;
  care_team boolean;
BEGIN
  SELECT p.id, p.owner_id, p.organization_id, p.name, p.date_of_birth, p.gender, p.phone, p.email, p.address,
         p.notes, p.created_at, p.updated_at, p.version, p.organization_id IS NULL AND p.owner_id = actor,
         p.restricted
    INTO id, owner_id, organization_id, name, date_of_birth, gender, phone, email, address, notes, created_at,
         updated_at, version, own, chart_restricted
    FROM patients p WHERE p.id = patient;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF NOT own AND organization_id IS NOT NULL THEN
    SELECT m.role INTO org_role FROM memberships m
     WHERE m.user_id = actor AND m.organization_id = patient_reach.organization_id
       AND org_role_reaches_patients(m.role);
  END IF;
  -- The personal owner, and an organization's owner, may already do everything: the
  -- care team would add nothing, so it is not looked up. (The answer goes out through
  -- the OUT columns and RETURN NEXT: a RETURN QUERY would be one more query.)
  writes := true;
  IF own OR org_role_deletes_patients(org_role) THEN
    access := CASE WHEN own THEN 'owner' ELSE org_role_access(org_role) END;
    reads_notes := true;
    deletes := true;
    assigns := true;
    RETURN NEXT;
    RETURN;
  END IF;
  care_team := EXISTS (SELECT 1 FROM doctors d JOIN mappings mp ON mp.doctor_id = d.id
                        WHERE d.user_id = actor AND mp.patient_id = patient);
  IF NOT (org_role IS NOT NULL OR care_team) THEN
    RETURN;
  END IF;
  access := CASE WHEN care_team THEN 'care_team' ELSE org_role_access(org_role) END;
  reads_notes := care_team OR org_role_reads_notes(org_role, chart_restricted);
  deletes := false;
  assigns := org_role IS NOT NULL;
  RETURN NEXT;
END
$$;

-- Every patient `actor` reaches - the patient's columns, and how far (as patient_reach)
-- - whose name is like `name_like` (NULL: any), newest first below `after` (NULL: from
-- the newest), at most `page` from each source (NULL: all, for a caller that filters
-- on what the sources cannot see). Each source
-- walks its own index under the keyset and stops at the page: the caller's personal
-- patients by patients_personal_idx, each organization's by patients_organization_idx
-- (once per membership), a held doctor's by mappings_doctor_idx; the union is grouped.
-- No subquery or function runs per patient. It answers the rows themselves so the
-- statement plans a function scan and nothing more (joined back to `patients` there,
-- the list ran at 60-80% of its throughput before organizations).
CREATE FUNCTION patients_reached(actor uuid, organization uuid, personal_only boolean, name_like text, after uuid,
                                 page bigint)
RETURNS TABLE (id uuid, owner_id uuid, organization_id uuid, name text, date_of_birth date, gender text,
               phone text, email text, address text, notes text, created_at timestamptz, updated_at timestamptz,
               version integer, access text, reads_notes boolean, writes boolean, deletes boolean, assigns boolean)
LANGUAGE plpgsql STABLE ROWS 50 SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  below uuid := COALESCE(after, 'ffffffff-ffff-ffff-ffff-ffffffffffff');
BEGIN
  -- Someone with neither a membership nor a held doctor has only personal patients:
  -- one index walk, nothing to merge.
  IF NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = actor
                 UNION ALL SELECT 1 FROM doctors d WHERE d.user_id = actor) THEN
    RETURN QUERY
    SELECT p.id, p.owner_id, p.organization_id, p.name, p.date_of_birth, p.gender, p.phone, p.email, p.address,
           p.notes, p.created_at, p.updated_at, p.version, 'owner'::text, true, true, true, true
      FROM patients p
     WHERE p.owner_id = actor AND p.organization_id IS NULL AND organization IS NULL AND p.id < below
       AND (name_like IS NULL OR p.name ILIKE name_like)
     ORDER BY p.id DESC LIMIT page;
    RETURN;
  END IF;
  RETURN QUERY
  SELECT p.id, p.owner_id, p.organization_id, p.name, p.date_of_birth, p.gender, p.phone, p.email, p.address,
         p.notes, p.created_at, p.updated_at, p.version, r.how, r.notes, r.w, r.d, r.a
  FROM (
    SELECT s.id, (array_agg(s.how ORDER BY s.strength))[1] AS how, bool_or(s.notes) AS notes,
           bool_or(s.w) AS w, bool_or(s.d) AS d, bool_or(s.a) AS a
    FROM (
      (SELECT o.id, 'owner'::text, 1, true, true, true, true
         FROM patients o
        WHERE o.owner_id = actor AND o.organization_id IS NULL AND organization IS NULL AND o.id < below
          AND (name_like IS NULL OR o.name ILIKE name_like)
        ORDER BY o.id DESC LIMIT page)
      UNION ALL
      (SELECT o.id, org_role_access(m.role), org_role_rank(m.role), org_role_reads_notes(m.role, o.restricted),
              true, org_role_deletes_patients(m.role), true
         FROM memberships m
         CROSS JOIN LATERAL (
           SELECT q.id, q.restricted FROM patients q
            WHERE q.organization_id = m.organization_id AND q.id < below
              AND (name_like IS NULL OR q.name ILIKE name_like)
            ORDER BY q.id DESC LIMIT page) o
        WHERE m.user_id = actor AND org_role_reaches_patients(m.role) AND NOT personal_only
          AND (organization IS NULL OR m.organization_id = organization))
      UNION ALL
      (SELECT t.patient_id, 'care_team'::text, 3, true, true, false, false
         FROM doctors d
         CROSS JOIN LATERAL (
           SELECT mp.patient_id FROM mappings mp JOIN patients q ON q.id = mp.patient_id
            WHERE mp.doctor_id = d.id AND mp.patient_id < below
              AND (organization IS NULL OR q.organization_id = organization)
              AND (NOT personal_only OR q.organization_id IS NULL)
              AND (name_like IS NULL OR q.name ILIKE name_like)
            ORDER BY mp.patient_id DESC LIMIT page) t
        WHERE d.user_id = actor)
    ) AS s (id, how, strength, notes, w, d, a)
    GROUP BY s.id
  ) r
  JOIN patients p ON p.id = r.id;
END
$$;
