-- Renames the organization, by a member whose role manages it. `caller_role` tells
-- 403 (a member who may not) from 404 (not a member).
WITH updated AS (
    UPDATE organizations o SET name = :name, version = o.version + 1, updated_at = now()
    FROM membership
    WHERE o.id = membership.organization_id AND membership.manages
    RETURNING o.id, o.name, o.created_at, o.updated_at, o.version, membership.role AS my_role
)
SELECT (SELECT role FROM membership) AS caller_role, updated.*
FROM (SELECT) AS one LEFT JOIN updated ON true
