-- One page of the directory, newest first; `name` is a substring pattern,
-- `specialization` matches exactly but case-insensitively, `ids` and `license_number`
-- (FHIR's `_id` and `identifier`) exactly; `licensed`: those with a licence number.
SELECT id, name, specialization, email, phone, license_number, user_id, created_by, created_at, updated_at, version
FROM doctors
WHERE (:after::uuid IS NULL OR id < :after)
  AND (:name::text IS NULL OR name ILIKE :name)
  AND (:specialization::text IS NULL OR lower(specialization) = lower(:specialization))
  AND (:ids::uuid[] IS NULL OR id = ANY (:ids))
  AND (:license_number::text IS NULL OR license_number = :license_number)
  AND (NOT :licensed OR license_number IS NOT NULL)
ORDER BY id DESC
LIMIT :fetch
