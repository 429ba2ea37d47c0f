//! Insight over HTTP and the CLI: history per key with statistics, the flaky
//! classification with its evidence, `when`, parameter errors, and the index built for an
//! older store on upgrade.

use crate::support::{TestServer, run_cli};
use serde_json::{Value, json};

/// Minutes after an arbitrary base, as ResultsDB's epoch milliseconds.
fn at(minute: i64) -> i64 {
    1_700_000_000_000 + minute * 60_000
}

/// Posts a result of `testcase` on `item` at `minute`; returns its id.
fn post(s: &TestServer, testcase: &str, item: &str, arch: &str, outcome: &str, minute: i64) -> i64 {
    let r = s.result(json!({
        "testcase": {"name": testcase},
        "outcome": outcome,
        "submit_time": at(minute),
        "note": format!("run at minute {minute}"),
        "data": {"item": item, "type": "koji_build", "arch": arch, "scenario": format!("fedora.{arch}.default"), "duration": format!("{}", 10 + minute)},
    }));
    r["id"].as_i64().unwrap()
}

fn keys(v: &Value) -> Vec<(String, String)> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["testcase"].as_str().unwrap().to_owned(), k["arch"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn history_lists_each_key_newest_first_with_its_statistics() {
    let s = TestServer::start();
    let mut ids = Vec::new();
    for (m, outcome) in ["PASSED", "FAILED", "PASSED", "PASSED", "FAILED", "FAILED"].iter().enumerate() {
        ids.push(post(&s, "t.one", &format!("pkg-1.{m}-1.fc40"), "x86_64", outcome, m as i64));
    }
    post(&s, "t.one", "pkg-1.9-1.fc40", "aarch64", "PASSED", 3);
    post(&s, "t.one", "pkg-1.9-1.fc40", "x86_64", "QUEUED", 9);
    post(&s, "t.other", "pkg-1.9-1.fc40", "x86_64", "FAILED", 3);

    let r = s.get("/api/verdict/v1/history?testcase=t.one&limit=3");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(keys(&r.json), [("t.one".into(), "aarch64".into()), ("t.one".into(), "x86_64".into())]);
    let k = &r.json["data"][1];
    assert_eq!(k["scenario"], "fedora.x86_64.default");
    assert_eq!((k["runs"].as_u64(), k["passes"].as_u64(), k["fails"].as_u64()), (Some(6), Some(3), Some(3)));
    assert_eq!(k["transitions"], 3);
    assert_eq!(k["pass_rate"], 0.5);
    assert_eq!(k["current_streak"]["outcome"], "fail");
    assert_eq!(k["current_streak"]["length"], 2);
    assert_eq!(k["duration"]["count"], 6);
    assert!(k["first_seen"].as_str().unwrap().starts_with("2023-11-14T22:13:20"), "{}", k["first_seen"]);
    assert!(k["last_pass"].is_string() && k["last_fail"].is_string());
    let rows: Vec<i64> = k["results"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(rows, [ids[5], ids[4], ids[3]], "newest first, limit 3 (QUEUED is not a run)");
    let row = &k["results"][0];
    assert_eq!((row["outcome"].as_str(), row["note"].as_str()), (Some("FAILED"), Some("run at minute 5")));
    assert!(row["uuid"].as_str().is_some_and(|u| u.len() == 36));

    // Narrowed by item, arch, time; a pattern; an unknown item has no history.
    let r = s.get("/api/verdict/v1/history?testcase=t.one&item=pkg-1.1-1.fc40");
    assert_eq!(r.json["data"][0]["runs"], 1);
    let r = s.get("/api/verdict/v1/history?testcases:like=t.*&arch=x86_64");
    assert_eq!(keys(&r.json), [("t.one".into(), "x86_64".into()), ("t.other".into(), "x86_64".into())]);
    let since = (at(4) / 1000).to_string();
    let r =
        s.get(&format!("/api/verdict/v1/history?testcase=t.one&arch=x86_64&since=2023-11-14T22:17:20Z&x={since}")).json;
    assert!(r["message"].as_str().is_some_and(|m| m.contains("\"x\"")), "an unknown parameter is named: {r}");
    let r = s.get("/api/verdict/v1/history?testcase=t.one&arch=x86_64&since=2023-11-14T22:17:20Z");
    assert_eq!(r.json["data"][0]["runs"], 2, "{}", r.text);
    let r = s.get("/api/verdict/v1/history?testcase=t.one&item=no-such-item");
    assert_eq!(r.json["data"], json!([]));
}

#[test]
fn history_refuses_bad_parameters_naming_them() {
    let s = TestServer::start();
    for (query, name) in [
        ("item=x", "testcase"),
        ("testcase=t&limit=0", "limit"),
        ("testcase=t&limit=x", "limit"),
        ("testcase=t&since=last-week", "since"),
        ("testcase=t&when=now", "when"),
        ("testcase=t&bogus=1", "bogus"),
    ] {
        let r = s.get(&format!("/api/verdict/v1/history?{query}"));
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        assert!(r.json["message"].as_str().is_some_and(|m| m.contains(name)), "{query}: {}", r.text);
    }
    for (query, name) in [("flip_rate=2", "flip_rate"), ("min_runs=0", "min_runs"), ("since=x", "since")] {
        let r = s.get(&format!("/api/verdict/v1/flaky?{query}"));
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        assert!(r.json["message"].as_str().is_some_and(|m| m.contains(name)), "{query}: {}", r.text);
    }
}

/// The state of `testcase` in a flaky answer.
fn state_of<'a>(answer: &'a Value, testcase: &str) -> &'a Value {
    answer["data"].as_array().unwrap().iter().find(|c| c["testcase"] == testcase).unwrap_or(&Value::Null)
}

#[test]
fn flaky_classifies_every_key_with_its_evidence() {
    let s = TestServer::start();
    // Same code, pass and fail: flaky with the two results as evidence.
    let fail = post(&s, "t.retry", "pkg-1.0-1.fc40", "x86_64", "FAILED", 1);
    let pass = post(&s, "t.retry", "pkg-1.0-1.fc40", "x86_64", "PASSED", 2);
    // Alternating on different items: flaky by flip rate.
    for m in 0..8 {
        post(&s, "t.flips", &format!("pkg-{m}"), "x86_64", if m % 2 == 0 { "PASSED" } else { "FAILED" }, m);
    }
    // Passing, then three fails in a row: broken, not flaky.
    for m in 0..6 {
        post(&s, "t.broken", &format!("pkg-{m}"), "x86_64", if m < 3 { "PASSED" } else { "FAILED" }, m);
    }
    // Always passing: healthy.
    for m in 0..6 {
        post(&s, "t.fine", &format!("pkg-{m}"), "x86_64", "PASSED", m);
    }
    let r = s.get("/api/verdict/v1/flaky?since=2023-11-01");
    assert_eq!(r.status, 200, "{}", r.text);
    let a = &r.json;
    assert_eq!(a["params"]["min_runs"], 5);
    let retry = state_of(a, "t.retry");
    assert_eq!(retry["state"], "flaky", "{retry}");
    let evidence: Vec<i64> = retry["evidence"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(evidence, [fail, pass]);
    assert_eq!(retry["evidence"][0]["outcome"], "FAILED");
    assert!(retry["evidence"][0]["uuid"].as_str().is_some_and(|u| u.len() == 36));
    assert!(retry["reason"].as_str().is_some_and(|m| m.contains("pkg-1.0-1.fc40")), "{retry}");
    assert_eq!(state_of(a, "t.flips")["state"], "flaky");
    assert!(state_of(a, "t.flips")["flip_rate"].as_f64().is_some_and(|f| f > 0.9));
    assert_eq!(state_of(a, "t.broken")["state"], "broken", "{}", state_of(a, "t.broken"));
    assert_eq!(state_of(a, "t.fine")["state"], "healthy");

    // Thresholds are parameters: a flip rate of 1 can only be reached by alternation.
    let r = s.get("/api/verdict/v1/flaky?since=2023-11-01&testcases:like=t.f*&min_runs=20");
    assert_eq!(state_of(&r.json, "t.flips")["state"], "healthy", "{}", r.text);
    // The default window is the last 14 days: these results are older.
    let r = s.get("/api/verdict/v1/flaky");
    assert_eq!(r.json["data"], json!([]), "{}", r.text);
}

#[test]
fn flaky_clears_after_five_passes_and_when_sees_the_past() {
    let s = TestServer::start();
    post(&s, "t.heal", "pkg-a", "x86_64", "FAILED", 0);
    post(&s, "t.heal", "pkg-a", "x86_64", "PASSED", 1);
    for m in 2..6 {
        post(&s, "t.heal", &format!("pkg-{m}"), "x86_64", "PASSED", m);
    }
    let r = s.get("/api/verdict/v1/flaky?since=2023-11-01").json;
    assert_eq!(state_of(&r, "t.heal")["state"], "flaky", "4 passes after the evidence: not yet cleared: {r}");
    assert_eq!(state_of(&r, "t.heal")["passes_since_evidence"], 4);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let before = verdict::model::Timestamp::now().to_iso();
    std::thread::sleep(std::time::Duration::from_millis(20));
    post(&s, "t.heal", "pkg-6", "x86_64", "PASSED", 6);
    let r = s.get("/api/verdict/v1/flaky?since=2023-11-01").json;
    assert_eq!(state_of(&r, "t.heal")["state"], "healthy", "{r}");
    // As this node answered before the fifth pass was stored.
    let r = s.get(&format!("/api/verdict/v1/flaky?since=2023-11-01&when={before}Z")).json;
    assert_eq!(state_of(&r, "t.heal")["state"], "flaky", "{r}");
    let r = s.get(&format!("/api/verdict/v1/history?testcase=t.heal&when={before}Z")).json;
    assert_eq!(r["data"][0]["runs"], 6, "{r}");
}

#[test]
fn the_cli_prints_flaky_and_history_tables_and_json() {
    let s = TestServer::start();
    post(&s, "t.retry", "pkg-1", "x86_64", "FAILED", 1);
    post(&s, "t.retry", "pkg-1", "x86_64", "PASSED", 2);
    let db = s.db.to_string_lossy().into_owned();
    let (code, out, err) = run_cli(&["flaky", "--db", &db, "--since", "2023-11-01"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with("flaky") && l.contains("t.retry")), "{out}");
    let (code, out, err) = run_cli(&["flaky", "--db", &db, "--since", "2023-11-01", "--json"], None);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(state_of(&v, "t.retry")["state"], "flaky");
    let (code, out, err) = run_cli(&["history", "--db", &db, "--testcase", "t.retry"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 runs, 1 passed, 1 failed"), "{out}");
    let (code, _, err) = run_cli(&["history", "--db", &db, "--item", "pkg-1"], None);
    assert_ne!(code, 0);
    assert!(err.contains("testcase"), "{err}");
}

#[test]
fn upgrading_a_version_2_store_builds_the_insight_index() {
    let s = TestServer::start_sqlite(&[]);
    let failed = post(&s, "t.old", "pkg-1", "x86_64", "FAILED", 1);
    post(&s, "t.old", "pkg-1", "x86_64", "PASSED", 2);
    let again = post(&s, "t.old", "pkg-2", "x86_64", "FAILED", 3);
    let dir = s.stop().unwrap();
    let path = dir.path().join("verdict.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DELETE FROM runs; DELETE FROM run_keys; UPDATE meta SET value = '2' WHERE key = 'schema_version';",
    )
    .unwrap();
    drop(conn);
    let db = path.to_string_lossy().into_owned();
    // Reading commands do not upgrade; a writing one does.
    let (code, _, err) = run_cli(&["verify", "--db", &db], None);
    assert_eq!(code, 0, "{err}");
    let s = TestServer::start_on(&path, &[]);
    let r = s.get("/api/verdict/v1/history?testcase=t.old").json;
    assert_eq!(r["data"][0]["runs"], 3, "{r}");
    assert_eq!(r["data"][0]["arch"], "x86_64");
    assert_eq!(r["data"][0]["duration"]["count"], 3, "durations come back from the interned data: {r}");
    let r = s.get(&format!("/api/verdict/v1/results/{again}/similar")).json;
    assert_eq!(r["results"][0]["id"], failed, "failure signatures come back from the log: {r}");
}

#[test]
fn upgrading_a_version_3_store_records_where_each_keys_runs_changed() {
    let s = TestServer::start_sqlite(&[]);
    post(&s, "t.v3", "pkg-1", "x86_64", "FAILED", 1);
    post(&s, "t.v3", "pkg-1", "x86_64", "PASSED", 2);
    let dir = s.stop().unwrap();
    let path = dir.path().join("verdict.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TABLE run_key_changes; UPDATE meta SET value = '3' WHERE key = 'schema_version';")
        .unwrap();
    drop(conn);
    let s = TestServer::start_on(&path, &[]);
    let r = s.get("/api/verdict/v1/flaky?since=2023-11-01").json;
    assert_eq!(r["data"][0]["state"], "flaky", "{r}");
    post(&s, "t.v3", "pkg-2", "x86_64", "FAILED", 3);
    let r = s.get("/api/verdict/v1/flaky?since=2023-11-01").json;
    assert_eq!(r["data"][0]["runs"], 3, "a new run is seen after the upgrade: {r}");
    s.stop();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (version, changed): (String, i64) = conn
        .query_row(
            "SELECT (SELECT value FROM meta WHERE key = 'schema_version'), (SELECT changed FROM run_key_changes)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((version.as_str(), changed), ("6", 3));
}

#[test]
fn similar_lists_earlier_results_that_failed_the_same_way() {
    let s = TestServer::start();
    let fail = |item: &str, minute: i64, note: &str| {
        s.result(json!({"testcase": {"name": "t.sig"}, "outcome": "FAILED", "submit_time": at(minute), "note": note,
                        "data": {"item": item, "arch": "x86_64"}}))["id"]
            .as_i64()
            .unwrap()
    };
    let first = fail("pkg-1", 1, "timeout after 30s in /tmp/build-1234 (worker 7)");
    let other = fail("pkg-2", 2, "assertion failed: expected 3 got 4");
    let second = fail("pkg-2", 3, "timeout after 45.5s in /var/tmp/build-99 (worker 12)");
    let third = fail("pkg-3", 4, "timeout after 12s in /tmp/x (worker 1)");
    let pass = post(&s, "t.sig", "pkg-3", "x86_64", "PASSED", 5);

    let r = s.get(&format!("/api/verdict/v1/results/{third}/similar"));
    assert_eq!(r.status, 200, "{}", r.text);
    let sig = r.json["signature"].as_str().unwrap().to_owned();
    assert_eq!(sig.len(), 32);
    assert_eq!(r.json["seen_before"], 2);
    assert!(r.json["first_seen"].as_str().unwrap().starts_with("2023-11-14T22:14:20"), "{}", r.json);
    let ids: Vec<i64> = r.json["results"].as_array().unwrap().iter().map(|x| x["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [second, first], "newest first; the other failure is not similar ({other})");
    assert_eq!(r.json["items"], json!(["pkg-2", "pkg-1"]));
    assert_eq!(s.get(&format!("/api/verdict/v1/results/{first}/similar")).json["seen_before"], 0);
    // A pass has no signature; an unknown result is a 404; parameters are checked.
    assert!(s.get(&format!("/api/verdict/v1/results/{pass}/similar")).json["signature"].is_null());
    assert_eq!(s.get("/api/verdict/v1/results/999999/similar").status, 404);
    assert_eq!(s.get(&format!("/api/verdict/v1/results/{third}/similar?limit=0")).status, 400);

    // History names the newest failure's signature and how often it was seen before.
    let h = s.get("/api/verdict/v1/history?testcase=t.sig").json;
    assert_eq!(h["data"][0]["signature"], sig.as_str(), "{h}");
    assert_eq!(h["data"][0]["seen_before"], 2);
    assert_eq!(h["data"][0]["results"][1]["signature"], sig.as_str());
}

/// Buckets of a compare answer: testcase names per bucket.
fn bucket(a: &Value, name: &str) -> Vec<String> {
    a[name]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: {a}"))
        .iter()
        .map(|e| e["testcase"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn compare_sorts_every_key_of_base_and_head_into_buckets() {
    let s = TestServer::start();
    let (base, head) = ("foo-1.0-1.fc40", "foo-1.1-1.fc40");
    let run = |t: &str, item: &str, outcome: &str, minute: i64| post(&s, t, item, "x86_64", outcome, minute);
    run("t.newfail", base, "PASSED", 1);
    let newfail = run("t.newfail", head, "FAILED", 10);
    run("t.fixed", base, "FAILED", 1);
    run("t.fixed", head, "PASSED", 10);
    run("t.still", "foo-0.9-1.fc40", "FAILED", 0);
    run("t.still", base, "FAILED", 1);
    run("t.still", head, "FAILED", 10);
    run("t.same", base, "PASSED", 1);
    run("t.same", head, "PASSED", 10);
    run("t.gone", base, "PASSED", 1);
    run("t.new", head, "FAILED", 10);
    // Flaky: failed and passed on one item lately (the flaky window is the last 14 days);
    // whatever it does in base and head, it is flaky.
    for outcome in ["FAILED", "PASSED"] {
        s.result(json!({"testcase": {"name": "t.flaky"}, "outcome": outcome,
                        "data": {"item": "foo-0.9-1.fc40", "arch": "x86_64", "scenario": "fedora.x86_64.default"}}));
    }
    run("t.flaky", base, "PASSED", 4);
    run("t.flaky", head, "FAILED", 10);

    let url = format!("/api/verdict/v1/compare?base_item={base}&head_item={head}");
    let r = s.get(&url);
    assert_eq!(r.status, 200, "{}", r.text);
    let a = &r.json;
    assert_eq!(bucket(a, "new_failures"), ["t.newfail"], "{a}");
    assert_eq!(bucket(a, "fixed"), ["t.fixed"]);
    assert_eq!(bucket(a, "still_failing"), ["t.still"]);
    assert_eq!(bucket(a, "new_tests"), ["t.new"]);
    assert_eq!(bucket(a, "missing"), ["t.gone"]);
    assert_eq!(bucket(a, "flaky"), ["t.flaky"]);
    assert_eq!(a["unchanged_passing"], 1);
    assert_eq!(a["new_failures"][0]["head_id"], newfail);
    assert!(a["new_failures"][0]["base_id"].is_i64());
    assert_eq!(a["still_failing"][0]["failing_for"], 3, "consecutive fails across all items: {a}");
    assert!(a["still_failing"][0]["failing_since"].as_str().unwrap().starts_with("2023-11-14T22:13:20"));
    assert_eq!((a["base"]["item"].as_str(), a["head"]["keys"].as_u64()), (Some(base), Some(6)));

    // last_good: the newest earlier build of foo whose keys all passed.
    s.result(json!({"testcase": {"name": "t.same"}, "outcome": "PASSED", "submit_time": at(0),
                    "data": {"item": "foo-0.8-1.fc40", "arch": "x86_64", "scenario": "fedora.x86_64.default"}}));
    let r = s.get(&format!("/api/verdict/v1/compare?base=last_good&head_item={head}")).json;
    assert_eq!(r["base"]["item"], "foo-0.8-1.fc40", "{r}");
    // Parameter errors name the parameter.
    for (query, name) in [("head_item=x", "base"), ("base_item=x", "head"), ("base=last_good&head=g", "base")] {
        let r = s.get(&format!("/api/verdict/v1/compare?{query}"));
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        assert!(r.json["message"].as_str().is_some_and(|m| m.contains(name)), "{query}: {}", r.text);
    }
    // The CLI prints the same buckets.
    let db = s.db.to_string_lossy().into_owned();
    let (code, out, err) = run_cli(&["compare", "--db", &db, "--base-item", base, "--head-item", head], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with("NEW FAILURE") && l.contains("t.newfail")), "{out}");
    assert!(out.contains("1 unchanged passing"), "{out}");
}

/// What two flaky answers must agree on (uuids are each server's own).
fn comparable(answer: &Value) -> Vec<Value> {
    answer["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let mut c = c.clone();
            for e in c["evidence"].as_array_mut().unwrap() {
                e.as_object_mut().unwrap().remove("uuid");
            }
            c
        })
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(6))]

    /// Classifying at `when = T` equals classifying a store that holds only what was
    /// stored by T (and so does a key's history).
    #[test]
    fn flaky_at_an_instant_equals_a_store_holding_only_what_was_stored_by_then(
        runs in proptest::collection::vec((0..2usize, 0..3usize, 0..3usize), 2..30),
        cut in 0.0..1.0f64,
    ) {
        const OUTCOMES: [&str; 3] = ["PASSED", "FAILED", "QUEUED"];
        let body = |i: usize, (t, item, o): (usize, usize, usize)| json!({
            "testcase": {"name": format!("t.{t}")},
            "outcome": OUTCOMES[o],
            "submit_time": at(i as i64),
            "data": {"item": format!("pkg-{item}"), "arch": "x86_64"},
        });
        let k = ((runs.len() as f64) * cut) as usize;
        let full = TestServer::start();
        for (i, r) in runs[..k].iter().enumerate() {
            full.result(body(i, *r));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        let t = verdict::model::Timestamp::now().to_iso();
        std::thread::sleep(std::time::Duration::from_millis(5));
        for (i, r) in runs.iter().enumerate().skip(k) {
            full.result(body(i, *r));
        }
        let past = TestServer::start();
        for (i, r) in runs[..k].iter().enumerate() {
            past.result(body(i, *r));
        }
        let at_t = full.get(&format!("/api/verdict/v1/flaky?since=2020-01-01&when={t}Z")).json;
        let only = past.get("/api/verdict/v1/flaky?since=2020-01-01").json;
        proptest::prop_assert_eq!(comparable(&at_t), comparable(&only));
        for tc in ["t.0", "t.1"] {
            let h = |s: &TestServer, when: &str| {
                let mut v = s.get(&format!("/api/verdict/v1/history?testcase={tc}{when}")).json;
                for key in v["data"].as_array_mut().unwrap() {
                    for row in key["results"].as_array_mut().unwrap() {
                        row.as_object_mut().unwrap().remove("uuid");
                    }
                }
                v
            };
            proptest::prop_assert_eq!(h(&full, &format!("&when={t}Z")), h(&past, ""));
        }
    }
}

/// The `data` of a flaky answer from the CLI, which reads the store with nothing
/// remembered from earlier questions.
fn fresh_flaky(s: &TestServer, query: &[&str]) -> Value {
    let db = s.db.to_string_lossy().into_owned();
    let mut args = vec!["flaky", "--db", &db, "--json"];
    args.extend_from_slice(query);
    let (code, out, err) = run_cli(&args, None);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(6))]

    /// A server remembers classifications between questions; whatever arrives between
    /// them (new results, late results with old submit times) and however the window
    /// and `when` move, its answers equal those of a reader that remembers nothing.
    #[test]
    fn remembered_classifications_equal_fresh_ones(
        steps in proptest::collection::vec((0..2usize, 0..3usize, 0..2usize, 0..40i64, 0..4i64), 4..24),
    ) {
        let s = TestServer::start();
        let mut instants: Vec<String> = Vec::new();
        for (i, (t, item, o, minute, ask)) in steps.into_iter().enumerate() {
            post(&s, &format!("t.{t}"), &format!("pkg-{item}"), "x86_64", ["PASSED", "FAILED"][o], minute);
            if i % 2 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(3));
                instants.push(verdict::model::Timestamp::now().to_iso());
                std::thread::sleep(std::time::Duration::from_millis(3));
            }
            // Windows whose start moves over the results, and instants in the past.
            let since = at(minute / (ask + 1));
            let since_iso = verdict::model::Timestamp(since * 1000).to_iso();
            let mut query = vec![format!("since={since_iso}Z")];
            let mut cli = vec!["--since".to_owned(), format!("{since_iso}Z")];
            if ask == 3 && let Some(when) = instants.get(instants.len() / 2) {
                query.push(format!("when={when}Z"));
                cli.extend(["--when".to_owned(), format!("{when}Z")]);
            }
            let served = s.get(&format!("/api/verdict/v1/flaky?{}", query.join("&"))).json;
            let cli: Vec<&str> = cli.iter().map(String::as_str).collect();
            proptest::prop_assert_eq!(&served["data"], &fresh_flaky(&s, &cli)["data"], "{:?}", query);
        }
    }
}
