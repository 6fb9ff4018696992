-- The oldest event (ids are time-ordered): where the first seal starts.
SELECT id AS first FROM audit_events ORDER BY id LIMIT 1
