-- One page of the caller's organizations (`membership`, all of them), newest first.
SELECT o.id, o.name, o.created_at, o.updated_at, o.version, membership.role AS my_role
FROM membership JOIN organizations o ON o.id = membership.organization_id
WHERE (:after::uuid IS NULL OR o.id < :after)
ORDER BY o.id DESC
LIMIT :fetch
