-- The audit partitions past the retention period, without touching them.
SELECT array(SELECT audit_partitions_expired(:retention_months)) AS expired
