-- Whether the signing-in user reaches the picked patient within the app's
-- organization (`patient_reach`, migrations/0009; see picker.sql for why it is called
-- here directly).
SELECT r.id
FROM patient_reach(:user_id, :patient_id) r
WHERE :organization_id::uuid IS NULL OR r.organization_id = :organization_id
