-- An authorization code, by its hash: single use, 60 seconds.
WITH issued AS (
    INSERT INTO oauth_codes (code_hash, client_id, user_id, redirect_uri, scope, patient_id, code_challenge, fhir_user,
                             nonce, expires_at)
    VALUES (:code_hash, :client_id, :user_id, :redirect_uri, :scope, :patient_id, :code_challenge, :fhir_user, :nonce,
            now() + interval '60 seconds')
    RETURNING code_hash
)
SELECT true AS issued FROM issued
