WITH audit AS (INSERT INTO audit_events (resource_id, request_id, source_ip, context, kind)
SELECT e.resource_id, '01a25163-3834-7374-8834-a3cd18016f8e', '10.0.0.1',
 audit_context_id(e.actor_id, e.organization_id, e.emergency_access_id, e.client_id),
 audit_kind_id('patient.read', 'patient', e.outcome, e.access)
FROM (SELECT ('01a25163-3834-7374-8834-a3cd18016f8e')::uuid AS actor_id, ('01a25163-3834-7374-8834-a3cd18016f8f')::uuid AS resource_id, 'success' AS outcome, (NULL::uuid)::uuid AS organization_id, ('owner')::text AS access, (NULL::uuid)::uuid AS emergency_access_id, (NULL::uuid)::uuid AS client_id) e) SELECT 1;
