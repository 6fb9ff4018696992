-- The audit trail, partitioned by month. Every audited read adds a row (86 million a
-- day at 1,000 reads a second), and HIPAA asks for six years: partitions keep each
-- month's indexes small, and let an old month go as one DROP instead of a DELETE of
-- billions of rows.
--
-- Partitioned by RANGE on `id`, not `at`: ids are UUIDv7, whose first 48 bits are the
-- Unix time in ms, so a month is a range of ids. The primary key stays `id` alone (a
-- partitioned table's keys must include its partition key), and the admin list's
-- `ORDER BY id DESC LIMIT n` reads the newest partitions first.
--
-- A DEFAULT partition catches any row no month partition covers (the operator's daily
-- `maintain` lapsed): a write must never fail for want of a partition. `maintain`
-- moves such rows into their month's partition.

-- The smallest UUIDv7 of the month `month` falls in (UTC): a partition bound.
CREATE FUNCTION audit_month_bound(month date) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT encode(
    substring(int8send((extract(epoch FROM date_trunc('month', month::timestamp) AT TIME ZONE 'UTC') * 1000)::bigint)
              FROM 3)
      || '\x00000000000000000000'::bytea,
    'hex')::uuid
$$;

-- The month (UTC) a UUIDv7 was made in.
CREATE FUNCTION audit_month_of(id uuid) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT date_trunc('month',
    to_timestamp(('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint / 1000.0) AT TIME ZONE 'UTC')::date
$$;

ALTER TABLE audit_events RENAME TO audit_events_unpartitioned;

CREATE TABLE audit_events (
  id            uuid NOT NULL DEFAULT uuid_v7(),
  at            timestamptz NOT NULL DEFAULT now(),
  actor_id      uuid,
  action        text NOT NULL,
  resource_type text NOT NULL,
  resource_id   uuid,
  outcome       text NOT NULL CHECK (outcome IN ('success', 'denied', 'not_found', 'error')),
  request_id    text NOT NULL,
  source_ip     inet
) PARTITION BY RANGE (id);

CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

-- Append-only, as before. The row trigger is cloned onto every partition, present and
-- future; TRUNCATE triggers are not (a partition can be truncated by name), so each
-- partition gets its own: audit_partition_guard().
CREATE TRIGGER audit_events_no_update_delete
  BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate
  BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();

CREATE FUNCTION audit_partition_guard(partition regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %s
                  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()', partition);
END
$$;
SELECT audit_partition_guard('audit_events_default');

INSERT INTO audit_events SELECT * FROM audit_events_unpartitioned;
DROP TABLE audit_events_unpartitioned;

ALTER TABLE audit_events ADD CONSTRAINT audit_events_pkey PRIMARY KEY (id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id DESC);
CREATE INDEX audit_events_resource_idx ON audit_events (resource_type, resource_id, id DESC);
CREATE INDEX audit_events_action_idx ON audit_events (action, id DESC);

-- The partition for the month `month` falls in, created if missing (guarded like the
-- others); returns its name. Fails if the default partition holds rows of that month:
-- audit_partitions_prepare() moves those first.
CREATE FUNCTION audit_partition_ensure(month date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  first date := date_trunc('month', month::timestamp)::date;
  name text := 'audit_events_' || to_char(first, 'YYYY_MM');
BEGIN
  IF to_regclass(name) IS NULL THEN
    EXECUTE format('CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
                   name, audit_month_bound(first), audit_month_bound((first + interval '1 month')::date));
    PERFORM audit_partition_guard(name::regclass);
  END IF;
  RETURN name;
END
$$;

-- Creates the partitions for this month and the `ahead` months after it, and for any
-- month whose rows the default partition holds, moving those rows in. Idempotent;
-- returns the partitions it created. Moving means swapping in an empty default and
-- re-inserting the rows (the same rows, ids included) in this one transaction: rows
-- are never updated or deleted, so the append-only triggers stay as they are.
CREATE FUNCTION audit_partitions_prepare(ahead integer) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
  this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
  stray date[];
  month date;
  created text[] := '{}';
BEGIN
  IF ahead < 0 OR ahead > 24 THEN
    RAISE EXCEPTION 'ahead must be 0 to 24 months, not %', ahead USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- Waiting behind a long query for the parent's lock would stall every audited write.
  PERFORM set_config('lock_timeout', '10s', true);
  SELECT array_agg(DISTINCT audit_month_of(id)) INTO stray FROM audit_events_default;
  IF stray IS NOT NULL THEN
    ALTER TABLE audit_events DETACH PARTITION audit_events_default;
    ALTER TABLE audit_events_default RENAME TO audit_events_default_moving;
    CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;
    PERFORM audit_partition_guard('audit_events_default');
  END IF;
  FOR month IN
    SELECT m::date FROM generate_series(this_month, this_month + make_interval(months => ahead), '1 month') m
    UNION SELECT unnest(stray)
    ORDER BY 1
  LOOP
    IF to_regclass('audit_events_' || to_char(month, 'YYYY_MM')) IS NULL THEN
      created := created || audit_partition_ensure(month);
    END IF;
  END LOOP;
  IF stray IS NOT NULL THEN
    INSERT INTO audit_events SELECT * FROM audit_events_default_moving;
    DROP TABLE audit_events_default_moving;
  END IF;
  RETURN created;
END
$$;

-- The month partitions whose every event is at least `retention_months` old: the
-- partition's month ended that many months before this month began. The default
-- partition is never among them.
CREATE FUNCTION audit_partitions_expired(retention_months integer) RETURNS SETOF text
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF retention_months < 1 THEN
    RAISE EXCEPTION 'retention must be at least 1 month, not %', retention_months
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN QUERY
    SELECT c.relname::text
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'audit_events'::regclass
      AND c.relname ~ '^audit_events_[0-9]{4}_[0-9]{2}$'
      AND to_date(substr(c.relname, 14), 'YYYY_MM') + interval '1 month'
          <= date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => retention_months)
    ORDER BY 1;
END
$$;

-- Detaches and drops the expired partitions, events and all: only ever run by an
-- operator's explicit command (`ops drop-expired-audit`), never by a schedule.
CREATE FUNCTION audit_partitions_drop_expired(retention_months integer) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
  name text;
  dropped text[] := '{}';
BEGIN
  PERFORM set_config('lock_timeout', '10s', true);
  FOR name IN SELECT audit_partitions_expired(retention_months) LOOP
    EXECUTE format('ALTER TABLE audit_events DETACH PARTITION %I', name);
    EXECUTE format('DROP TABLE %I', name);
    dropped := dropped || name;
  END LOOP;
  RETURN dropped;
END
$$;

SELECT audit_partitions_prepare(3);
