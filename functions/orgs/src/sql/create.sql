-- A new organization, with the caller as its first owner.
WITH created AS (
    INSERT INTO organizations (name, created_by) VALUES (:name, :actor)
    RETURNING id, name, created_at, updated_at, version
), first_owner AS (
    INSERT INTO memberships (user_id, organization_id, role) SELECT :actor, id, 'owner' FROM created
)
SELECT created.*, 'owner'::text AS my_role FROM created
