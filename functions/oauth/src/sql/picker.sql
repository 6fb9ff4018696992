-- The patient picker: patients the signing-in user reaches, within the app's
-- organization, by name. There is no session yet (the grant is what is being made), so
-- this calls the rule itself, `patients_reached` (migrations/0009), for that user.
SELECT p.id, p.name, p.date_of_birth
FROM patients_reached(:user_id, :organization_id, false, :name, NULL, :fetch) p
ORDER BY p.id DESC
LIMIT :fetch
