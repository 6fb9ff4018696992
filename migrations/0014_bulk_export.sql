-- Bulk export (API.md Part 5, "Bulk export"): a job per kick-off, written in parts by a
-- worker outside the request (functions/export) and read through the FHIR function.
--
-- The job row is the whole truth about an export: who asked (the user, the app acting
-- for them and what narrowed it), what (types, `_since`, the organization of a Group
-- export), how far the worker got (the type it is on and the keyset cursor below which
-- every row is in a committed file), and who holds the work (a lease with a fencing
-- token). Files are rows of `export_files`, each committed in the same statement that
-- moves the cursor and audits its patients, so a worker that dies loses only the file
-- it was writing; the next one starts that file again from the cursor. Cancelling
-- deletes the job, and with it every row below.

-- The smallest UUIDv7 made after `at` (its millisecond, plus one): a keyset bound below
-- which every row was created at or before `at` (ids are UUIDv7, made by clock).
CREATE FUNCTION uuid_v7_after(at timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT encode(
    substring(int8send((floor(extract(epoch FROM at) * 1000) + 1)::bigint) FROM 3)
      || '\x70008000000000000000'::bytea,
    'hex')::uuid
$$;

-- Who may export an organization's patients through `Group/{id}/$export`: its owners,
-- and its backend apps.
CREATE FUNCTION org_role_exports(role text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT role = 'owner' $$;

-- Whether `actor` may export `organization` (`Group/{id}/$export`): as one of its owners,
-- or as its backend app (`backend_organization`: the organization of the backend app
-- whose token acts, whose registrant `app_admits` keeps a member). No organization
-- (`Patient/$export`): yes, for whatever the actor reaches. Asked at kick-off, by every
-- batch of the worker, and by every download.
CREATE FUNCTION export_group_allowed(actor uuid, organization uuid, backend_organization uuid)
RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT organization IS NULL OR organization IS NOT DISTINCT FROM backend_organization
      OR EXISTS (SELECT 1 FROM memberships m
                 WHERE m.organization_id = organization AND m.user_id = actor AND org_role_exports(m.role))
$$;

-- An unattended statement's guard (a bulk export's worker, long after the request and
-- its token): the user still active and, for an app, the app still admitting them
-- (`app_admits`: its membership). Raises HC401 like `require_live_session`.
CREATE FUNCTION require_standing(actor uuid, app uuid)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM 1 FROM users u
  WHERE u.id = actor AND u.status = 'active' AND (app IS NULL OR app_admits(app, actor));
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the requester no longer has access' USING ERRCODE = 'HC401';
  END IF;
  RETURN true;
END
$$;

CREATE TABLE export_jobs (
  id                uuid PRIMARY KEY DEFAULT uuid_v7(),
  user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- The role the token carried at kick-off, as for every statement the token runs.
  role              text NOT NULL CHECK (role IN ('user', 'admin')),
  -- The app acting for the user, and how its grant narrowed the reach (`AppGrant`).
  client_id         uuid REFERENCES oauth_apps (id) ON DELETE CASCADE,
  app_organization  uuid,
  app_patient       uuid,
  -- The organization of the backend app whose token started it (`export_group_allowed`).
  backend_organization uuid,
  -- A Group export's organization (NULL: `Patient/$export`, whatever the user reaches).
  organization_id   uuid REFERENCES organizations (id) ON DELETE CASCADE,
  types             text[] NOT NULL CHECK (types <@ ARRAY['Patient', 'Practitioner'] AND cardinality(types) > 0),
  since             timestamptz,
  -- The kick-off URL as the client sent it, for the manifest's `request`.
  request           text NOT NULL CHECK (char_length(request) <= 2000),
  transaction_time  timestamptz NOT NULL DEFAULT now(),
  -- `refused`: the requester's access ended while it ran (403); `failed`: the worker
  -- failed again and again (500). Either way no manifest is ever answered.
  state             text NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'done', 'refused', 'failed')),
  -- Why it stopped, in words for the requester (no patient data).
  failure           text CHECK (char_length(failure) <= 300),
  -- The type being walked, and the keyset cursor (rows are walked newest first; every
  -- row above it is in a committed file). It starts just above `transaction_time`.
  phase             text NOT NULL DEFAULT 'Patient' CHECK (phase IN ('Patient', 'Practitioner')),
  cursor            uuid,
  files             integer NOT NULL DEFAULT 0,
  exported          bigint NOT NULL DEFAULT 0,
  -- The worker holding the job, and until when; a statement of a worker whose lease
  -- was taken over finds no job (its `lease` is no longer the job's).
  lease             uuid,
  lease_until       timestamptz,
  attempts          integer NOT NULL DEFAULT 0,
  -- When the worker was last started for it, and when the client last polled.
  dispatched_at     timestamptz NOT NULL DEFAULT now(),
  polled_at         timestamptz,
  completed_at      timestamptz
);
-- One export at a time per requester (user and app): a second kick-off is 429 while the
-- first is queued or running. NULL (no app) counts as one app.
CREATE UNIQUE INDEX export_jobs_one_running
  ON export_jobs (user_id, COALESCE(client_id, '00000000-0000-0000-0000-000000000000'::uuid))
  WHERE state IN ('queued', 'running');
-- `ops prune` removes jobs past their day (their files expire in S3 with them).
CREATE INDEX export_jobs_created_idx ON export_jobs (transaction_time);

CREATE TABLE export_files (
  job_id  uuid NOT NULL REFERENCES export_jobs (id) ON DELETE CASCADE,
  seq     integer NOT NULL CHECK (seq >= 1),
  type    text NOT NULL CHECK (type IN ('Patient', 'Practitioner')),
  -- The S3 object (it names the lease that wrote it: a worker that lost its lease
  -- never overwrites the file of the one that took over).
  key     text NOT NULL,
  count   integer NOT NULL CHECK (count > 0),
  bytes   bigint NOT NULL CHECK (bytes > 0),
  PRIMARY KEY (job_id, seq)
);

-- The doctors assigned to the patients walked so far: the Practitioner phase exports
-- these (the directory's rows as they are then), once each.
CREATE TABLE export_practitioners (
  job_id    uuid NOT NULL REFERENCES export_jobs (id) ON DELETE CASCADE,
  doctor_id uuid NOT NULL,
  PRIMARY KEY (job_id, doctor_id)
);
