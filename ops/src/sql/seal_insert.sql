-- A seal and its chunks, in one statement. Two sealing at once both chain to the same
-- previous seal: the unique key on `previous` lets one of them in.
WITH seal AS (
    INSERT INTO audit_seals (month, lower_id, upper_id, sealed_until, events, digest, previous, hash)
    VALUES (:month, :lower_id, :upper_id, :sealed_until, :events, :digest, :previous, :hash)
    RETURNING id
), chunks AS (
    INSERT INTO audit_seal_chunks (seal_id, number, first_id, events, digest)
    SELECT seal.id, c.number, c.first_id, c.events, c.digest
    FROM seal, unnest(:first_ids::uuid[], :counts::integer[], :digests::text[]) WITH ORDINALITY
         AS c (first_id, events, digest, number)
)
SELECT id FROM seal
