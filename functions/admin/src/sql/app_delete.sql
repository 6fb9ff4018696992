-- Deletes an app of no organization; its grants and codes go with it.
WITH deleted AS (
    DELETE FROM oauth_apps WHERE id = :client_id AND organization_id IS NULL
    RETURNING id
)
SELECT id FROM deleted
