-- Patients (owned by the user who created them), the shared doctor directory, and the
-- assignments between them. Length and set rules repeat the API's validation, so a
-- value that slips past it is still refused here (and answered 400, never stored).

CREATE TABLE patients (
  id            uuid PRIMARY KEY DEFAULT uuid_v7(),
  -- RESTRICT: an account with patients cannot be deleted by accident; medical records
  -- must be moved or removed deliberately.
  owner_id      uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  date_of_birth date NOT NULL CHECK (date_of_birth >= DATE '1900-01-01'),
  gender        text NOT NULL DEFAULT 'unknown' CHECK (gender IN ('female', 'male', 'other', 'unknown')),
  phone         text CHECK (char_length(phone) BETWEEN 7 AND 20),
  email         text CHECK (char_length(email) <= 254),
  address       text CHECK (char_length(address) <= 500),
  notes         text CHECK (char_length(notes) <= 5000),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  version       integer NOT NULL DEFAULT 1 CHECK (version >= 1)
);
-- A user's own list, newest first (ids are time-ordered).
CREATE INDEX patients_owner_idx ON patients (owner_id, id DESC);

CREATE TABLE doctors (
  id             uuid PRIMARY KEY DEFAULT uuid_v7(),
  name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  specialization text NOT NULL CHECK (char_length(specialization) BETWEEN 1 AND 100),
  email          text CHECK (char_length(email) <= 254),
  phone          text CHECK (char_length(phone) BETWEEN 7 AND 20),
  license_number text CHECK (char_length(license_number) BETWEEN 1 AND 50),
  created_by     uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  version        integer NOT NULL DEFAULT 1 CHECK (version >= 1)
);
-- Licence numbers are identifiers: "ab-123" and "AB-123" are the same licence.
-- Several doctors may have none (NULLs are distinct).
CREATE UNIQUE INDEX doctors_license_number_key ON doctors (upper(license_number));
CREATE INDEX doctors_specialization_idx ON doctors (lower(specialization), id DESC);

CREATE TABLE mappings (
  id          uuid PRIMARY KEY DEFAULT uuid_v7(),
  -- A deleted patient or doctor takes its assignments along.
  patient_id  uuid NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  doctor_id   uuid NOT NULL REFERENCES doctors (id) ON DELETE CASCADE,
  assigned_by uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  assigned_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT mappings_patient_doctor_key UNIQUE (patient_id, doctor_id)
);
CREATE INDEX mappings_doctor_idx ON mappings (doctor_id);
CREATE INDEX mappings_patient_idx ON mappings (patient_id, id DESC);
