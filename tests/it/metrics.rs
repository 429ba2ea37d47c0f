//! `GET /metrics`: the counters move with requests, writes, decisions and event streams,
//! routes are labelled by their template, and the exposition passes `promtool check
//! metrics` (required in CI: `VERDICT_REQUIRE_PROMTOOL=1`).

use crate::support::TestServer;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The value of the sample `series` (name and labels exactly as exposed), 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

fn scrape(s: &TestServer) -> String {
    let r = s.get("/metrics");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    r.text
}

fn policies() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/policies/gating")
}

const POSTS: &str = r#"verdict_http_requests_total{method="POST",route="/api/v2.0/results",status="201"}"#;

#[test]
fn counters_move_with_writes_reads_and_decisions() {
    let s = TestServer::start_with(&["--policies", policies().to_str().unwrap()]);
    let before = scrape(&s);
    let created = s.result(json!({"testcase": "m.t", "outcome": "PASSED", "data": {"item": "foo-1.0-1.fc40"}}));
    let after = scrape(&s);
    assert_eq!(
        sample(&after, "verdict_writes_committed_total"),
        sample(&before, "verdict_writes_committed_total") + 1.0
    );
    assert_eq!(sample(&after, POSTS), sample(&before, POSTS) + 1.0, "{after}");
    assert!(sample(&after, "verdict_group_commit_duration_seconds_count") >= 1.0, "{after}");
    assert!(sample(&after, "verdict_commit_fsync_duration_seconds_count") >= 1.0, "{after}");
    assert!(sample(&after, "verdict_group_commit_batch_jobs_count") >= 1.0, "{after}");
    assert!(sample(&after, "verdict_store_size_bytes") > 0.0, "{after}");
    // Routes are labelled by their template, never by the raw path; no route is `unmatched`.
    let id = created["id"].as_i64().unwrap();
    assert_eq!(s.get(&format!("/api/v2.0/results/{id}")).status, 200);
    assert_eq!(s.get("/no/such/path").status, 404);
    let decision = s.post(
        "/api/v1.0/decision",
        &json!({"decision_context": "bodhi_update_push_stable", "product_version": "fedora-40",
                "subject_type": "koji_build", "subject_identifier": "foo-1.0-1.fc40"}),
    );
    assert_eq!(decision.status, 200, "{}", decision.text);
    let satisfied = decision.json["policies_satisfied"].as_bool().unwrap();
    assert_eq!(s.post("/api/v1.0/decision", &json!({"decision_context": 1})).status, 400);
    let text = scrape(&s);
    let by_id = r#"verdict_http_requests_total{method="GET",route="/api/v2.0/results/{id}",status="200"}"#;
    assert_eq!(sample(&text, by_id), 1.0, "{text}");
    assert!(!text.contains(&format!("/api/v2.0/results/{id}\"")), "a raw path became a label:\n{text}");
    let unmatched = r#"verdict_http_requests_total{method="GET",route="unmatched",status="404"}"#;
    assert_eq!(sample(&text, unmatched), 1.0, "{text}");
    let outcome = if satisfied { "satisfied" } else { "unsatisfied" };
    assert_eq!(sample(&text, &format!("verdict_decisions_total{{outcome=\"{outcome}\"}}")), 1.0, "{text}");
    assert_eq!(sample(&text, r#"verdict_decisions_total{outcome="error"}"#), 1.0, "{text}");
    let latency = r#"verdict_http_request_duration_seconds_count{method="POST",route="/api/v2.0/results"}"#;
    assert_eq!(sample(&text, latency), 1.0, "{text}");
    // Counted at the first scrape (no key then) and kept for a minute.
    assert!(text.contains("verdict_insight_keys{state=\"healthy\"} 0\n"), "{text}");
}

#[test]
fn open_event_streams_are_counted() {
    let s = TestServer::start();
    assert_eq!(sample(&scrape(&s), "verdict_sse_subscribers"), 0.0);
    let stream = crate::support::agent().get(&s.url("/api/v2.0/events")).call().unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(sample(&scrape(&s), "verdict_sse_subscribers"), 1.0);
    drop(stream);
}

#[test]
fn the_exposition_passes_promtool() {
    let Ok(promtool) = which_promtool() else {
        assert!(
            std::env::var("VERDICT_REQUIRE_PROMTOOL").is_err(),
            "VERDICT_REQUIRE_PROMTOOL is set but promtool is not installed (apt-get install prometheus)"
        );
        eprintln!("skipped: promtool is not installed (apt-get install prometheus)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let s = TestServer::start_with(&[
        "--policies",
        policies().to_str().unwrap(),
        "--spool",
        spool.to_str().unwrap(),
        "--peer",
        "http://user:secret@127.0.0.1:9/",
    ]);
    for i in 0..20 {
        let outcome = if i % 3 == 0 { "FAILED" } else { "PASSED" };
        s.result(json!({"testcase": format!("p.t{}", i % 4), "outcome": outcome, "data": {"item": "foo-1.0-1.fc40"}}));
    }
    assert_eq!(s.get("/api/v2.0/results?testcases=p.t1").status, 200);
    assert_eq!(s.get("/api/v2.0/testcases").status, 200);
    assert_eq!(s.get("/api/verdict/v1/flaky").status, 200);
    let decision = json!({"decision_context": "bodhi_update_push_stable", "product_version": "fedora-40",
                          "subject_type": "koji_build", "subject_identifier": "foo-1.0-1.fc40"});
    assert_eq!(s.post("/api/v1.0/decision", &decision).status, 200);
    let text = scrape(&s);
    assert!(!text.contains("secret"), "a peer's password is shown:\n{text}");
    // The first scrape counts the keys: 4 testcases, each flaky, broken or healthy.
    let keys: f64 = ["flaky", "broken", "healthy"]
        .iter()
        .map(|state| sample(&text, &format!("verdict_insight_keys{{state=\"{state}\"}}")))
        .sum();
    assert_eq!(keys, 4.0, "{text}");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics:\n{said}\n---\n{text}");
}

fn which_promtool() -> Result<PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path).map(|d| d.join("promtool")).find(|p| p.is_file()).ok_or(())
}
