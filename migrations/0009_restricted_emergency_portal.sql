-- Restricted charts, emergency access ("break-glass"), the patient portal, and who
-- looked at a record (API.md Part 3). The access rules stay in one place: the reach
-- functions of 0008 are replaced here with the grant holder and the portal user added,
-- and the audit trail gains how each access was let in, filled by the one audit insert
-- from the same statement's `reach` (shared/src/audit.rs).

-- The patient's own account (the portal): read only. A user may hold several (a parent).
ALTER TABLE patients ADD COLUMN portal_user_id uuid REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX patients_portal_idx ON patients (portal_user_id, id DESC) WHERE portal_user_id IS NOT NULL;

CREATE TABLE portal_invitations (
  id          uuid PRIMARY KEY DEFAULT uuid_v7(),
  patient_id  uuid NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  email       text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
  token_hash  bytea NOT NULL UNIQUE,
  invited_by  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  accepted_by uuid REFERENCES users (id) ON DELETE SET NULL,
  accepted_at timestamptz
);

-- An emergency grant. It lives while `expires_at` is ahead of the statement's clock
-- (`now()`); ending it early sets both `ended_at` and `expires_at` to that instant, so
-- liveness is one comparison. The review record outlives the chart: a deleted
-- patient's grants keep their rows with `patient_id` NULL.
CREATE TABLE emergency_access (
  id              uuid PRIMARY KEY DEFAULT uuid_v7(),
  patient_id      uuid REFERENCES patients (id) ON DELETE SET NULL,
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  reason          text NOT NULL CHECK (char_length(reason) BETWEEN 20 AND 500),
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  ended_at        timestamptz,
  review_outcome  text CHECK (review_outcome IN ('justified', 'unjustified')),
  reviewed_by     uuid REFERENCES users (id) ON DELETE SET NULL,
  reviewed_at     timestamptz,
  review_comment  text CHECK (char_length(review_comment) <= 1000),
  CHECK ((review_outcome IS NULL) = (reviewed_at IS NULL))
);
-- patient_reach's probe: the holder's grants for one patient, latest expiry first.
CREATE INDEX emergency_access_holder_idx ON emergency_access (user_id, patient_id, expires_at DESC);
-- The organization's review list, all or unreviewed only.
CREATE INDEX emergency_access_organization_idx ON emergency_access (organization_id, id DESC);
CREATE INDEX emergency_access_unreviewed_idx ON emergency_access (organization_id, id DESC)
  WHERE reviewed_at IS NULL;

-- How each audited access was let in (NULL where it does not apply). Adding nullable
-- columns without a default rewrites nothing, on any partition.
ALTER TABLE audit_events
  ADD COLUMN organization_id uuid,
  ADD COLUMN access text,
  ADD COLUMN purpose text,
  ADD COLUMN emergency_access_id uuid;
-- The organization's audit (`GET /api/orgs/{id}/audit`); the access log walks
-- audit_events_resource_idx.
CREATE INDEX audit_events_organization_idx ON audit_events (organization_id, id DESC)
  WHERE organization_id IS NOT NULL;

-- Why an access happened, from how it was let in (the access log's `purpose`).
CREATE FUNCTION access_purpose(access text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN CASE
  WHEN access IN ('owner', 'org_owner', 'clinician', 'care_team') THEN 'treatment'
  WHEN access = 'emergency' THEN 'emergency'
  WHEN access IN ('admin', 'front_desk', 'auditor') THEN 'operations'
  WHEN access = 'patient' THEN 'patient'
END;

-- Who may break the glass: a clinician (owners and the care team read every chart's
-- notes already; the front desk never reads notes; an auditor reaches no patient). A
-- grant gives notes only while its holder still has this role in the organization.
CREATE FUNCTION org_role_breaks_glass(role text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN role = 'clinician';

-- Who is alerted when a grant opens in an organization: its owners.
CREATE FUNCTION organization_alerted(organization uuid) RETURNS TABLE (email text)
LANGUAGE sql STABLE AS $$
  SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
   WHERE m.organization_id = organization AND org_role_manages(m.role)
$$;

-- The reach functions answer three more columns: `restricted`, `writes_notes` (reads
-- and writes them: also who may set `restricted`), and the live grant that opened the
-- notes (`emergency_access_id`, with access `emergency`).
DROP FUNCTION patient_reach(uuid, uuid);
DROP FUNCTION patients_reached(uuid, uuid, boolean, text, uuid, bigint);

-- One patient: its row, with how far, when `actor` reaches it; none otherwise. The
-- personal owner and an organization's owner may do everything; the care team reads
-- (notes too, restricted or not) and writes, but neither deletes nor assigns; a
-- clinician of a restricted chart reads its notes only under a live grant (and never
-- writes them); the patient's portal user reads, notes too, and writes nothing. Reached
-- several ways: the union of what each allows, and the strongest way as `access`.
CREATE FUNCTION patient_reach(actor uuid, patient uuid)
RETURNS TABLE (id uuid, owner_id uuid, organization_id uuid, name text, date_of_birth date, gender text,
               phone text, email text, address text, notes text, created_at timestamptz, updated_at timestamptz,
               version integer, restricted boolean, access text, reads_notes boolean, writes boolean,
               writes_notes boolean, deletes boolean, assigns boolean, emergency_access_id uuid)
LANGUAGE plpgsql STABLE ROWS 1 AS $$
DECLARE
  own boolean;
  portal boolean;
  org_role text;
  care_team boolean;
BEGIN
  SELECT p.id, p.owner_id, p.organization_id, p.name, p.date_of_birth, p.gender, p.phone, p.email, p.address,
         p.notes, p.created_at, p.updated_at, p.version, p.restricted,
         p.organization_id IS NULL AND p.owner_id = actor, p.portal_user_id IS NOT DISTINCT FROM actor
    INTO id, owner_id, organization_id, name, date_of_birth, gender, phone, email, address, notes, created_at,
         updated_at, version, restricted, own, portal
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

-- Every patient `actor` reaches - the patient's columns, and how far (as patient_reach)
-- - whose name is like `name_like` (NULL: any), newest first below `after` (NULL: from
-- the newest), at most `page` from each source (NULL: all, for a caller that filters
-- on what the sources cannot see). Each source walks its own index under the keyset
-- and stops at the page: the caller's personal patients by patients_personal_idx, each
-- organization's by patients_organization_idx (once per membership), a held doctor's
-- by mappings_doctor_idx, the portal user's by patients_portal_idx; the union is
-- grouped. No subquery or function runs per patient. A list never opens notes through
-- an emergency grant: they are read one patient at a time, each read audited with the
-- grant (`emergency_access_id` is NULL here).
CREATE FUNCTION patients_reached(actor uuid, organization uuid, personal_only boolean, name_like text, after uuid,
                                 page bigint)
RETURNS TABLE (id uuid, owner_id uuid, organization_id uuid, name text, date_of_birth date, gender text,
               phone text, email text, address text, notes text, created_at timestamptz, updated_at timestamptz,
               version integer, restricted boolean, access text, reads_notes boolean, writes boolean,
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
           p.notes, p.created_at, p.updated_at, p.version, p.restricted, 'owner'::text, true, true, true, true,
           true, NULL::uuid
      FROM patients p
     WHERE p.owner_id = actor AND p.organization_id IS NULL AND organization IS NULL AND p.id < below
       AND (name_like IS NULL OR p.name ILIKE name_like)
     ORDER BY p.id DESC LIMIT page;
    RETURN;
  END IF;
  RETURN QUERY
  SELECT p.id, p.owner_id, p.organization_id, p.name, p.date_of_birth, p.gender, p.phone, p.email, p.address,
         p.notes, p.created_at, p.updated_at, p.version, p.restricted, r.how, r.notes, r.w, r.wn, r.d, r.a,
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

-- Whether `actor` may break the glass on `patient`: 'allowed' (a clinician of its
-- organization who cannot read its notes), 'reads_notes' (they can already: 409),
-- 'refused' (another member of its organization: 403), or 'none' (404).
CREATE FUNCTION emergency_access_standing(actor uuid, patient uuid) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  org uuid;
  org_role text;
BEGIN
  IF EXISTS (SELECT 1 FROM patient_reach(actor, patient) r WHERE r.reads_notes) THEN
    RETURN 'reads_notes';
  END IF;
  SELECT p.organization_id INTO org FROM patients p WHERE p.id = patient;
  SELECT m.role INTO org_role FROM memberships m WHERE m.user_id = actor AND m.organization_id = org;
  RETURN CASE WHEN org_role_breaks_glass(org_role) THEN 'allowed' WHEN org_role IS NOT NULL THEN 'refused'
              ELSE 'none' END;
END
$$;

-- Who may read a patient's access log: its personal owner, its portal user, owners and
-- auditors of its organization (`reads_log`); anyone else who reaches it gets the row
-- with `reads_log` false (403); nobody else gets a row (404). `access` is how they came
-- in (an auditor's is `auditor`: it reaches no patient otherwise).
CREATE FUNCTION patient_log_reach(actor uuid, patient uuid)
RETURNS TABLE (id uuid, organization_id uuid, access text, reads_log boolean, emergency_access_id uuid)
LANGUAGE plpgsql STABLE ROWS 1 AS $$
DECLARE
  own boolean;
  portal boolean;
  org_role text;
BEGIN
  SELECT p.id, p.organization_id, p.organization_id IS NULL AND p.owner_id = actor,
         p.portal_user_id IS NOT DISTINCT FROM actor
    INTO id, organization_id, own, portal
    FROM patients p WHERE p.id = patient;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  SELECT m.role INTO org_role FROM memberships m
   WHERE m.user_id = actor AND m.organization_id = patient_log_reach.organization_id;
  IF own OR portal OR org_role_audits(org_role) THEN
    access := CASE WHEN own THEN 'owner' WHEN org_role = 'owner' THEN org_role_access(org_role)
                   WHEN portal THEN 'patient' ELSE org_role END;
    reads_log := true;
    RETURN NEXT;
    RETURN;
  END IF;
  SELECT r.access, r.emergency_access_id INTO access, emergency_access_id FROM patient_reach(actor, patient) r;
  IF FOUND THEN
    reads_log := false;
    RETURN NEXT;
  END IF;
END
$$;
