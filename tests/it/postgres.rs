//! Several `verdict serve` processes on one PostgreSQL database: concurrent POSTs through
//! all of them lose nothing, duplicate nothing and fork no chain, and every server's event
//! stream carries every write, whichever server took it.

use crate::support::{ScratchDb, TestServer, postgres_admin_url, run_cli, wait_until};
use serde_json::json;
use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::Path;

/// Results each posting thread sends; two threads per server.
const PER_THREAD: usize = 60;
const SERVERS: usize = 3;

/// Reads a server's event stream from its start until it has carried `n` results; returns
/// their ids.
fn stream_ids(base: String, n: usize) -> BTreeSet<i64> {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_per_read(Some(std::time::Duration::from_secs(60))).build().into();
    let resp = agent.get(&format!("{base}/api/v2.0/events")).header("Last-Event-ID", "0").call().unwrap();
    let mut ids = BTreeSet::new();
    for line in std::io::BufReader::new(resp.into_body().into_reader()).lines() {
        let line = line.unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            let v: serde_json::Value = serde_json::from_str(data).unwrap();
            if let Some(id) = v["id"].as_i64() {
                assert!(ids.insert(id), "result {id} sent twice on {base}");
            }
        }
        if ids.len() == n {
            break;
        }
    }
    ids
}

#[test]
fn three_servers_on_one_database_take_concurrent_posts() {
    let Some(admin) = postgres_admin_url() else { return };
    let db = ScratchDb::new(&admin);
    // Started together: the first migrates the schema, the others wait for its lock.
    let servers: Vec<TestServer> = std::thread::scope(|scope| {
        let started: Vec<_> =
            (0..SERVERS).map(|_| scope.spawn(|| TestServer::start_on(Path::new(&db.url), &[]))).collect();
        started.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total = SERVERS * 2 * PER_THREAD;
    let streams: Vec<_> = servers
        .iter()
        .map(|s| {
            let base = s.base.clone();
            std::thread::spawn(move || stream_ids(base, total))
        })
        .collect();
    let mut uuids = BTreeSet::new();
    std::thread::scope(|scope| {
        let posters: Vec<_> = (0..SERVERS * 2)
            .map(|t| {
                let s = &servers[t % SERVERS];
                scope.spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            let r = s.result(json!({"testcase": format!("multi.t{}", i % 7), "outcome": "PASSED",
                                "data": {"item": format!("pkg-{t}-{i}"), "type": "koji_build"}}));
                            r["uuid"].as_str().unwrap().to_owned()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for p in posters {
            uuids.extend(p.join().unwrap());
        }
    });
    assert_eq!(uuids.len(), total, "every POST stored a result of its own");
    for s in &servers {
        assert_eq!(s.count(), total, "{} lists every result", s.base);
    }
    // One chain: positions 1..=total with no gap, whichever server wrote them.
    let expected: BTreeSet<i64> = (1..=i64::try_from(total).unwrap()).collect();
    for stream in streams {
        assert_eq!(stream.join().unwrap(), expected, "an event stream missed or reordered writes");
    }
    let (code, out, err) = run_cli(&["verify", "--db", &db.url], None);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_cli(&["stats", "--db", &db.url], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("{total}")), "{out}");
    drop(servers);
}

/// Posts `n` results tagged `tag` to `s`.
fn post_tagged(s: &TestServer, tag: &str, n: usize) {
    for i in 0..n {
        s.result(
            json!({"testcase": format!("{tag}.t{}", i % 3), "outcome": if i % 4 == 0 { "FAILED" } else { "PASSED" },
            "data": {"item": format!("{tag}-{i}"), "type": "koji_build"}}),
        );
    }
}

#[test]
fn a_sqlite_lab_and_a_postgresql_hub_replicate_both_ways() {
    let Some(admin) = postgres_admin_url() else { return };
    let db = ScratchDb::new(&admin);
    let lab = TestServer::start_sqlite(&[]);
    post_tagged(&lab, "lab", 25);
    // The hub pulls the lab as a peer, as lab nodes feed a hub.
    let hub = TestServer::start_on(Path::new(&db.url), &["--peer", &lab.base]);
    post_tagged(&hub, "hub", 10);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while hub.count() < 35 {
        assert!(std::time::Instant::now() < deadline, "the hub did not pull the lab's results");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The lab pulls the hub once (both of its origins: the lab's own come back as held).
    let (code, out, err) = run_cli(&["sync", &hub.base, "--db", lab.db.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(lab.count(), 35);
    for (node, peer) in [(&lab, &hub), (&hub, &lab)] {
        let (code, out, err) = run_cli(&["audit", "--peer", &peer.base, "--db", node.db.to_str().unwrap()], None);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("2 in sync"), "{out}");
        let (code, out, err) = run_cli(&["verify", "--db", node.db.to_str().unwrap()], None);
        assert_eq!(code, 0, "{out}{err}");
    }
    // A bundle from the hub carries the same into a fresh SQLite file.
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("hub.bundle");
    let (code, _, err) = run_cli(&["export", "--db", &db.url, "-o", bundle.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    let copy = dir.path().join("copy.db");
    let (code, out, err) = run_cli(&["import", "--db", copy.to_str().unwrap(), bundle.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_cli(&["audit", "--peer", &hub.base, "--db", copy.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 in sync"), "{out}");
}

#[test]
fn reads_go_to_the_db_read_database() {
    let Some(admin) = postgres_admin_url() else { return };
    let db = ScratchDb::new(&admin);
    // The same database under another application name stands in for a replica here: what
    // is checked is which connection each read takes.
    let reads = format!("{}?application_name=verdict_reads", db.url);
    let s = TestServer::start_on(Path::new(&db.url), &["--db-read", &reads]);
    post_tagged(&s, "r", 3);
    assert_eq!(s.get("/api/v2.0/results?item=r-1").data().len(), 1);
    let name = db.url.rsplit('/').next().unwrap();
    let readers = crate::support::psql(
        &admin,
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}' AND application_name = 'verdict_reads'"
        ),
    );
    assert!(readers.parse::<i64>().unwrap() >= 1, "no reader connection on the --db-read URL");
    // Only PostgreSQL stores read elsewhere.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("v.db");
    let (code, _, err) =
        run_cli(&["serve", "--listen", "127.0.0.1:0", "--db", file.to_str().unwrap(), "--db-read", &reads], None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--db-read"), "{err}");
    assert!(!file.exists());
}

/// `--db-read` against a real streaming replica (a standby following the test server):
/// every write is taken by the primary, every read comes from the standby, and once the
/// standby has replayed them its answers and event stream hold every write, as the
/// primary's do.
#[test]
fn reads_from_a_streaming_replica_see_every_write() {
    let Some(admin) = postgres_admin_url() else { return };
    let Some(standby) =
        crate::support::postgres_setting("VERDICT_TEST_POSTGRES_REPLICA_URL", "a streaming replica of the test server")
    else {
        return;
    };
    assert_eq!(crate::support::psql(&standby, "SELECT pg_is_in_recovery()"), "t", "{standby} is not a standby");
    let db = ScratchDb::new(&admin);
    // The primary's own server creates the schema; the standby then has to replay it.
    let primary = TestServer::start_on(Path::new(&db.url), &[]);
    let exists = format!("SELECT count(*) FROM pg_database WHERE datname = '{}'", db.name);
    wait_until("the database on the standby", || crate::support::psql(&standby, &exists) == "1");
    let replica = crate::support::url_for(&standby, &db.name);
    let schema = "SELECT to_regclass('verdict_migrations') IS NOT NULL";
    wait_until("the schema on the standby", || crate::support::psql(&replica, schema) == "t");
    let s = TestServer::start_on(Path::new(&db.url), &["--db-read", &replica]);
    post_tagged(&s, "s", 12);
    post_tagged(&primary, "p", 12);
    let all = "/api/v2.0/results?type=koji_build&limit=100";
    wait_until("the standby to replay the writes", || s.get(all).data().len() == 24);
    // The same answers as the primary's server (the URLs in them name each server).
    for path in
        [all, "/api/v2.0/results/latest?testcases:like=s.*", "/api/v2.0/results?item=p-3", "/api/v2.0/testcases"]
    {
        let (a, b) = (s.get(path), primary.get(path));
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        assert_eq!(a.text.replace(&s.base, "BASE"), b.text.replace(&primary.base, "BASE"), "{path}");
    }
    // Its event stream carries the writes of both servers.
    assert_eq!(stream_ids(s.base.clone(), 24).len(), 24);
    // The reads were the standby's: its reader connections are there.
    let readers = crate::support::psql(
        &standby,
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND backend_type = 'client backend'",
            db.name
        ),
    );
    assert!(readers.parse::<i64>().unwrap() >= 1, "no reader connection on the standby");
    let (code, out, err) = run_cli(&["verify", "--db", &db.url], None);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn replay_rebuilds_a_sqlite_store_in_postgresql_and_back() {
    let Some(admin) = postgres_admin_url() else { return };
    let lab = TestServer::start_sqlite(&[]);
    post_tagged(&lab, "rp", 12);
    let first = lab.get("/api/v2.0/results?limit=50").text.replace(&lab.base, "BASE");
    let dir = lab.stop().unwrap();
    let file = dir.path().join("verdict.db");
    let db = ScratchDb::new(&admin);
    let (code, out, err) = run_cli(&["replay", "--db", file.to_str().unwrap(), "--into", &db.url], None);
    assert_eq!(code, 0, "{out}{err}");
    // Into a database that already holds entries: refused.
    let (code, _, err) = run_cli(&["replay", "--db", file.to_str().unwrap(), "--into", &db.url], None);
    assert_ne!(code, 0);
    assert!(err.contains("already holds log entries"), "{err}");
    let back = dir.path().join("back.db");
    let (code, out, err) = run_cli(&["replay", "--db", &db.url, "--into", back.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}{err}");
    for store in [db.url.as_str(), back.to_str().unwrap()] {
        let s = TestServer::start_on(Path::new(store), &[]);
        let answer = s.get("/api/v2.0/results?limit=50").text.replace(&s.base, "BASE");
        assert_eq!(answer, first, "{store} answers as the original did");
        let (code, out, err) = run_cli(&["verify", "--db", store], None);
        assert_eq!(code, 0, "{out}{err}");
    }
}

/// The same input, stored once in SQLite and once in PostgreSQL, gets the same answers:
/// result pages and filters, latest, testcases, groups and insight.
#[test]
fn sqlite_and_postgresql_answer_alike_for_the_same_input() {
    let Some(admin) = postgres_admin_url() else { return };
    let outcomes = ["PASSED", "FAILED", "PASSED", "INFO", "PASSED", "NEEDS_INSPECTION", "FAILED"];
    let (arches, scenarios) = (["x86_64", "aarch64"], ["a", "b", "c"]);
    let lines: String = (0..240)
        .map(|i| {
            let (arch, scenario) = (arches[i % 2], scenarios[i % 3]);
            let r = json!({
                "testcase": {"name": format!("same.t{}", i % 9), "ref_url": format!("https://docs/{}", i % 4)},
                "outcome": outcomes[i % outcomes.len()],
                "submit_time": format!("2026-11-{:02}T{:02}:{:02}:00.000000", 1 + i % 20, i % 24, i % 60),
                "note": if i % 5 == 0 { format!("error at /tmp/run-{i}: timeout") } else { String::new() },
                "groups": [{"uuid": format!("0000000{}-0000-0000-0000-000000000000", i % 3), "description": "job"}],
                "data": {"item": format!("pkg-1.{}-1.fc40", i % 12), "type": "koji_build",
                         "arch": arch, "scenario": scenario},
            });
            format!("{r}\n")
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("same.db");
    let db = ScratchDb::new(&admin);
    for store in [file.to_str().unwrap(), db.url.as_str()] {
        let (code, out, err) = run_cli(&["submit", "--db", store, "-"], Some(&lines));
        assert_eq!(code, 0, "{out}{err}");
    }
    let (sqlite, pg) = (TestServer::start_on(&file, &[]), TestServer::start_on(Path::new(&db.url), &[]));
    let questions = [
        "/api/v2.0/results?limit=1000",
        "/api/v2.0/results?limit=7&page=3",
        "/api/v2.0/results?item=pkg-1.3-1.fc40",
        "/api/v2.0/results?type=koji_build&item=pkg-1.5-1.fc40&outcome=FAILED,PASSED",
        "/api/v2.0/results?testcases:like=same.t1*&arch=aarch64",
        "/api/v2.0/results?since=2026-11-03T00:00:00,2026-11-05T12:00:00&_sort=asc:submit_time",
        "/api/v2.0/results/latest?item=pkg-1.7-1.fc40",
        "/api/v2.0/results/latest?testcases:like=same.*&_distinct_on=scenario,arch",
        "/api/v2.0/testcases?limit=100",
        "/api/v2.0/testcases/same.t3",
        "/api/v2.0/groups?limit=10",
        "/api/verdict/v1/history?testcases:like=same.*&since=2026-10-01",
        "/api/verdict/v1/flaky?since=2026-10-01&when=2026-11-30T00:00:00Z&min_runs=3",
        "/api/verdict/v1/compare?base_item=pkg-1.2-1.fc40&head_item=pkg-1.3-1.fc40",
    ];
    for q in questions {
        let (a, b) = (sqlite.get(q), pg.get(q));
        assert_eq!(a.status, b.status, "{q}: {} / {}", a.text, b.text);
        assert_eq!(a.text.replace(&sqlite.base, "BASE"), b.text.replace(&pg.base, "BASE"), "{q}");
    }
}

/// A server on the database's own host can reach it through its Unix socket: the socket
/// directory, URL-encoded, in the host's place (as the README shows).
#[test]
fn a_server_reaches_postgresql_through_its_unix_socket() {
    let Some(admin) = postgres_admin_url() else { return };
    let Some(dir) =
        crate::support::postgres_setting("VERDICT_TEST_POSTGRES_SOCKET", "the socket directory of the test server")
    else {
        return;
    };
    let db = ScratchDb::new(&admin);
    let encoded = dir.replace('%', "%25").replace('/', "%2F");
    let url = db.url.replacen("@127.0.0.1:", &format!("@{encoded}:"), 1);
    assert_ne!(url, db.url, "the test database is not on 127.0.0.1: {}", db.url);
    let s = TestServer::start_on(Path::new(&url), &[]);
    post_tagged(&s, "u", 3);
    assert_eq!(s.get("/api/v2.0/results?item=u-2").data().len(), 1);
    let name = db.url.rsplit('/').next().unwrap();
    let over_socket = crate::support::psql(
        &admin,
        &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}' AND client_port = -1"),
    );
    assert!(over_socket.parse::<i64>().unwrap() >= 1, "no connection over the Unix socket");
}

/// `sslrootcert` in the store's URL: the server's certificate is checked against that CA
/// (the system's roots do not know it), and a file that is no certificate is named.
#[test]
fn a_store_url_trusts_the_ca_its_sslrootcert_names() {
    let Some(admin) = postgres_admin_url() else { return };
    let Some(ca) = crate::support::postgres_setting("VERDICT_TEST_POSTGRES_CA", "the CA of the test server's TLS")
    else {
        return;
    };
    let db = ScratchDb::new(&admin);
    let trusted = format!("{}?sslmode=verify-full&sslrootcert={ca}", db.url);
    let s = TestServer::start_on(Path::new(&trusted), &[]);
    post_tagged(&s, "c", 2);
    assert_eq!(s.get("/api/v2.0/results?item=c-1").data().len(), 1);
    let (code, out, err) = run_cli(&["verify", "--db", &format!("{}?sslmode=verify-full", db.url)], None);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("invalid peer certificate"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let url = format!("{}?sslmode=require&sslrootcert={}", db.url, not_pem.display());
    let (code, _, err) = run_cli(&["verify", "--db", &url], None);
    assert_ne!(code, 0);
    assert!(err.contains("holds no PEM certificate"), "{err}");
}

#[test]
fn a_version_1_database_is_migrated_and_keeps_its_results() {
    let Some(admin) = postgres_admin_url() else { return };
    let db = ScratchDb::new(&admin);
    let s = TestServer::start_on(Path::new(&db.url), &[]);
    post_tagged(&s, "m", 2);
    drop(s);
    // As version 1 left it: its log index, and no record of version 2.
    crate::support::psql(&db.url, "CREATE INDEX log_kind ON log(kind, seq)");
    crate::support::psql(&db.url, "DELETE FROM verdict_migrations WHERE version = 2");
    let s = TestServer::start_on(Path::new(&db.url), &[]);
    assert_eq!(crate::support::psql(&db.url, "SELECT max(version) FROM verdict_migrations"), "2");
    assert_eq!(crate::support::psql(&db.url, "SELECT to_regclass('log_kind') IS NULL"), "t");
    assert_eq!(s.get("/api/v2.0/results?item=m-1").data().len(), 1);
    post_tagged(&s, "n", 1);
    assert_eq!(s.get("/api/v2.0/results?item=n-0").data().len(), 1);
}
