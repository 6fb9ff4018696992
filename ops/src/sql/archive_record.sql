-- An archived month recorded, and its partition dropped, in one transaction
-- (audit_month_archive, migrations/0015).
SELECT audit_month_archive(:month, :object_key, :manifest_key, :events, :first_id, :last_id, :bytes, :sha256,
                           :retain_until) AS dropped
