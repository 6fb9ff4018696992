-- Versions of a patient (API.md Part 5, "Versions and history"): every change keeps the
-- version it replaced, with who made that version and when. HIPAA's integrity control:
-- who changed what, and what it was before.
--
-- The version is kept by a trigger of the UPDATE itself, so every statement that
-- changes a patient (REST, FHIR, and any written later) keeps it in the same statement
-- and round trip, and none can forget to. The current version stays in `patients`;
-- `updated_by` there names who made it (NULL for versions made before this migration).
ALTER TABLE patients ADD COLUMN updated_by uuid;

-- No foreign keys to users or organizations: like the audit trail, a version keeps the
-- ids it had. Deleting the patient deletes its versions (the audit trail keeps the ids).
CREATE TABLE patient_versions (
  patient_id      uuid NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  version         integer NOT NULL,
  organization_id uuid,
  name            text NOT NULL,
  date_of_birth   date NOT NULL,
  gender          text NOT NULL,
  phone           text,
  email           text,
  address         text,
  notes           text,
  restricted      boolean NOT NULL,
  changed_at      timestamptz NOT NULL,
  changed_by      uuid,
  PRIMARY KEY (patient_id, version)
);

CREATE FUNCTION patients_keep_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO patient_versions (patient_id, version, organization_id, name, date_of_birth, gender, phone, email,
                                address, notes, restricted, changed_at, changed_by)
  VALUES (OLD.id, OLD.version, OLD.organization_id, OLD.name, OLD.date_of_birth, OLD.gender, OLD.phone, OLD.email,
          OLD.address, OLD.notes, OLD.restricted, OLD.updated_at, OLD.updated_by);
  RETURN NEW;
END
$$;
-- Only a new version is a change of the record: linking a portal user is not.
CREATE TRIGGER patients_keep_version
  AFTER UPDATE ON patients
  FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version) EXECUTE FUNCTION patients_keep_version();

-- Append-only, like audit_events; the one DELETE let through is the cascade of the
-- patient's own deletion (the patient row is gone by then).
CREATE FUNCTION patient_versions_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM patients WHERE id = OLD.patient_id) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'patient_versions is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER patient_versions_no_update_delete
  BEFORE UPDATE OR DELETE ON patient_versions
  FOR EACH ROW EXECUTE FUNCTION patient_versions_refuse_change();
CREATE TRIGGER patient_versions_no_truncate
  BEFORE TRUNCATE ON patient_versions
  FOR EACH STATEMENT EXECUTE FUNCTION patient_versions_refuse_change();
