-- The newest seal: where the next one starts, and the hash it chains to.
SELECT upper_id, hash FROM audit_seals ORDER BY id DESC LIMIT 1
