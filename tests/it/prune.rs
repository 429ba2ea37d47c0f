//! `verdict prune`: old results go under horizon entries; the chains still verify, history
//! keeps per-day counts, replay and peers (fresh, holding the pruned entries, or offering
//! them again) agree, audit tells pruned from missing, and a server serves throughout.

use crate::support::{TestServer, run_cli};
use serde_json::{Value, json};
use std::path::Path;

/// 60 results over 2020-01-01..10 (6 a day), 3 testcases, pass/fail alternating.
fn seed(s: &TestServer) {
    for i in 0..60 {
        s.result(json!({
            "testcase": format!("t{}", i % 3),
            "outcome": (["PASSED", "FAILED"][i % 2]),
            "submit_time": format!("2020-01-{:02}T10:00:{:02}.000000", 1 + i / 6, i % 60),
            "groups": if i % 10 == 0 { json!(["g1"]) } else { json!([]) },
            "data": {"item": format!("i{}", i % 4), "arch": "x86_64", "duration": (i % 5).to_string()},
        }));
    }
    let w = s.post_raw(
        "/api/v1.0/waivers/",
        &json!({"subject_type": "koji_build", "subject_identifier": "i1", "testcase": "t0",
                "product_version": "fedora-40", "comment": "known", "waived": true})
        .to_string(),
        &[("Authorization", "Basic YWxpY2U6eA==")],
    );
    assert_eq!(w.status, 201, "{}", w.text);
}

fn cli(args: &[&str]) -> String {
    let (code, out, err) = run_cli(args, None);
    assert_eq!(code, 0, "verdict {args:?}: {out}{err}");
    out
}

fn verify(db: &Path) -> String {
    cli(&["verify", "--db", db.to_str().unwrap()])
}

fn prune(db: &Path, extra: &[&str]) -> String {
    let mut args = vec!["prune", "--db", db.to_str().unwrap(), "--before", "2020-01-06"];
    args.extend_from_slice(extra);
    cli(&args)
}

fn ids(s: &TestServer, query: &str) -> Vec<i64> {
    s.get(&format!("/api/v2.0/results?limit=1000{query}")).ids()
}

#[test]
fn prune_drops_old_results_and_the_chain_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let s = TestServer::start_on(&db, &["--auth", "dummy"]);
    seed(&s);
    let before = ids(&s, "");
    let old_id = *before.last().unwrap();
    s.stop();

    let out = prune(&db, &[]);
    assert!(out.contains("pruned 30 results"), "{out}");
    assert!(verify(&db).starts_with("OK"), "the chain verifies over the gap");
    let stats = cli(&["stats", "--db", db.to_str().unwrap()]);
    assert!(stats.contains("pruned:       30 entries in 1 stretches"), "{stats}");

    let s = TestServer::start_on(&db, &["--auth", "dummy"]);
    let after = ids(&s, "");
    assert_eq!(after.len(), 30);
    assert_eq!(after, before[..30].to_vec(), "the newest 30 stay, in order");
    assert_eq!(s.get(&format!("/api/v2.0/results/{old_id}")).status, 404);
    assert!(ids(&s, "&since=2020-01-01,2020-01-05T23:59:59").is_empty());
    let w = s.get("/api/v1.0/waivers/").json;
    assert_eq!(w["data"].as_array().unwrap().len(), 1, "waivers are never pruned: {w}");
    // History keeps what the pruned results said, per day.
    let h = s.get("/api/verdict/v1/history?testcase=t0").json;
    let k = &h["data"][0];
    assert_eq!(k["runs"], 10, "{h}");
    assert_eq!(k["pruned"]["runs"], 10, "{h}");
    assert_eq!(
        (k["pruned"]["first_day"].as_str(), k["pruned"]["last_day"].as_str()),
        (Some("2020-01-01"), Some("2020-01-05"))
    );
    assert_eq!(k["pruned"]["days"].as_array().unwrap().len(), 5, "{h}");
    let h = s.get("/api/verdict/v1/history?testcase=t0&since=2020-01-06").json;
    assert!(h["data"][0].get("pruned").is_none(), "outside the window: {h}");
    // New writes chain on after the horizon.
    s.result(json!({"testcase": "t9", "outcome": "PASSED"}));
    s.stop();
    assert!(verify(&db).starts_with("OK"));

    // Pruning again finds nothing; a replay rebuilds the same store.
    assert!(prune(&db, &[]).contains("pruned 0 results"));
    let replayed = dir.path().join("r.db");
    cli(&["replay", "--db", db.to_str().unwrap(), "--into", replayed.to_str().unwrap()]);
    assert!(verify(&replayed).starts_with("OK"));
    let a = TestServer::start_on(&db, &[]);
    let b = TestServer::start_on(&replayed, &[]);
    for q in ["/api/v2.0/results?limit=100", "/api/verdict/v1/history?testcase=t1", "/api/v2.0/groups/g1"] {
        let same = a.get(q).text.replace(&a.base, "B") == b.get(q).text.replace(&b.base, "B");
        assert!(same, "{q} answers differently after a replay (result ids must survive it)");
    }
}

#[test]
fn a_pattern_prunes_only_matching_testcases() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let s = TestServer::start_on(&db, &["--auth", "dummy"]);
    seed(&s);
    s.stop();
    let out = prune(&db, &["--testcases-like", "t1"]);
    assert!(out.contains("pruned 10 results"), "{out}");
    assert!(verify(&db).starts_with("OK"), "many small gaps verify too");
    let s = TestServer::start_on(&db, &[]);
    assert_eq!(ids(&s, "").len(), 50);
    assert_eq!(ids(&s, "&testcases=t0").len(), 20);
    assert_eq!(ids(&s, "&testcases=t1").len(), 10);
}

/// A tampered gap (the end hash changed) is caught by verify.
#[test]
fn verify_refuses_a_gap_no_horizon_declares() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let s = TestServer::start_on(&db, &["--auth", "dummy"]);
    seed(&s);
    s.stop();
    prune(&db, &[]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE pruned SET to_seq = to_seq - 1", []).unwrap();
    drop(conn);
    let (code, out, err) = run_cli(&["verify", "--db", db.to_str().unwrap()], None);
    assert_ne!(code, 0, "{out}{err}");
}

fn sync(db: &Path, from: &TestServer) -> String {
    cli(&["sync", "--db", db.to_str().unwrap(), &from.base])
}

fn result_count(db: &Path) -> i64 {
    let out = cli(&["stats", "--db", db.to_str().unwrap()]);
    let line = out.lines().find(|l| l.starts_with("results:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn peers_honour_a_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let (a, full, fresh) = (dir.path().join("a.db"), dir.path().join("full.db"), dir.path().join("fresh.db"));
    let s = TestServer::start_on(&a, &["--auth", "dummy"]);
    seed(&s);
    sync(&full, &s);
    let bundle = dir.path().join("all.vbundle");
    cli(&["export", "--db", a.to_str().unwrap(), "-o", bundle.to_str().unwrap()]);
    s.stop();
    assert_eq!(result_count(&full), 60);

    prune(&a, &["--testcases-like", "t*"]);
    let s = TestServer::start_on(&a, &[]);
    // A peer holding the pruned entries drops them when it imports the horizon.
    sync(&full, &s);
    assert_eq!(result_count(&full), 30);
    assert!(verify(&full).starts_with("OK"));
    // A fresh peer gets the gaps in the stream and the same store.
    sync(&fresh, &s);
    assert_eq!(result_count(&fresh), 30);
    assert!(verify(&fresh).starts_with("OK"));
    // Result ids are each node's own log positions: compare uuids.
    let page = |db: &Path| {
        let t = TestServer::start_on(db, &[]);
        let uuids: Vec<Value> = t.get("/api/v2.0/results?limit=100").data().iter().map(|r| r["uuid"].clone()).collect();
        let h: Value = t.get("/api/verdict/v1/history?testcase=t2").json;
        (uuids, h["data"][0]["pruned"].clone())
    };
    assert!(page(&full) == page(&fresh), "the two peers list the same results and summaries");
    assert_eq!(page(&fresh).1["runs"], 10);
    // Offered the pruned entries again (a bundle made before), nothing comes back.
    let out = cli(&["import", "--db", fresh.to_str().unwrap(), bundle.to_str().unwrap()]);
    assert!(out.contains("0 new"), "{out}");
    assert_eq!(result_count(&fresh), 30);
    assert!(verify(&fresh).starts_with("OK"));
    // Audit tells pruned stretches from missing entries.
    let old = dir.path().join("old.db");
    cli(&["import", "--db", old.to_str().unwrap(), bundle.to_str().unwrap()]);
    let out = cli(&["audit", "--db", old.to_str().unwrap(), "--peer", &s.base]);
    assert!(out.contains("behind by 1"), "only the horizon is missing here: {out}");
    assert!(out.contains("pruned (under horizon entries, not missing): here none; there 30 entries"), "{out}");
    assert!(out.contains("0 diverged"), "{out}");
    let out = cli(&["audit", "--db", fresh.to_str().unwrap(), "--peer", &s.base]);
    assert!(out.contains("1 in sync"), "{out}");
}

#[test]
fn a_server_serves_and_writes_while_a_prune_runs_on_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let s = TestServer::start_on(&db, &["--auth", "dummy"]);
    seed(&s);
    let reader = std::thread::scope(|scope| {
        let pruner = scope.spawn(|| {
            // Small steps: many transactions for the server to interleave with.
            let (code, out, err) = crate::support::run_cli_env(
                &["prune", "--db", db.to_str().unwrap(), "--before", "2020-01-06"],
                &[("VERDICT_PRUNE_STEP", "3")],
                None,
            );
            assert_eq!(code, 0, "{out}{err}");
            out
        });
        let mut seen = 0;
        while !pruner.is_finished() {
            assert_eq!(s.get("/api/v2.0/results?limit=5").status, 200);
            s.result(json!({"testcase": "during", "outcome": "PASSED"}));
            seen += 1;
        }
        (pruner.join().unwrap(), seen)
    });
    let (out, writes) = reader;
    assert!(out.contains("pruned 30 results"), "{out}");
    assert_eq!(ids(&s, "&testcases=during").len(), writes);
    assert_eq!(ids(&s, "&testcases=t0,t1,t2").len(), 30, "the server sees the prune");
    s.stop();
    assert!(verify(&db).starts_with("OK"));
}
