-- One organization, for its members (`membership`); anyone else finds none (404).
SELECT o.id, o.name, o.created_at, o.updated_at, o.version, membership.role AS my_role
FROM membership JOIN organizations o ON o.id = membership.organization_id
