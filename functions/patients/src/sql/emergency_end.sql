-- Ends a live grant early, by its holder or an owner of its organization
-- (`emergency_grant`). Both `ended_at` and `expires_at` become now, so every later
-- statement sees it over. `emergency_grant` tells 404 (no such grant of this patient
-- that the caller holds or whose organization it belongs to), 403 and 409 (over
-- already) apart.
WITH target AS (
    SELECT g.id, g.organization_id, g.live, g.holds OR g.manages AS may_end, g.holds OR g.member AS sees
    FROM emergency_grant g
    WHERE g.patient_id = :id
), ended AS (
    UPDATE emergency_access SET ended_at = now(), expires_at = now()
    WHERE id = (SELECT id FROM target WHERE live AND may_end) AND expires_at > now()
    RETURNING id
)
SELECT COALESCE((SELECT sees FROM target), false) AS sees, COALESCE((SELECT may_end FROM target), false) AS may_end,
       (SELECT id FROM ended) AS id
