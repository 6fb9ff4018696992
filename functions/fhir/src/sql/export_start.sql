-- A bulk export's kick-off: the job, with who asked and how their token narrowed them
-- (the worker acts with exactly that reach), its cursor just above this instant (the
-- export holds what existed at `transaction_time`). Not for a Group the caller may not
-- export (`allowed`; `member_role` tells 403 from 404), and not while this requester
-- (user and app) has an export queued or running (`export_jobs_one_running`: 429).
WITH standing AS (
    SELECT export_group_allowed(:actor, :group, :backend_organization) AS allowed
), created AS (
    INSERT INTO export_jobs (user_id, role, client_id, app_organization, app_patient, backend_organization,
                             organization_id, types, since, request, cursor)
    SELECT :actor, :role, :app_client, :app_organization, :app_patient, :backend_organization,
           :group, :types, :since, :request, uuid_v7_after(now())
    FROM standing
    WHERE standing.allowed
    ON CONFLICT (user_id, (COALESCE(client_id, '00000000-0000-0000-0000-000000000000'::uuid)))
        WHERE state IN ('queued', 'running') DO NOTHING
    RETURNING id
)
SELECT (SELECT id FROM created) AS id, (SELECT role FROM membership) AS member_role,
       (SELECT allowed FROM standing) AS allowed
