-- The months whose partition is older than the hot ones (this month and :hot_months
-- before it), oldest first: what archive-audit writes to S3 and then drops.
SELECT to_date(substr(c.relname, 14), 'YYYY_MM') AS month
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'audit_events'::regclass
  AND c.relname ~ '^audit_events_[0-9]{4}_[0-9]{2}$'
  AND to_date(substr(c.relname, 14), 'YYYY_MM')
      < date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => :hot_months)
ORDER BY 1
