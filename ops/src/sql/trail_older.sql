-- Events older than the first seal: none should be (the first seal starts at the month
-- of the oldest event there was).
SELECT count(*) AS events FROM audit_events WHERE id < :lower
