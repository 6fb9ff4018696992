-- This month's audit partition and the next ones, created ahead so each month's events
-- land in their own partition; rows the default partition caught are moved into theirs
-- (migrations/0006_audit_partitions.sql). Returns the partitions created.
SELECT audit_partitions_prepare(:ahead_months) AS created
