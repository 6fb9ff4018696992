-- Detaches and drops the audit partitions past the retention period, their events with
-- them. Only `ops drop-expired-audit` runs this: an operator's decision, never a schedule.
SELECT audit_partitions_drop_expired(:retention_months) AS dropped
