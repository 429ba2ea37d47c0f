//! `verdict import-resultsdb` against a real PostgreSQL holding databases in upstream's own
//! schemas (ResultsDB 2.x, WaiverDB 1.x; DDL written here from their SQLAlchemy models):
//! every result, group, testcase and waiver comes back through the API, and importing
//! again, or after more rows arrived upstream, stores each row exactly once.

use crate::support::{TestServer, postgres_admin_url, run_cli, url_for};
use serde_json::{Value, json};
use tokio_postgres::{Client, NoTls};

/// ResultsDB 2.x (`resultsdb/models/results.py`, after its alembic migrations).
const RESULTSDB_DDL: &str = r#"
CREATE TABLE testcase (id SERIAL PRIMARY KEY, name TEXT UNIQUE, ref_url TEXT);
CREATE INDEX testcase_idx_name ON testcase (name text_pattern_ops);
CREATE TABLE "group" (id SERIAL PRIMARY KEY, uuid VARCHAR(36) UNIQUE, description TEXT, ref_url TEXT);
CREATE INDEX group_idx_uuid ON "group" (uuid text_pattern_ops);
CREATE TABLE result (
    id SERIAL PRIMARY KEY,
    testcase_name TEXT REFERENCES testcase (name),
    submit_time TIMESTAMP WITHOUT TIME ZONE,
    outcome VARCHAR(32),
    note TEXT,
    ref_url TEXT
);
CREATE INDEX result_fk_testcase_name ON result (testcase_name text_pattern_ops);
CREATE INDEX result_submit_time ON result (submit_time);
CREATE TABLE result_data (id SERIAL PRIMARY KEY, result_id INTEGER REFERENCES result (id), key TEXT, value TEXT);
CREATE INDEX result_data_idx_key_value ON result_data (key text_pattern_ops, value text_pattern_ops);
CREATE TABLE groups_to_results (
    id SERIAL PRIMARY KEY,
    group_uuid VARCHAR(36) REFERENCES "group" (uuid),
    result_id INTEGER REFERENCES result (id)
);
"#;

/// WaiverDB 1.x (`waiverdb/models/waivers.py`).
const WAIVERDB_DDL: &str = r#"
CREATE TABLE waiver (
    id SERIAL PRIMARY KEY,
    subject_type TEXT NOT NULL,
    subject_identifier TEXT NOT NULL,
    testcase TEXT NOT NULL,
    username VARCHAR(255) NOT NULL,
    proxied_by VARCHAR(255),
    product_version VARCHAR(200) NOT NULL,
    waived BOOLEAN NOT NULL DEFAULT false,
    scenario VARCHAR(255),
    comment TEXT,
    timestamp TIMESTAMP WITHOUT TIME ZONE
);
"#;

/// A fresh database of our own on the server, dropped at the end.
struct Database {
    rt: tokio::runtime::Runtime,
    admin: Client,
    client: Client,
    name: String,
    url: String,
}

impl Database {
    fn create(admin_url: &str, tag: &str, ddl: &str) -> Database {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let connect = |url: String| {
            rt.block_on(async move {
                let (client, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
                tokio::spawn(conn);
                client
            })
        };
        let admin = connect(admin_url.to_owned());
        let name = format!("verdict_it_{tag}_{}", std::process::id());
        // One statement per call: a multi-statement batch runs as one transaction, which
        // DROP DATABASE refuses.
        rt.block_on(admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).unwrap();
        rt.block_on(admin.batch_execute(&format!("CREATE DATABASE {name}"))).unwrap();
        let url = url_for(admin_url, &name);
        let client = connect(url.clone());
        rt.block_on(client.batch_execute(ddl)).unwrap();
        Database { rt, admin, client, name, url }
    }

    fn exec(&self, sql: &str) {
        self.rt.block_on(self.client.batch_execute(sql)).unwrap();
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = self.rt.block_on(self.admin.batch_execute(&drop));
    }
}

/// Upstream rows `from..to`: results of 3 testcases over 2 items, with multi-valued data,
/// NULL notes and ref_urls, and group memberships for some.
fn results_sql(from: i64, to: i64) -> String {
    let mut sql = String::new();
    for n in from..to {
        let (tc, outcome) = (
            ["dist.rpmdeplint", "dist.abicheck", "dist.upgradepath"][(n % 3) as usize],
            ["PASSED", "FAILED", "INFO", "NEEDS_INSPECTION"][(n % 4) as usize],
        );
        let note = if n % 5 == 0 { "NULL".to_owned() } else { format!("'note {n}'") };
        let url = if n % 2 == 0 { "NULL".to_owned() } else { format!("'https://ci.example.com/{n}'") };
        sql += &format!(
            "INSERT INTO result (id, testcase_name, submit_time, outcome, note, ref_url)
             VALUES ({n}, '{tc}', TIMESTAMP '2024-05-01 10:00:00' + interval '{n} minutes' + interval '{n}7 microseconds', '{outcome}', {note}, {url});
             INSERT INTO result_data (result_id, key, value) VALUES ({n}, 'item', 'pkg-{}-1.0-1.fc40'), ({n}, 'type', 'koji_build'), ({n}, 'arch', 'x86_64');\n",
            n % 2
        );
        if n % 3 == 0 {
            sql += &format!("INSERT INTO result_data (result_id, key, value) VALUES ({n}, 'arch', 'aarch64');\n");
        }
        if n % 4 != 3 {
            sql += &format!(
                "INSERT INTO groups_to_results (group_uuid, result_id) VALUES ('{}', {n});\n",
                group_uuid(n % 2)
            );
        }
    }
    sql
}

fn group_uuid(n: i64) -> String {
    format!("27f94e36-62ec-11e6-83fd-52540000000{n}")
}

const CATALOG_SQL: &str = "
INSERT INTO testcase (name, ref_url) VALUES ('dist.rpmdeplint', 'https://docs.example.com/rpmdeplint'),
    ('dist.abicheck', NULL), ('dist.upgradepath', 'https://docs.example.com/upgradepath'), ('never.run', 'https://x');
INSERT INTO \"group\" (uuid, description, ref_url) VALUES
    ('27f94e36-62ec-11e6-83fd-525400000000', 'even items', 'https://jobs.example.com/0'),
    ('27f94e36-62ec-11e6-83fd-525400000001', NULL, NULL),
    ('27f94e36-62ec-11e6-83fd-525400000009', 'no results', NULL);";

const WAIVERS_SQL: &str = "
INSERT INTO waiver (subject_type, subject_identifier, testcase, username, proxied_by, product_version, waived, scenario, comment, timestamp) VALUES
 ('koji_build', 'pkg-1-1.0-1.fc40', 'dist.abicheck', 'alice', NULL, 'fedora-40', true, NULL, 'known ABI change', '2024-05-02 12:00:00.5'),
 ('koji_build', 'pkg-1-1.0-1.fc40', 'dist.abicheck', 'bot', 'bodhi', 'fedora-40', false, 'fedora.x86_64', NULL, '2024-05-02 13:00:00'),
 ('compose', 'Fedora-40-20240501.0', 'compose.install_default', 'carol', NULL, 'fedora-40', true, NULL, 'flaky runner', '2024-05-03 09:15:00');";

/// What ResultsDB answers for result `n` of [`results_sql`] (less its id and hrefs).
fn expected_result(n: i64) -> Value {
    let tc = ["dist.rpmdeplint", "dist.abicheck", "dist.upgradepath"][(n % 3) as usize];
    let tc_url =
        [json!("https://docs.example.com/rpmdeplint"), Value::Null, json!("https://docs.example.com/upgradepath")]
            [(n % 3) as usize]
            .clone();
    let arch = if n % 3 == 0 { json!(["x86_64", "aarch64"]) } else { json!(["x86_64"]) };
    let groups = if n % 4 != 3 { json!([group_uuid(n % 2)]) } else { json!([]) };
    let time = chrono_like(n, n * 10 + 7);
    let outcome = ["PASSED", "FAILED", "INFO", "NEEDS_INSPECTION"][(n % 4) as usize];
    json!({
        "testcase": {"name": tc, "ref_url": tc_url},
        "outcome": outcome,
        "note": if n % 5 == 0 { Value::Null } else { json!(format!("note {n}")) },
        "ref_url": if n % 2 == 0 { Value::Null } else { json!(format!("https://ci.example.com/{n}")) },
        "submit_time": time,
        "data": {"item": [format!("pkg-{}-1.0-1.fc40", n % 2)], "type": ["koji_build"], "arch": arch},
        "groups": groups,
    })
}

/// `2024-05-01T10:00:00` plus `minutes` and `micros`, as ResultsDB formats it.
fn chrono_like(minutes: i64, micros: i64) -> String {
    let (h, m) = (10 + minutes / 60, minutes % 60);
    format!("2024-05-01T{h:02}:{m:02}:00.{micros:06}")
}

/// A result as the API shows it, less what names verdict's own ids and addresses.
fn comparable(mut r: Value) -> Value {
    let o = r.as_object_mut().unwrap();
    for k in ["id", "href", "uuid"] {
        o.remove(k);
    }
    if let Some(tc) = o.get_mut("testcase").and_then(Value::as_object_mut) {
        tc.remove("href");
    }
    r
}

fn import(db: &std::path::Path, rdb: &Database, wdb: &Database) -> String {
    let (code, out, err) = run_cli(
        &["import-resultsdb", "--db", db.to_str().unwrap(), &rdb.url, "--waiverdb", &wdb.url, "--batch", "7"],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    out
}

#[test]
fn an_upstream_resultsdb_and_waiverdb_come_back_through_the_api_exactly_once() {
    let Some(admin) = postgres_admin_url() else { return };
    let rdb = Database::create(&admin, "rdb", RESULTSDB_DDL);
    let wdb = Database::create(&admin, "wdb", WAIVERDB_DDL);
    rdb.exec(CATALOG_SQL);
    rdb.exec(&results_sql(1, 31));
    wdb.exec(WAIVERS_SQL);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("imported.db");

    let out = import(&db, &rdb, &wdb);
    assert!(out.contains("testcases and groups: 7 stored, 0 already here"), "{out}");
    assert!(out.contains("results: 30 stored, 0 already here"), "{out}");
    assert!(out.contains("waivers: 3 stored, 0 already here"), "{out}");
    // Again: nothing new. Then 10 more results upstream: only they are stored.
    let out = import(&db, &rdb, &wdb);
    assert!(
        out.contains("results: 0 stored, 30 already here") && out.contains("waivers: 0 stored, 3 already here"),
        "{out}"
    );
    assert!(out.contains("testcases and groups: 0 stored, 7 already here"), "{out}");
    rdb.exec(&results_sql(31, 41));
    let out = import(&db, &rdb, &wdb);
    assert!(out.contains("results: 10 stored, 30 already here"), "{out}");

    let s = TestServer::start_on(&db, &[]);
    let all = s.get("/api/v2.0/results?limit=100");
    assert_eq!(all.status, 200);
    let mut got: Vec<Value> = all.json["data"].as_array().unwrap().iter().cloned().map(comparable).collect();
    got.reverse(); // newest first
    let want: Vec<Value> = (1..41).map(expected_result).collect();
    assert_eq!(got.len(), want.len());
    for (n, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "result {}", n + 1);
    }
    // Queries by data, testcase and group answer as upstream would.
    let item = s.get("/api/v2.0/results?item=pkg-1-1.0-1.fc40&testcases=dist.abicheck&limit=100");
    let want_ids: Vec<i64> = (1..41).filter(|n| n % 2 == 1 && n % 3 == 1).collect();
    assert_eq!(item.json["data"].as_array().unwrap().len(), want_ids.len());
    let group = s.get(&format!("/api/v2.0/groups/{}", group_uuid(0)));
    assert_eq!(group.json["description"], "even items");
    assert_eq!(group.json["ref_url"], "https://jobs.example.com/0");
    assert_eq!(group.json["results_count"], (1..41).filter(|n| n % 2 == 0 && n % 4 != 3).count());
    assert_eq!(s.get(&format!("/api/v2.0/groups/{}", group_uuid(9))).json["description"], "no results");
    let tc = s.get("/api/v2.0/testcases/never.run");
    assert_eq!((tc.status, tc.json["ref_url"].clone()), (200, json!("https://x")));

    let waivers = s.get("/api/v1.0/waivers/?limit=10");
    let mut w: Vec<Value> = waivers.json["data"].as_array().unwrap().clone();
    w.sort_by_key(|v| v["timestamp"].as_str().unwrap().to_owned());
    let fields = |v: &Value| {
        json!([
            v["subject_type"],
            v["subject_identifier"],
            v["testcase"],
            v["username"],
            v["proxied_by"],
            v["product_version"],
            v["waived"],
            v["scenario"],
            v["comment"],
            v["timestamp"]
        ])
    };
    let got: Vec<Value> = w.iter().map(fields).collect();
    assert_eq!(
        got,
        vec![
            json!([
                "koji_build",
                "pkg-1-1.0-1.fc40",
                "dist.abicheck",
                "alice",
                null,
                "fedora-40",
                true,
                null,
                "known ABI change",
                "2024-05-02T12:00:00.500000"
            ]),
            json!([
                "koji_build",
                "pkg-1-1.0-1.fc40",
                "dist.abicheck",
                "bot",
                "bodhi",
                "fedora-40",
                false,
                "fedora.x86_64",
                "",
                "2024-05-02T13:00:00"
            ]),
            json!([
                "compose",
                "Fedora-40-20240501.0",
                "compose.install_default",
                "carol",
                null,
                "fedora-40",
                true,
                null,
                "flaky runner",
                "2024-05-03T09:15:00"
            ]),
        ]
    );
    s.stop();
    let (code, out, err) = run_cli(&["verify", "--db", db.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_database_that_is_not_resultsdb_is_refused_and_creates_nothing() {
    let Some(admin) = postgres_admin_url() else { return };
    let wdb = Database::create(&admin, "notrdb", WAIVERDB_DDL);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.db");
    let (code, out, err) = run_cli(&["import-resultsdb", "--db", db.to_str().unwrap(), &wdb.url], None);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("has no table testcase: is it a ResultsDB 2.x database?"), "{err}");
    assert!(!db.exists(), "no store was created");
}

#[test]
fn sslmode_require_checks_the_servers_certificate() {
    let Some(admin) = postgres_admin_url() else { return };
    let Some(ca) =
        crate::support::postgres_setting("VERDICT_TEST_POSTGRES_CA", "the CA of a PostgreSQL server with TLS")
    else {
        return;
    };
    let rdb = Database::create(&admin, "tlsrdb", RESULTSDB_DDL);
    rdb.exec(CATALOG_SQL);
    rdb.exec(&results_sql(1, 4));
    let url = format!("{}?sslmode=require", rdb.url);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tls.db");
    // The system's roots do not know the server's CA: refused, nothing created.
    let (code, out, err) = run_cli(&["import-resultsdb", "--db", db.to_str().unwrap(), &url], None);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("invalid peer certificate"), "{err}");
    assert!(!db.exists());
    let (code, out, err) = run_cli(&["import-resultsdb", "--db", db.to_str().unwrap(), &url, "--ca-cert", &ca], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("results: 3 stored"), "{out}");
}
