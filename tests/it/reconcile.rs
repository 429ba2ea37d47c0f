//! `verdict reconcile` (issue 15): a second server missing some results is found out and
//! filled in exactly once — over HTTP (`--url`), on the store (`--db`), from a directory
//! of archived bus messages, and periodically by `serve --reconcile-every`.

use crate::support::{TestServer, run_cli};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A result for `item`, submitted `minute` minutes after a moment two hours ago (the
/// same moment for the whole test binary: equal arguments make equal results).
fn result(testcase: &str, outcome: &str, item: &str, minute: i64) -> Value {
    json!({
        "testcase": {"name": testcase},
        "outcome": outcome,
        "submit_time": iso(base() + minute * 60),
        "data": {"item": [item], "type": ["koji_build"], "arch": ["x86_64", "aarch64"]},
        "note": if outcome == "FAILED" { "it broke" } else { "" },
    })
}

/// Two hours ago, in seconds since the epoch: recent enough for the periodic run's first
/// window (24 hours), old enough to be before every run's end.
fn base() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        now - 2 * 3600
    })
}

/// Seconds since the epoch as ResultsDB's submit_time (UTC, with a fraction).
fn iso(secs: i64) -> String {
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000001", s / 3600, s / 60 % 60, s % 60)
}

/// Days since 1970-01-01 as a calendar date (Howard Hinnant's algorithm).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Five results on the source (two equal ones among them); the target holds two.
fn source_and_target() -> (TestServer, TestServer, Vec<Value>) {
    let all = vec![
        result("dist.rpmlint", "PASSED", "foo-1.0-1.fc40", 1),
        result("dist.rpmdeplint", "FAILED", "foo-1.0-1.fc40", 2),
        result("dist.abicheck", "PASSED", "foo-1.0-1.fc40", 3),
        result("dist.abicheck", "PASSED", "foo-1.0-1.fc40", 3),
        result("dist.rpmlint", "PASSED", "bar-2.0-1.fc40", 4),
    ];
    let (source, target) = (TestServer::start(), TestServer::start());
    for r in &all {
        source.result(r.clone());
    }
    target.result(all[0].clone());
    target.result(all[2].clone());
    (source, target, all)
}

fn reconcile(args: &[&str]) -> (i32, Value, String) {
    let mut full = vec!["reconcile", "--json"];
    full.extend_from_slice(args);
    let (code, out, err) = run_cli(&full, None);
    let report = serde_json::from_str(&out).unwrap_or(Value::Null);
    (code, report, format!("{out}\n{err}"))
}

fn counts(r: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| r[k].as_u64().unwrap();
    (n("compared"), n("present"), n("missing"), n("stored"))
}

#[test]
fn reconcile_over_http_reports_the_missing_results_and_fills_them_once() {
    let (source, target, _) = source_and_target();
    let (from, url) = (source.url(""), target.url(""));
    let sel = ["--from", &from, "--url", &url, "--item", "foo-1.0-1.fc40"];

    let (code, r, out) = reconcile(&sel);
    assert_eq!(code, 1, "{out}");
    assert_eq!(counts(&r), (4, 2, 2, 0), "{out}");
    let missing: Vec<(&str, &str)> = r["missing_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["testcase"].as_str().unwrap(), m["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(missing, [("dist.rpmdeplint", "FAILED"), ("dist.abicheck", "PASSED")], "{out}");
    assert_eq!(target.count(), 2, "a report changes nothing");

    let mut apply = sel.to_vec();
    apply.push("--apply");
    let (code, r, out) = reconcile(&apply);
    assert_eq!((code, counts(&r)), (0, (4, 2, 2, 2)), "{out}");
    assert_eq!(target.count(), 4);
    let (code, r, out) = reconcile(&apply);
    assert_eq!((code, counts(&r)), (0, (4, 4, 0, 0)), "a second run stores nothing: {out}");
    assert_eq!(target.count(), 4);

    // The source's submit time and content are kept; where it came from is noted.
    let got = target.get("/api/v2.0/results?testcases=dist.rpmdeplint");
    let stored = &got.data()[0];
    let sent = source.get("/api/v2.0/results?testcases=dist.rpmdeplint");
    let sent = &sent.data()[0];
    for k in ["submit_time", "outcome", "note"] {
        assert_eq!(stored[k], sent[k], "{k}");
    }
    assert_eq!(stored["data"]["arch"], sent["data"]["arch"]);
    assert_eq!(stored["data"]["source_reconcile"], json!([source.base]), "{}", got.text);

    // The plain text form lists the missing ones (the other item is still missing).
    let (code, out, _) = run_cli(&["reconcile", "--from", &from, "--url", &url], None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("missing:  1") && out.contains("dist.rpmlint") && out.contains("bar-2.0-1.fc40"), "{out}");
    assert!(out.contains("--apply"), "{out}");
}

#[test]
fn reconcile_on_the_store_file_fills_it_beside_the_running_server() {
    let (source, target, _) = source_and_target();
    let from = source.url("");
    let db = target.db.to_str().unwrap().to_owned();
    let (code, r, out) = reconcile(&["--from", &from, "--db", &db]);
    assert_eq!((code, counts(&r)), (1, (5, 2, 3, 0)), "{out}");
    let (code, r, out) = reconcile(&["--from", &from, "--db", &db, "--apply"]);
    assert_eq!((code, counts(&r)), (0, (5, 2, 3, 3)), "{out}");
    assert_eq!(target.count(), 5, "the server sees what the command stored");
    let (code, r, out) = reconcile(&["--from", &from, "--db", &db, "--apply"]);
    assert_eq!((code, counts(&r)), (0, (5, 5, 0, 0)), "{out}");
    // A selection the source has nothing for.
    let (code, r, out) = reconcile(&["--from", &from, "--db", &db, "--item", "nothing-here"]);
    assert_eq!((code, counts(&r)), (0, (0, 0, 0, 0)), "{out}");
}

/// Archived messages: the fixtures with message ids, one that cannot be mapped.
fn archive(dir: &std::path::Path) -> usize {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ci-messages");
    let mut n = 0;
    for name in ["koji-build.test.complete-1.1.14.json", "koji-build.test.queued-1.1.14.json"] {
        let mut msg: Value = serde_json::from_slice(&std::fs::read(fixtures.join(name)).unwrap()).unwrap();
        msg["message_id"] = json!(format!("archived-{name}"));
        std::fs::write(dir.join(name), msg.to_string()).unwrap();
        n += 1;
    }
    std::fs::write(dir.join("not-a-message.json"), r#"{"no": "topic"}"#).unwrap();
    std::fs::write(dir.join("README.txt"), "not an archive file").unwrap();
    n
}

#[test]
fn reconcile_from_archived_messages_stores_each_as_the_consumer_would() {
    let target = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let n = archive(dir.path()) as u64;
    let (from, db) = (dir.path().to_str().unwrap(), target.db.to_str().unwrap());
    let (code, r, out) = reconcile(&["--from", from, "--db", db]);
    assert_eq!((code, counts(&r)), (1, (n, 0, n, 0)), "{out}");
    assert!(r["refused"][0].as_str().unwrap().starts_with("not-a-message.json: "), "{out}");
    assert_eq!(r["missing_results"][0]["message"], "koji-build.test.complete-1.1.14.json", "{out}");

    let (code, r, out) = reconcile(&["--from", from, "--db", db, "--apply"]);
    assert_eq!((code, counts(&r)), (1, (n, 0, n, n)), "stored, one file still unreadable: {out}");
    let stored = target.count();
    assert_eq!(stored as u64, n, "one result per message");
    // Stored under the message's id, as the consumer stores it: a redelivery (or a second
    // run) is a duplicate.
    let got = target.get("/api/v2.0/results?source_message=archived-koji-build.test.complete-1.1.14.json");
    assert_eq!(got.data().len(), 1, "{}", got.text);
    std::fs::remove_file(dir.path().join("not-a-message.json")).unwrap();
    let (code, r, out) = reconcile(&["--from", from, "--db", db, "--apply"]);
    assert_eq!((code, counts(&r)), (0, (n, n, 0, 0)), "{out}");
    assert_eq!(target.count(), stored);
    // A directory source needs the store: a server's API has no ingest keys to ask.
    let url = target.url("");
    let (code, _, out) = reconcile(&["--from", from, "--url", &url]);
    assert_eq!(code, 2, "{out}");
}

#[test]
fn reconcile_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let db = db.to_str().unwrap();
    for (args, says) in [
        (vec!["--from", "http://127.0.0.1:9", "--db", db], "127.0.0.1:9"),
        (vec!["--from", "/no/such/dir", "--db", db], "neither"),
    ] {
        let (code, _, out) = reconcile(&args);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.contains(says), "{out}");
    }
    // A server that is not a ResultsDB API.
    let s = TestServer::start();
    let (code, _, out) = reconcile(&["--from", &s.url("/api/verdict/v1/nothing"), "--db", db]);
    assert_eq!(code, 2, "{out}");
}

#[test]
fn serve_reconciles_periodically_and_reports_the_last_run() {
    let source = TestServer::start();
    let sent = [result("dist.rpmlint", "PASSED", "baz-1-1", 5), result("dist.rpmlint", "FAILED", "baz-1-1", 6)];
    for r in &sent {
        source.result(r.clone());
    }
    let from = source.url("");
    let target = TestServer::start_with(&["--reconcile-from", &from, "--reconcile-every", "2s"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let s = target.get("/api/verdict/v1/consume");
        let rec = &s.json["reconcile"];
        if rec["runs"].as_u64().unwrap_or(0) >= 2 {
            break rec.clone();
        }
        assert!(Instant::now() < deadline, "no reconcile run: {}", s.text);
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status["enabled"], true);
    assert_eq!(status["sources"], json!([source.base]));
    assert_eq!(status["every_seconds"], 2);
    assert_eq!(status["stored"], 2, "{status}");
    let last = &status["last_run"][0];
    // The first run (last 24 hours) stored both; the next looks from an hour before it.
    assert_eq!((last["missing"].as_u64(), last["stored"].as_u64()), (Some(0), Some(0)), "{status}");
    assert!(last["error"].is_null() && last["since"].is_string(), "{status}");
    assert_eq!(target.count(), 2);
    let metrics = target.get("/metrics").text;
    assert!(metrics.contains("verdict_reconcile_stored_total 2"), "{metrics}");
    assert!(metrics.contains("verdict_reconcile_runs_total{outcome=\"ok\"}"), "{metrics}");
}
