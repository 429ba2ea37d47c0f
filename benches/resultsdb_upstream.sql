-- An upstream ResultsDB 2.x database (upstream's own schema, as tests/it/upstream.rs writes
-- it) of :n results, for timing `verdict import-resultsdb` (BENCHMARKS.md, "Moving from
-- ResultsDB"): 20 testcases, 4 result_data rows per result, every second result in one of
-- 10,000 groups. Creates (or replaces) the database rbench:
--   psql -h 127.0.0.1 -U postgres -v n=200000 -f benches/resultsdb_upstream.sql
--   verdict import-resultsdb --db b.db postgres://postgres@127.0.0.1/rbench
DROP DATABASE IF EXISTS rbench;
CREATE DATABASE rbench;
\c rbench
CREATE TABLE testcase (id SERIAL PRIMARY KEY, name TEXT UNIQUE, ref_url TEXT);
CREATE TABLE "group" (id SERIAL PRIMARY KEY, uuid VARCHAR(36) UNIQUE, description TEXT, ref_url TEXT);
CREATE TABLE result (id SERIAL PRIMARY KEY, testcase_name TEXT REFERENCES testcase(name), submit_time TIMESTAMP WITHOUT TIME ZONE, outcome VARCHAR(32), note TEXT, ref_url TEXT);
CREATE TABLE result_data (id SERIAL PRIMARY KEY, result_id INTEGER REFERENCES result(id), key TEXT, value TEXT);
CREATE TABLE groups_to_results (id SERIAL PRIMARY KEY, group_uuid VARCHAR(36) REFERENCES "group"(uuid), result_id INTEGER REFERENCES result(id));
CREATE INDEX ON result_data(result_id); CREATE INDEX ON groups_to_results(result_id);
INSERT INTO testcase(name, ref_url) SELECT 'dist.test' || g, 'https://docs/' || g FROM generate_series(0, 19) g;
INSERT INTO "group"(uuid, description) SELECT md5(g::text)::uuid::text, 'job ' || g FROM generate_series(0, 9999) g;
INSERT INTO result(testcase_name, submit_time, outcome, note, ref_url)
  SELECT 'dist.test' || (g % 20), TIMESTAMP '2023-01-01' + g * interval '1 second', (ARRAY['PASSED','FAILED','INFO','NEEDS_INSPECTION'])[1 + g % 4], CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END, 'https://ci/' || g
  FROM generate_series(1, :n) g;
INSERT INTO result_data(result_id, key, value) SELECT g, 'item', 'pkg' || (g % 5000) || '-1.0-1.fc40' FROM generate_series(1, :n) g;
INSERT INTO result_data(result_id, key, value) SELECT g, 'type', 'koji_build' FROM generate_series(1, :n) g;
INSERT INTO result_data(result_id, key, value) SELECT g, 'arch', (ARRAY['x86_64','aarch64','s390x'])[1 + g % 3] FROM generate_series(1, :n) g;
INSERT INTO result_data(result_id, key, value) SELECT g, 'scenario', 'fedora.' || (g % 4) FROM generate_series(1, :n) g;
INSERT INTO groups_to_results(group_uuid, result_id) SELECT md5((g % 10000)::text)::uuid::text, g FROM generate_series(1, :n) g WHERE g % 2 = 0;
ANALYZE;
