-- The user as a FHIR resource, for `fhirUser`: the doctor they hold, else the patient
-- whose portal they use; and their role.
SELECT u.role,
       COALESCE((SELECT 'Practitioner/' || d.id FROM doctors d WHERE d.user_id = u.id LIMIT 1),
                (SELECT 'Patient/' || p.id FROM patients p WHERE p.portal_user_id = u.id ORDER BY p.id LIMIT 1))
           AS fhir_user
FROM users u
WHERE u.id = :user_id AND u.status = 'active'
