-- One page of the directory, newest first; `name` is a substring pattern,
-- `specialization` matches exactly but case-insensitively.
SELECT id, name, specialization, email, phone, license_number, user_id, created_by, created_at, updated_at, version
FROM doctors
WHERE (:after::uuid IS NULL OR id < :after)
  AND (:name::text IS NULL OR name ILIKE :name)
  AND (:specialization::text IS NULL OR lower(specialization) = lower(:specialization))
ORDER BY id DESC
LIMIT :fetch
