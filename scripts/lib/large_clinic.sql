-- 100 organizations and 100,000 patients, each organization with its own owner who
-- created its patients; the account clinician@example.com (registered through the API
-- beforehand) is a clinician of the largest, with 10,000. For the benchmarks of a
-- clinician's list (scripts/bench, scripts/bench-clinic).
INSERT INTO users (name, email, password_hash)
  SELECT 'Owner', 'owner' || n || '@example.com', 'x' FROM generate_series(1, 100) n;
CREATE TABLE bench_orgs AS
  SELECT u.id AS owner, row_number() OVER (ORDER BY u.id) AS n, uuid_v7() AS id
  FROM users u WHERE u.email LIKE 'owner%@example.com';
INSERT INTO organizations (id, name, created_by) SELECT id, 'Org ' || n, owner FROM bench_orgs;
INSERT INTO memberships (user_id, organization_id, role) SELECT owner, id, 'owner' FROM bench_orgs;
INSERT INTO memberships (user_id, organization_id, role)
  SELECT (SELECT id FROM users WHERE email = 'clinician@example.com'), id, 'clinician' FROM bench_orgs WHERE n = 1;
INSERT INTO patients (owner_id, organization_id, name, date_of_birth)
  SELECT o.owner, o.id, 'Patient ' || i, DATE '1980-01-01' FROM generate_series(1, 100000) i
  JOIN bench_orgs o ON o.n = CASE WHEN i <= 10000 THEN 1 ELSE 2 + (i % 99) END;
DROP TABLE bench_orgs;
ANALYZE;
