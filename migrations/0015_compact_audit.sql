-- The audit trail, compact (issue: a third of the bytes). An event was ~420 bytes with
-- its indexes: text action, resource type, outcome, access and purpose on every row, a
-- text request id, `at` beside a time-ordered id, four uuids of who and for whom, and
-- four b-trees keyed on (something, id). Now a row holds:
--
--   id           uuid     UUIDv7: its milliseconds are the event's `at`
--   resource_id  uuid     the record it is about
--   request_id   uuid     the request's id, 16 bytes (`audit_request_key`)
--   context      integer  who acted and for whom: actor, organization, emergency grant,
--                         app - a row of `audit_contexts`, shared by every event of that
--                         combination (a clinician's reads in one clinic are one context)
--   kind         smallint what happened: action, resource type, outcome and how the actor
--                         got in (`access`; `purpose` follows from it) - a row of `audit_kinds`
--   source_ip    inet
--
-- six columns (a one-byte null bitmap keeps the header at 24 bytes), and three indexes:
-- the primary key (newest first, the admin list), `resource_id` (the access log; without
-- `id`, so each key is stored once per leaf with its rows' positions, b-tree
-- deduplication) and `(context, id)` (the organization's audit, the actor filter): about
-- 197 bytes an event all told at 10 M events, where it was 451 (docs/scale-findings.md,
-- with the plans). The API finds a page among the compact rows and reads its few events whole
-- through `audit_who` and `audit_what`; the view `audit_trail` gives every event back
-- whole, as it was before (the operator reads it; inserts into it go through).
--
-- This migration rewrites every event already recorded, in the one transaction: minutes
-- for millions of events (docs/OPERATIONS.md).

-- The nil uuid stands for "none" in a context (so equality and a plain unique index
-- work); `audit_trail` shows it as NULL again.
CREATE TABLE audit_contexts (
  id                  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  actor_id            uuid NOT NULL,
  organization_id     uuid NOT NULL,
  emergency_access_id uuid NOT NULL,
  client_id           uuid NOT NULL,
  CONSTRAINT audit_contexts_key UNIQUE (actor_id, organization_id, emergency_access_id, client_id)
);
CREATE INDEX audit_contexts_organization_idx ON audit_contexts (organization_id);

-- `access` is '' for none (as above).
CREATE TABLE audit_kinds (
  id            smallint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  action        text NOT NULL,
  resource_type text NOT NULL,
  outcome       text NOT NULL CHECK (outcome IN ('success', 'denied', 'not_found', 'error')),
  access        text NOT NULL,
  CONSTRAINT audit_kinds_key UNIQUE (action, resource_type, outcome, access)
);

-- Like the events they name, never changed or removed.
CREATE TRIGGER audit_contexts_no_update_delete BEFORE UPDATE OR DELETE ON audit_contexts
  FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_contexts_no_truncate BEFORE TRUNCATE ON audit_contexts
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_kinds_no_update_delete BEFORE UPDATE OR DELETE ON audit_kinds
  FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_kinds_no_truncate BEFORE TRUNCATE ON audit_kinds
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();

-- The context of an event, made on its first use. The lookup is an index probe whose plan
-- PL/pgSQL keeps per connection; two first uses at once meet on the unique key.
CREATE FUNCTION audit_context_id(actor uuid, organization uuid, emergency_grant uuid, client uuid)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  nil constant uuid := '00000000-0000-0000-0000-000000000000';
  found integer;
BEGIN
  SELECT c.id INTO found FROM audit_contexts c
  WHERE c.actor_id = coalesce(actor, nil) AND c.organization_id = coalesce(organization, nil)
    AND c.emergency_access_id = coalesce(emergency_grant, nil) AND c.client_id = coalesce(client, nil);
  IF found IS NULL THEN
    INSERT INTO audit_contexts (actor_id, organization_id, emergency_access_id, client_id)
    VALUES (coalesce(actor, nil), coalesce(organization, nil), coalesce(emergency_grant, nil), coalesce(client, nil))
    ON CONFLICT ON CONSTRAINT audit_contexts_key DO NOTHING
    RETURNING id INTO found;
    IF found IS NULL THEN
      SELECT c.id INTO found FROM audit_contexts c
      WHERE c.actor_id = coalesce(actor, nil) AND c.organization_id = coalesce(organization, nil)
        AND c.emergency_access_id = coalesce(emergency_grant, nil) AND c.client_id = coalesce(client, nil);
    END IF;
  END IF;
  RETURN found;
END
$$;

-- The kind of an event, made on its first use (as above).
CREATE FUNCTION audit_kind_id(event_action text, event_resource_type text, event_outcome text, event_access text)
RETURNS smallint
LANGUAGE plpgsql AS $$
DECLARE
  found smallint;
BEGIN
  SELECT k.id INTO found FROM audit_kinds k
  WHERE k.action = event_action AND k.resource_type = event_resource_type AND k.outcome = event_outcome
    AND k.access = coalesce(event_access, '');
  IF found IS NULL THEN
    INSERT INTO audit_kinds (action, resource_type, outcome, access)
    VALUES (event_action, event_resource_type, event_outcome, coalesce(event_access, ''))
    ON CONFLICT ON CONSTRAINT audit_kinds_key DO NOTHING
    RETURNING id INTO found;
    IF found IS NULL THEN
      SELECT k.id INTO found FROM audit_kinds k
      WHERE k.action = event_action AND k.resource_type = event_resource_type AND k.outcome = event_outcome
        AND k.access = coalesce(event_access, '');
    END IF;
  END IF;
  RETURN found;
END
$$;

-- A request id in 16 bytes. Ours are UUIDs (the local server's, the tests', the worker's
-- and operator's); API Gateway's HTTP API ids are 11 bytes in base64 (`JKJaXmPLvHcESHA=`),
-- kept as a UUID of version 0 - which no generator makes - whose byte 6 is 0x01: byte 0
-- is the length, bytes 1-5 and 7-15 the bytes (up to 14). Anything else (not expected)
-- is kept as 15 bytes of its SHA-256 around byte 6 = 0x02, and reads back as `sha256:<hex>`.
--
-- Neither this nor `audit_request_text` is STRICT, and this one is STABLE (convert_to
-- is): so both are inlined into the statements that use them. A STRICT function whose
-- body is a CASE, or an IMMUTABLE one calling a STABLE one, is not, and runs as a
-- function call planned afresh each time - a fifth of GET-by-id's requests a second.
CREATE FUNCTION audit_request_key(request text) RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE RETURN CASE
  WHEN request ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[1-9a-f][0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$'
    THEN request::uuid
  WHEN request ~ '^[A-Za-z0-9+/]{2,20}={0,2}$' AND length(request) % 4 = 0
       AND length(decode(request, 'base64')) <= 14 AND encode(decode(request, 'base64'), 'base64') = request
    THEN encode(set_byte('\x00'::bytea, 0, length(decode(request, 'base64')))
                || substring(decode(request, 'base64') || '\x0000000000000000000000000000'::bytea FROM 1 FOR 5)
                || '\x01'::bytea
                || substring(decode(request, 'base64') || '\x0000000000000000000000000000'::bytea FROM 6 FOR 9),
                'hex')::uuid
  ELSE encode(set_byte(substring(sha256(convert_to(request, 'UTF8')) FROM 1 FOR 16), 6, 2), 'hex')::uuid
END;

-- The request id as it was given (`audit_request_key`, read back).
CREATE FUNCTION audit_request_text(request uuid) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN CASE get_byte(uuid_send(request), 6)
  WHEN 1 THEN encode(substring(substring(uuid_send(request) FROM 2 FOR 5) || substring(uuid_send(request) FROM 8)
                               FROM 1 FOR get_byte(uuid_send(request), 0)), 'base64')
  WHEN 2 THEN 'sha256:' || encode(substring(uuid_send(request) FROM 1 FOR 6) || substring(uuid_send(request) FROM 8),
                                  'hex')
  ELSE request::text
END;

-- The instant a UUIDv7 was made (to the millisecond): an event's `at`.
CREATE FUNCTION audit_time(id uuid) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN to_timestamp(('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint / 1000.0);

-- The compact table, partitioned by month as before (migrations/0006).
ALTER TABLE audit_events RENAME TO audit_events_wide;
DO $$
DECLARE
  part text;
BEGIN
  FOR part IN SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'audit_events_wide'::regclass LOOP
    EXECUTE format('ALTER TABLE %s RENAME TO %I', part, part || '_wide');
  END LOOP;
END
$$;

CREATE TABLE audit_events (
  id          uuid NOT NULL DEFAULT uuid_v7(),
  resource_id uuid,
  request_id  uuid NOT NULL,
  context     integer NOT NULL,
  kind        smallint NOT NULL,
  source_ip   inet
) PARTITION BY RANGE (id);
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;
SELECT audit_partition_guard('audit_events_default');
CREATE TRIGGER audit_events_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate
  BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
SELECT audit_partition_ensure(m)
FROM (SELECT DISTINCT audit_month_of(id) AS m FROM audit_events_wide) AS months;
-- And this month's and the next ones, as `maintain` keeps them (ops AUDIT_MONTHS_AHEAD).
SELECT audit_partitions_prepare(3);

-- Every event recorded so far, as it was: contexts and kinds first, in bulk.
INSERT INTO audit_contexts (actor_id, organization_id, emergency_access_id, client_id)
SELECT DISTINCT coalesce(actor_id, '00000000-0000-0000-0000-000000000000'),
       coalesce(organization_id, '00000000-0000-0000-0000-000000000000'),
       coalesce(emergency_access_id, '00000000-0000-0000-0000-000000000000'),
       coalesce(client_id, '00000000-0000-0000-0000-000000000000')
FROM audit_events_wide;
INSERT INTO audit_kinds (action, resource_type, outcome, access)
SELECT DISTINCT action, resource_type, outcome, coalesce(access, '') FROM audit_events_wide;
INSERT INTO audit_events (id, resource_id, request_id, context, kind, source_ip)
SELECT w.id, w.resource_id, audit_request_key(w.request_id), c.id, k.id, w.source_ip
FROM audit_events_wide w
JOIN audit_contexts c
  ON c.actor_id = coalesce(w.actor_id, '00000000-0000-0000-0000-000000000000')
 AND c.organization_id = coalesce(w.organization_id, '00000000-0000-0000-0000-000000000000')
 AND c.emergency_access_id = coalesce(w.emergency_access_id, '00000000-0000-0000-0000-000000000000')
 AND c.client_id = coalesce(w.client_id, '00000000-0000-0000-0000-000000000000')
JOIN audit_kinds k
  ON k.action = w.action AND k.resource_type = w.resource_type AND k.outcome = w.outcome
 AND k.access = coalesce(w.access, '')
ORDER BY w.id;
DROP TABLE audit_events_wide;

-- The indexes the reads use (docs/SCALE.md has each one's plan), made after the copy.
ALTER TABLE audit_events ADD CONSTRAINT audit_events_pkey PRIMARY KEY (id);
CREATE INDEX audit_events_resource_idx ON audit_events (resource_id) WHERE resource_id IS NOT NULL;
-- (context, id), not (context) alone: the organization's audit and the admin list's
-- actor filter take the newest events of each context along it. Without `id` a page of
-- a small clinic walked the whole primary key past everyone else's events (1.8 s at
-- 10 M events); with it, about 53 bytes more an event (docs/scale-findings.md).
CREATE INDEX audit_events_context_idx ON audit_events (context, id);

-- Who and what, as the events name them: "none" (the nil uuid, '') as NULL again, and
-- the purpose that follows from the access. A page of events is found among the compact
-- rows, then joined to these for its few rows (the admin list, the access log, the
-- organization's audit).
CREATE VIEW audit_who AS
SELECT id AS context,
       nullif(actor_id, '00000000-0000-0000-0000-000000000000') AS actor_id,
       nullif(organization_id, '00000000-0000-0000-0000-000000000000') AS organization_id,
       nullif(emergency_access_id, '00000000-0000-0000-0000-000000000000') AS emergency_access_id,
       nullif(client_id, '00000000-0000-0000-0000-000000000000') AS client_id
FROM audit_contexts;

CREATE VIEW audit_what AS
SELECT id AS kind, action, resource_type, outcome, nullif(access, '') AS access,
       access_purpose(nullif(access, '')) AS purpose
FROM audit_kinds;

-- Every event whole, as it was before this migration: what the operator reads, and
-- what tests and loads insert into.
CREATE VIEW audit_trail AS
SELECT e.id,
       audit_time(e.id) AS at,
       w.actor_id,
       k.action,
       k.resource_type,
       e.resource_id,
       k.outcome,
       audit_request_text(e.request_id) AS request_id,
       e.source_ip,
       w.organization_id,
       k.access,
       k.purpose,
       w.emergency_access_id,
       w.client_id,
       e.context,
       e.kind
FROM audit_events e
JOIN audit_who w ON w.context = e.context
JOIN audit_what k ON k.kind = e.kind;

-- An event written whole (tests, synthetic loads) goes through to the compact table;
-- `at` and `purpose` are not stored (the id's instant, and from `access`).
CREATE FUNCTION audit_trail_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_events (id, resource_id, request_id, context, kind, source_ip)
  VALUES (coalesce(NEW.id, uuid_v7()), NEW.resource_id, audit_request_key(NEW.request_id),
          audit_context_id(NEW.actor_id, NEW.organization_id, NEW.emergency_access_id, NEW.client_id),
          audit_kind_id(NEW.action, NEW.resource_type, NEW.outcome, NEW.access), NEW.source_ip)
  RETURNING id INTO NEW.id;
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_trail_insert INSTEAD OF INSERT ON audit_trail
  FOR EACH ROW EXECUTE FUNCTION audit_trail_insert();

-- Seals (ops seal-audit, verify-audit): each covers the events of a range of ids, never
-- more than a month, in chunks of a thousand, and chains to the one before by hash.
-- Hashes are hex SHA-256. Append-only, like the events.
CREATE TABLE audit_seals (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  month        date NOT NULL,
  lower_id     uuid NOT NULL,
  upper_id     uuid NOT NULL CHECK (lower_id < upper_id),
  sealed_until timestamptz NOT NULL,
  events       bigint NOT NULL CHECK (events >= 0),
  digest       text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  previous     text CHECK (previous ~ '^[0-9a-f]{64}$'),
  hash         text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  sealed_at    timestamptz NOT NULL DEFAULT now()
);
-- One chain: a seal follows exactly one, and only the first follows none.
CREATE UNIQUE INDEX audit_seals_previous_key ON audit_seals (previous);
CREATE UNIQUE INDEX audit_seals_first_key ON audit_seals ((previous IS NULL)) WHERE previous IS NULL;
CREATE TABLE audit_seal_chunks (
  seal_id  bigint NOT NULL REFERENCES audit_seals (id),
  number   integer NOT NULL,
  first_id uuid NOT NULL,
  events   integer NOT NULL CHECK (events > 0),
  digest   text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  PRIMARY KEY (seal_id, number)
);

-- Months written to S3 by `ops archive-audit`, verified and then dropped from Postgres.
CREATE TABLE audit_archives (
  month        date PRIMARY KEY,
  object_key   text NOT NULL,
  manifest_key text NOT NULL,
  events       bigint NOT NULL,
  first_id     uuid,
  last_id      uuid,
  bytes        bigint NOT NULL,
  sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  retain_until timestamptz NOT NULL,
  archived_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER audit_seals_no_update_delete BEFORE UPDATE OR DELETE ON audit_seals
  FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_seal_chunks_no_update_delete BEFORE UPDATE OR DELETE ON audit_seal_chunks
  FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_seal_chunks_no_truncate BEFORE TRUNCATE ON audit_seal_chunks
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_archives_no_update_delete BEFORE UPDATE OR DELETE ON audit_archives
  FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_archives_no_truncate BEFORE TRUNCATE ON audit_archives
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();

-- Records an archived month and drops its partition, in one transaction: the events
-- leave Postgres only with the record of where they went. Refuses a month whose
-- partition is not there (archived already, or never made).
CREATE FUNCTION audit_month_archive(archived_month date, object text, manifest text, event_count bigint,
                                    first uuid, last uuid, object_bytes bigint, object_sha256 text,
                                    retained_until timestamptz)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  name text := 'audit_events_' || to_char(archived_month, 'YYYY_MM');
BEGIN
  IF to_regclass(name) IS NULL THEN
    RAISE EXCEPTION 'no partition % to archive', name USING ERRCODE = 'undefined_table';
  END IF;
  INSERT INTO audit_archives (month, object_key, manifest_key, events, first_id, last_id, bytes, sha256, retain_until)
  VALUES (archived_month, object, manifest, event_count, first, last, object_bytes, object_sha256, retained_until);
  PERFORM set_config('lock_timeout', '10s', true);
  EXECUTE format('ALTER TABLE audit_events DETACH PARTITION %I', name);
  EXECUTE format('DROP TABLE %I', name);
  RETURN name;
END
$$;
