-- Synthetic audit events for scripts/fleet's audit-growth runs: ROWS events spread evenly
-- over the past MONTHS months, as if the API had written them all along.
--
--   psql -qAt -v ON_ERROR_STOP=1 -v rows=1000000 -v months=24 [-v chunk=1000000] <this file
--
-- chunk: rows per INSERT (each its own transaction, with a progress line after it).
--
-- Needs audit_partition_ensure(month date) from the migrations: every month the events
-- fall in gets its partition before the first row arrives.

\set ON_ERROR_STOP on
\if :{?chunk}
\else
  \set chunk 1000000
\endif

-- Partitions hold UTC calendar months (their bounds are UUIDv7 milliseconds since the epoch).
SET TimeZone = 'UTC';
-- Progress lines only, not a notice per partition that already exists.
SET client_min_messages = warning;

-- One clock for the whole load: every chunk shares the window, and times its progress
-- from the same start.
SELECT extract(epoch FROM now() - make_interval(months => :months)) AS load_from,
       extract(epoch FROM now() - (now() - make_interval(months => :months))) / :rows AS load_step,
       clock_timestamp() AS load_started
\gset

SELECT format('%s monthly partitions in place', count(*))
FROM (SELECT audit_partition_ensure(m::date)
      FROM generate_series(date_trunc('month', to_timestamp(:load_from)), date_trunc('month', now()), interval '1 month') AS m) AS p;

-- Who acts and what they do, made first (as the API makes them on first use): a context
-- per actor of the pool, a kind per action, resource type and outcome of the mix below.
-- Their ids are kept in order, so each row picks its own by number: no join for the
-- planner to misjudge (joined on expressions, it estimated six rows and nested a loop).
SELECT array_agg(audit_context_id(md5('fleet-actor-' || a)::uuid, NULL, NULL, NULL) ORDER BY a) AS contexts
FROM generate_series(1, 1000) AS a
\gset
SELECT array_agg(audit_kind_id(x.action, x.resource_type, o.outcome, NULL) ORDER BY x.n, o.n) AS kinds
FROM unnest(ARRAY['patient.read', 'patient.list', 'auth.login', 'patient.update', 'mapping.read', 'patient.create',
                  'auth.login_failed', 'auth.logout', 'mapping.list', 'user.read', 'doctor.update'],
            ARRAY['patient', 'patient', 'user', 'patient', 'mapping', 'patient',
                  'user', 'user', 'mapping', 'user', 'doctor']) WITH ORDINALITY AS x (action, resource_type, n),
     unnest(ARRAY['success', 'denied', 'not_found', 'error']) WITH ORDINALITY AS o (outcome, n)
\gset

-- Row n of ROWS falls at a random instant in the n-th of ROWS equal slices of the window:
-- even over the months, and in time order within a chunk, as the API writes them (so each
-- chunk appends to the right-hand edge of a partition or two rather than everywhere).
-- The id is a UUIDv7 for that instant, built as uuid_v7() in migrations/0001 builds it:
-- the low 48 bits of the Unix milliseconds over the first 6 bytes of a v4 UUID, then
-- bits 52 and 53 set, which turns v4's version nibble (0100) into 7 (0111); the variant
-- bits (10) are v4's already. floor, not rounding: the id's millisecond is never after
-- `at`, so both fall in the same month.
-- The mix of actions is the API's own (Audit::new in functions/), reads dominating;
-- actors come from a fixed pool of 1,000 (md5 of a number, the same in every load), each
-- with an IPv4 address of its own; resources from a pool of 10,000 patients (a clinic
-- network reads each of its patients many times a month: at 1,000 events a second a
-- month holds 2.6 billion events, here ~400,000); most outcomes are success, failed
-- logins are denials. Stored as the API stores them (migrations/0015): the context and
-- kind by their ids, the request id a UUID.
SELECT format($insert$
INSERT INTO audit_events (id, resource_id, request_id, context, kind, source_ip)
SELECT encode(set_bit(set_bit(
         overlay(uuid_send(gen_random_uuid())
                 placing substring(int8send(floor(extract(epoch FROM g.ts) * 1000)::bigint) FROM 3)
                 FROM 1 FOR 6),
         52, 1), 53, 1), 'hex')::uuid,
       md5('fleet-patient-' || g.patient)::uuid,
       gen_random_uuid(),
       (%L::integer[])[g.actor],
       -- the kind's outcome: success, denied, not_found, error (in that order per kind)
       (%L::smallint[])[(g.kind - 1) * 4 + CASE WHEN g.kind = 7 THEN 2
                                               WHEN g.fate < 0.97 THEN 1
                                               WHEN g.fate < 0.985 THEN 2
                                               WHEN g.fate < 0.995 THEN 3
                                               ELSE 4 END],
       ('10.1.' || (g.actor / 256) || '.' || (g.actor %% 256))::inet
FROM (SELECT n,
             to_timestamp(%s + (n - 1 + random()) * %s) AS ts,
             1 + floor(random() * 1000)::int AS actor,
             1 + floor(random() * 10000)::int AS patient,
             -- shares 60, 10, 10, 6, 4, 3, 2, 2, 1, 1, 1 %% of the list above
             1 + width_bucket(random(), ARRAY[0.60, 0.70, 0.80, 0.86, 0.90, 0.93, 0.95, 0.97, 0.98, 0.99]::float8[]) AS kind,
             random() AS fate
      FROM generate_series(%s, %s) AS n
      OFFSET 0) AS g  -- a fence: each random() once per row, not once per use
ORDER BY 1
$insert$, :'contexts', :'kinds', :load_from, :load_step, lo, hi),
       format($progress$SELECT format('loaded %%s of %%s events (%%s s)', %s, %s, round(extract(epoch FROM clock_timestamp() - %L::timestamptz)::numeric, 1))$progress$,
              hi, :rows, :'load_started')
FROM generate_series(0, (:rows - 1) / :chunk) AS k,
     LATERAL (SELECT k * :chunk + 1 AS lo, least((k + 1) * :chunk, :rows) AS hi) AS bounds
ORDER BY k
\gexec
