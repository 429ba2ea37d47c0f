//! Waivers (WaiverDB API v1.0) and decisions (Greenwave API v1.0) over HTTP, the policy
//! CLI, and waiver events. The decision tables themselves are unit tests of `gating`.

use crate::support::{TestServer, run_cli};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

fn policies() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/policies")
}

fn gated(extra: &[&str]) -> TestServer {
    let dir = policies().join("gating");
    let mut args = vec!["--auth", "dummy", "--superuser", "alice", "--policies", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    TestServer::start_with(&args)
}

fn basic(user: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:x")))
}

fn waive(s: &TestServer, user: &str, body: Value) -> crate::support::Resp {
    s.post_raw("/api/v1.0/waivers/", &body.to_string(), &[("Authorization", &basic(user))])
}

fn waiver(nvr: &str, testcase: &str, waived: bool) -> Value {
    json!({"subject_type": "koji_build", "subject_identifier": nvr, "testcase": testcase,
           "product_version": "fedora-40", "waived": waived, "comment": "reason"})
}

fn decide(s: &TestServer, nvr: &str, extra: Value) -> crate::support::Resp {
    let mut body = json!({"subject_type": "koji_build", "subject_identifier": nvr,
                          "decision_context": "bodhi_update_push_stable", "product_version": "fedora-40"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    s.post("/api/v1.0/decision", &body)
}

/// `verdict decide` on the server's store for `nvr` in the gating fixtures' context.
fn decide_cli(s: &TestServer, nvr: &str, extra: &[&str]) -> (i32, String, String) {
    let db = s.db.to_string_lossy().into_owned();
    let dir = policies().join("gating");
    let mut args = vec!["decide", "--db", &db, "--policies", dir.to_str().unwrap(), "--subject-type", "koji_build"];
    args.extend(["--subject", nvr, "--context", "bodhi_update_push_stable", "--product-version", "fedora-40"]);
    args.extend_from_slice(extra);
    run_cli(&args, None)
}

fn result(s: &TestServer, nvr: &str, testcase: &str, outcome: &str, scenario: Option<&str>) -> i64 {
    let mut data = json!({"item": nvr, "type": "koji_build"});
    if let Some(sc) = scenario {
        data["scenario"] = json!(sc);
    }
    s.result(json!({"testcase": testcase, "outcome": outcome, "data": data}))["id"].as_i64().unwrap()
}

/// (type, testcase) of each unsatisfied requirement.
fn unsatisfied(d: &Value) -> Vec<(String, String)> {
    d["unsatisfied_requirements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["type"].as_str().unwrap().to_owned(), r["testcase"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn decisions_answer_every_requirement_type() {
    let s = gated(&[]);
    let nvr = "foo-1.0-1.fc40";
    let d = decide(&s, nvr, json!({}));
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.json["policies_satisfied"], false);
    assert_eq!(d.json["summary"], "Of 2 required tests, 2 results missing");
    assert_eq!(d.json["progress"], json!({"required": 2, "satisfied": 0}));

    result(&s, nvr, "dist.rpmdeplint", "ERROR", None);
    result(&s, nvr, "compose.install", "RUNNING", Some("x86_64.uefi"));
    let d = decide(&s, nvr, json!({}));
    let mut got = unsatisfied(&d.json);
    got.sort();
    assert_eq!(
        got,
        [
            ("test-result-errored".into(), "dist.rpmdeplint".into()),
            ("test-result-missing".into(), "compose.install".into())
        ]
    );

    let failed = result(&s, nvr, "dist.rpmdeplint", "FAILED", None);
    // Another scenario's pass does not satisfy the required scenario.
    result(&s, nvr, "compose.install", "PASSED", Some("aarch64.bios"));
    let d = decide(&s, nvr, json!({}));
    let types: Vec<String> = unsatisfied(&d.json).into_iter().map(|(t, _)| t).collect();
    assert!(types.contains(&"test-result-failed".to_owned()), "{types:?}");
    let before_pass = d.json.clone();

    std::thread::sleep(Duration::from_millis(5));
    let when = verdict::model::Timestamp::now().to_iso();
    std::thread::sleep(Duration::from_millis(5));
    let passed = result(&s, nvr, "dist.rpmdeplint", "PASSED", None);
    result(&s, nvr, "compose.install", "PASSED", Some("x86_64.uefi"));
    let d = decide(&s, nvr, json!({"verbose": true}));
    assert_eq!(d.json["policies_satisfied"], true, "{}", d.text);
    assert_eq!(d.json["summary"], "All required tests (2 total) have passed or been waived");
    assert_eq!(d.json["progress"], json!({"required": 2, "satisfied": 2}));
    // Verbose lists the results the decision used: the latest per testcase and scenario.
    let listed: Vec<i64> = d.json["results"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(listed.contains(&passed) && !listed.contains(&failed), "{listed:?}");
    // `when`: exactly what was known then.
    let when = if when.contains('.') { when } else { format!("{when}.000000") };
    let then = decide(&s, nvr, json!({"when": when}));
    assert_eq!(unsatisfied(&then.json), unsatisfied(&before_pass), "{}", then.text);
    // Ignoring the newest result leaves the requirement without a result, as upstream.
    let newest = s.get(&format!("/api/v2.0/results?item={nvr}&testcases=dist.rpmdeplint&limit=1")).ids()[0];
    let d = decide(&s, nvr, json!({"ignore_result": [newest]}));
    assert_eq!(unsatisfied(&d.json), [("test-result-missing".into(), "dist.rpmdeplint".into())]);
}

#[test]
fn decision_errors_are_upstreams() {
    let s = gated(&[]);
    let r = s.post_raw("/api/v1.0/decision", "not json", &[("Content-Type", "text/plain")]);
    assert_eq!((r.status, r.json.clone()), (415, json!({"message": "No JSON payload in request"})));
    let r = s.post(
        "/api/v1.0/decision",
        &json!({"decision_context": "x", "subject_type": "koji_build", "subject_identifier": "a"}),
    );
    assert_eq!((r.status, r.json.clone()), (400, json!({"message": "Missing required product version"})));
    let r = s.post(
        "/api/v1.0/decision",
        &json!({"product_version": "fedora-40", "subject_type": "koji_build", "subject_identifier": "a"}),
    );
    assert_eq!(r.json["message"], "Either decision_context or rules is required.");
    let r = s.post("/api/v1.0/decision", &json!({"product_version": "rhel-9", "decision_context": "nope", "subject_type": "koji_build", "subject_identifier": "a"}));
    assert_eq!(r.status, 404);
    assert!(
        r.json["message"].as_str().unwrap().starts_with("Found no applicable policies for koji_build subjects"),
        "{}",
        r.text
    );
    let p = s.get("/api/v1.0/policies");
    let ids: Vec<&str> = p.json["policies"].as_array().unwrap().iter().filter_map(|p| p["id"].as_str()).collect();
    assert!(ids.contains(&"lab_gate"), "{ids:?}");
}

#[test]
fn waivers_create_list_revoke_proxy_and_expire() {
    let s = gated(&[]);
    let nvr = "bar-2.0-1.fc40";
    result(&s, nvr, "dist.rpmdeplint", "FAILED", None);
    result(&s, nvr, "compose.install", "PASSED", Some("x86_64.uefi"));
    let anon = s.post("/api/v1.0/waivers/", &waiver(nvr, "dist.rpmdeplint", true));
    assert_eq!(anon.status, 401);

    let w = waive(&s, "bob", waiver(nvr, "dist.rpmdeplint", true));
    assert_eq!(w.status, 201, "{}", w.text);
    assert!(w.text.starts_with("{\"id\": "), "WaiverDB's field order and separators: {}", w.text);
    assert_eq!((w.json["username"].clone(), w.json["proxied_by"].clone()), (json!("bob"), json!(null)));
    let wid = w.json["id"].as_i64().unwrap();
    let d = decide(&s, nvr, json!({}));
    assert_eq!(d.json["policies_satisfied"], true, "{}", d.text);
    assert_eq!(
        d.json["satisfied_requirements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["testcase"] == "dist.rpmdeplint")
            .unwrap()["type"],
        "test-result-failed-waived"
    );
    assert_eq!(s.get(&format!("/api/v1.0/waivers/{wid}")).json["comment"], "reason");
    assert_eq!(s.get("/api/v1.0/waivers/999999").status, 404);

    // Revoked by another user: the newest waiver for subject+testcase decides.
    let r = waive(&s, "carol", waiver(nvr, "dist.rpmdeplint", false));
    assert_eq!(r.status, 201);
    let d = decide(&s, nvr, json!({}));
    assert_eq!(unsatisfied(&d.json), [("test-result-failed".into(), "dist.rpmdeplint".into())]);
    let f = s.post("/api/v1.0/waivers/+filtered", &json!({"filters": [{"subject_identifier": nvr}]}));
    assert_eq!(f.json["data"].as_array().unwrap().len(), 1, "+filtered hides the obsolete waiver: {}", f.text);
    let all = s.get(&format!("/api/v1.0/waivers/?subject_identifier={nvr}&include_obsolete=1"));
    assert_eq!(all.json["data"].as_array().unwrap().len(), 2);

    // A list is all or nothing.
    let bad = waive(&s, "bob", json!([waiver(nvr, "a", true), {"subject_type": "koji_build"}]));
    assert_eq!(bad.status, 400, "{}", bad.text);
    let listed = waive(&s, "bob", json!([waiver(nvr, "x.one", true), waiver(nvr, "x.two", true)]));
    assert_eq!((listed.status, listed.json.as_array().map(Vec::len)), (201, Some(2)));
    assert_eq!(
        s.get(&format!("/api/v1.0/waivers/?subject_identifier={nvr}&include_obsolete=1&limit=10")).json["data"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    // Proxying: a superuser may waive for someone else; others may not.
    let mut p = waiver(nvr, "dist.rpmdeplint", true);
    p["username"] = json!("dave");
    let ok = waive(&s, "alice", p.clone());
    assert_eq!((ok.json["username"].clone(), ok.json["proxied_by"].clone()), (json!("dave"), json!("alice")));
    assert_eq!(waive(&s, "bob", p).status, 403);

    // Expiry: a waiver stops applying at expires_at and the decision says so.
    let expires = verdict::model::Timestamp(verdict::model::Timestamp::now().0 + 1_500_000).to_iso();
    let mut e = waiver(nvr, "dist.rpmdeplint", true);
    e["expires_at"] = json!(expires);
    let ew = waive(&s, "bob", e);
    assert_eq!(ew.status, 201, "{}", ew.text);
    assert_eq!(decide(&s, nvr, json!({})).json["policies_satisfied"], true);
    std::thread::sleep(Duration::from_millis(1700));
    let d = decide(&s, nvr, json!({}));
    assert_eq!(d.json["policies_satisfied"], false, "{}", d.text);
    let req = &d.json["unsatisfied_requirements"][0];
    assert_eq!(req["expired_waiver_id"], ew.json["id"], "{}", d.text);
}

#[test]
fn policy_files_are_checked_with_file_and_line() {
    let (code, out, _) = run_cli(&["policy", "check", policies().join("gating").to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("lab_gate"));
    let bad = policies().join("bad");
    let (code, out, _) = run_cli(&["policy", "check", bad.to_str().unwrap()], None);
    assert_eq!(code, 1);
    assert!(out.contains("bad_bool.yaml:") && out.contains("Expected a boolean value"), "{out}");
    // The server refuses to start on a bad policies directory.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let (code, _, err) = run_cli(
        &["serve", "--db", db.to_str().unwrap(), "--listen", "127.0.0.1:0", "--policies", bad.to_str().unwrap()],
        None,
    );
    assert_eq!(code, 1);
    assert!(err.contains("syntax.yaml:"), "{err}");
}

#[test]
fn decide_cli_prints_requirements() {
    let s = gated(&[]);
    let nvr = "baz-3.0-1.fc40";
    result(&s, nvr, "dist.rpmdeplint", "PASSED", None);
    let (code, out, err) = decide_cli(&s, nvr, &[]);
    assert_eq!(code, 2, "not satisfied: {out}{err}");
    assert!(out.contains("Of 2 required tests, 1 result missing"), "{out}");
    assert!(out.contains("ok   dist.rpmdeplint") && out.contains("FAIL compose.install"), "{out}");
}

#[test]
fn waiver_events_reach_the_stream() {
    let s = gated(&[]);
    let w = waive(&s, "bob", waiver("q-1-1", "dist.rpmdeplint", true));
    assert_eq!(w.status, 201);
    let seen = crate::support::first_event_lines(&s, 3);
    assert_eq!(seen[1], "event: waiver.new", "{seen:?}");
    assert!(seen[2].contains("\"subject_identifier\":\"q-1-1\""), "{seen:?}");
}

/// A `submit_time` (milliseconds, as the API takes them) at or before instant `t` (µs).
fn iso_micros(t: i64) -> i64 {
    t / 1000
}

fn when_now() -> (String, i64) {
    std::thread::sleep(Duration::from_millis(5));
    let now = verdict::model::Timestamp::now();
    std::thread::sleep(Duration::from_millis(5));
    let iso = now.to_iso();
    (if iso.contains('.') { iso } else { format!("{iso}.000000") }, now.0)
}

fn post_at(s: &TestServer, nvr: &str, testcase: &str, outcome: &str, submit_time: i64, scenario: Option<&str>) {
    let mut data = json!({"item": nvr, "type": "koji_build"});
    if let Some(sc) = scenario {
        data["scenario"] = json!(sc);
    }
    s.result(json!({"testcase": testcase, "outcome": outcome, "submit_time": submit_time, "data": data}));
}

/// `when` judges the latest result among those stored by then: a result stored later
/// with an earlier `submit_time` must not hide the one that was there (HTTP and CLI).
#[test]
fn when_decisions_ignore_results_stored_later_even_with_earlier_submit_times() {
    let s = gated(&[]);
    let nvr = "late-1.0-1.fc40";
    post_at(&s, nvr, "compose.install", "PASSED", iso_micros(1_000_000), Some("x86_64.uefi"));
    let first = verdict::model::Timestamp::now().0;
    post_at(&s, nvr, "dist.rpmdeplint", "PASSED", iso_micros(first), None);
    let (when, when_us) = when_now();
    // Stored after WHEN, stamped before it.
    post_at(&s, nvr, "dist.rpmdeplint", "FAILED", iso_micros(when_us - 1), None);
    let now = decide(&s, nvr, json!({}));
    assert_eq!(unsatisfied(&now.json), [("test-result-failed".into(), "dist.rpmdeplint".into())]);
    let then = decide(&s, nvr, json!({"when": when}));
    assert_eq!(then.json["policies_satisfied"], true, "{}", then.text);
    let (code, out, err) = decide_cli(&s, nvr, &["--when", &when]);
    assert_eq!(code, 0, "satisfied at WHEN: {out}{err}");
}

/// The same for a result that arrives by replication after `when`, sealed by its origin
/// before it.
#[test]
fn when_decisions_ignore_results_replicated_later() {
    let origin = TestServer::start();
    let s = gated(&[]);
    let nvr = "repl-late-1.0-1.fc40";
    let (_, stamp_us) = when_now();
    post_at(&origin, nvr, "dist.rpmdeplint", "FAILED", iso_micros(stamp_us), None);
    post_at(&s, nvr, "compose.install", "PASSED", iso_micros(stamp_us - 2), Some("x86_64.uefi"));
    post_at(&s, nvr, "dist.rpmdeplint", "PASSED", iso_micros(stamp_us - 1), None);
    let (when, _) = when_now();
    let (code, out, err) = run_cli(&["sync", &origin.base, "--db", s.db.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}{err}");
    let now = decide(&s, nvr, json!({}));
    assert_eq!(unsatisfied(&now.json), [("test-result-failed".into(), "dist.rpmdeplint".into())], "{}", now.text);
    let then = decide(&s, nvr, json!({"when": when}));
    assert_eq!(then.json["policies_satisfied"], true, "{}", then.text);
}

/// Waivers have the same size caps as results: a comment like a note, names like a
/// testcase name; a list with one over the cap stores nothing.
#[test]
fn waivers_over_a_size_cap_are_refused_naming_the_field() {
    let s = gated(&["--max-note-chars", "100"]);
    let mut long = waiver("foo-1.0-1.fc40", "dist.rpmdeplint", true);
    long["comment"] = json!("x".repeat(101));
    let r = waive(&s, "alice", long.clone());
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["validation_error"][0]["loc"], json!(["comment"]), "{}", r.text);
    assert!(r.json["validation_error"][0]["msg"].as_str().unwrap().contains("100"));
    let ok = waiver("foo-1.0-1.fc40", "dist.rpmdeplint", true);
    let r = waive(&s, "alice", json!([ok, long]));
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["validation_error"][0]["loc"], json!([1, "comment"]));
    assert_eq!(s.get("/api/v1.0/waivers/").json["data"].as_array().unwrap().len(), 0);
}
