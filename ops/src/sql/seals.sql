-- Every seal (of one month, when given), in order, a row per chunk (one row with no
-- chunk for a seal of no events).
SELECT s.id, s.month, s.lower_id, s.upper_id, s.events, s.digest, coalesce(s.previous, '') AS previous, s.hash,
       c.first_id, c.events AS chunk_events, c.digest AS chunk_digest
FROM audit_seals s LEFT JOIN audit_seal_chunks c ON c.seal_id = s.id
WHERE :month::date IS NULL OR s.month = :month
ORDER BY s.id, c.number
