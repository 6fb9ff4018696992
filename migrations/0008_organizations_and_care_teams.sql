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
