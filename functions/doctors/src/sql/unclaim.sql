-- An admin undoes a claim: the doctor is held by nobody, and its holder's care team
-- access ends on their very next request.
WITH unclaimed AS (
    UPDATE doctors SET user_id = NULL, version = version + 1, updated_at = now()
    WHERE id = :id
    RETURNING id, name, specialization, email, phone, license_number, user_id, created_by, created_at, updated_at,
              version
)
SELECT * FROM unclaimed
