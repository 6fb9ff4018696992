-- One page of the patients the principal reaches, newest first. `owner_filter` is set
-- only for principals who see every owner's patients.
WITH page AS (
    SELECT id, owner_id, name, date_of_birth, gender, phone, email, address, notes, created_at, updated_at, version
    FROM patients
    WHERE (:sees_all OR owner_id = :actor)
      AND (:owner_filter::uuid IS NULL OR owner_id = :owner_filter)
      AND (:after::uuid IS NULL OR id < :after)
      AND (:name::text IS NULL OR name ILIKE :name)
    ORDER BY id DESC
    LIMIT :fetch
)
SELECT * FROM page ORDER BY id DESC
