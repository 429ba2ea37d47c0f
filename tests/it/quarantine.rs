//! Quarantines over HTTP: create/list/revoke, decisions that read a covered requirement as
//! waived (failed and missing), release after passes, expiry, `when`, the waive right,
//! 400s naming the field, the SSE stream and the CLI. The matching rules are unit tests.

use crate::support::{TestServer, agent, into_resp, run_cli};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const Q: &str = "/api/verdict/v1/quarantines";

fn gated(extra: &[&str]) -> TestServer {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/policies/gating");
    let mut args = vec!["--policies", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    TestServer::start_with(&args)
}

fn dummy() -> TestServer {
    gated(&["--auth", "dummy", "--superuser", "alice"])
}

fn basic(user: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:x")))
}

fn quarantine(s: &TestServer, user: &str, body: Value) -> crate::support::Resp {
    s.post_raw(Q, &body.to_string(), &[("Authorization", &basic(user))])
}

fn decide(s: &TestServer, nvr: &str, extra: Value) -> Value {
    let mut body = json!({"subject_type": "koji_build", "subject_identifier": nvr,
                          "decision_context": "bodhi_update_push_stable", "product_version": "fedora-40"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = s.post("/api/v1.0/decision", &body);
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

fn result(s: &TestServer, nvr: &str, testcase: &str, outcome: &str) -> i64 {
    let data = json!({"item": nvr, "type": "koji_build"});
    s.result(json!({"testcase": testcase, "outcome": outcome, "data": data}))["id"].as_i64().unwrap()
}

/// The requirement of `testcase` among `list` (satisfied or unsatisfied).
fn requirement<'a>(d: &'a Value, list: &str, testcase: &str) -> Option<&'a Value> {
    d[list].as_array().unwrap().iter().find(|r| r["testcase"] == testcase)
}

fn now_iso() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    iso(t.as_micros() as i64)
}

/// ISO 8601 (naive UTC) of microseconds since the epoch.
fn iso(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // civil from days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60,
        us.rem_euclid(1_000_000)
    )
}

#[test]
fn failed_and_missing_requirements_are_quarantined_until_revoked() {
    let s = dummy();
    let nvr = "foo-1.0-1.fc40";
    result(&s, nvr, "dist.rpmdeplint", "FAILED");
    let d = decide(&s, nvr, json!({}));
    assert_eq!(d["policies_satisfied"], false);

    let r = quarantine(&s, "bob", json!({"testcase": "dist.*", "reason": "flaky mirror", "release_after_passes": 3}));
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!((r.json["owner"].as_str(), r.json["active"].as_bool()), (Some("bob"), Some(true)));
    let r = quarantine(&s, "bob", json!({"testcase": "compose.*", "scenario": "x86_64.uefi", "reason": "lab down"}));
    assert_eq!(r.status, 201, "{}", r.text);
    let compose = r.json["id"].as_str().unwrap().to_owned();

    let d = decide(&s, nvr, json!({}));
    assert_eq!(d["policies_satisfied"], true, "{d}");
    assert_eq!(d["progress"], json!({"satisfied": 2, "required": 2}));
    assert_eq!(d["summary"], "All required tests (2 total) have passed or been waived");
    let failed = requirement(&d, "satisfied_requirements", "dist.rpmdeplint").unwrap();
    assert_eq!(failed["type"], "test-result-failed-waived");
    assert_eq!(
        (failed["quarantine_id"].as_str(), failed["quarantine_reason"].as_str()),
        (Some(&*id), Some("flaky mirror"))
    );
    let missing = requirement(&d, "satisfied_requirements", "compose.install").unwrap();
    assert_eq!(missing["type"], "test-result-missing-waived");
    assert_eq!(missing["quarantine_id"], compose.as_str());

    // GET one, list with filters.
    let one = s.get(&format!("{Q}/{id}"));
    assert_eq!((one.status, one.json["testcase"].as_str()), (200, Some("dist.*")));
    assert_eq!(s.get(&format!("{Q}/nope")).status, 404);
    let list = s.get(&format!("{Q}?testcase=dist.rpmdeplint"));
    assert_eq!(list.json["data"].as_array().unwrap().len(), 1, "{}", list.text);

    // Revoke by DELETE (and by POST): the failure blocks again; revoking twice is harmless.
    let before_revoke = now_iso();
    std::thread::sleep(Duration::from_millis(20));
    let r = into_resp(agent().delete(&s.url(&format!("{Q}/{id}"))).header("Authorization", &basic("bob")).call());
    assert_eq!(
        (r.status, r.json["revoked"].as_bool(), r.json["active"].as_bool()),
        (200, Some(true), Some(false)),
        "{}",
        r.text
    );
    let r = quarantine(&s, "bob", json!({"id": id, "revoked": true}));
    assert_eq!((r.status, r.json["revoked_by"].as_str()), (200, Some("bob")), "{}", r.text);
    let d = decide(&s, nvr, json!({}));
    assert_eq!(d["policies_satisfied"], false);
    assert_eq!(requirement(&d, "unsatisfied_requirements", "dist.rpmdeplint").unwrap()["type"], "test-result-failed");
    // `when` before the revocation sees the rule that applied then.
    let d = decide(&s, nvr, json!({"when": before_revoke}));
    assert_eq!(d["policies_satisfied"], true, "{d}");
    let active = s.get(&format!("{Q}?active=true"));
    assert_eq!(active.json["data"].as_array().unwrap().len(), 1);
    let then = s.get(&format!("{Q}?active=true&when={before_revoke}"));
    assert_eq!(then.json["data"].as_array().unwrap().len(), 2, "{}", then.text);
}

#[test]
fn a_key_is_released_after_its_passes_and_rules_expire() {
    let s = dummy();
    let nvr = "bar-1.0-1.fc40";
    result(&s, nvr, "dist.rpmdeplint", "FAILED");
    let expires = {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        iso(t.as_micros() as i64 + 1_500_000)
    };
    let r = quarantine(&s, "bob", json!({"testcase": "dist.rpmdeplint", "reason": "r", "release_after_passes": 2}));
    assert_eq!(r.status, 201, "{}", r.text);
    let r = quarantine(&s, "bob", json!({"testcase": "compose.install", "reason": "r", "expires_at": expires}));
    assert_eq!(r.status, 201, "{}", r.text);
    let d = decide(&s, nvr, json!({}));
    assert_eq!(d["policies_satisfied"], true, "{d}");

    // Passes of the key elsewhere (other builds) after the rule: one is not enough.
    result(&s, "other-1-1.fc40", "dist.rpmdeplint", "PASSED");
    assert_eq!(decide(&s, nvr, json!({}))["policies_satisfied"], true);
    result(&s, "other-2-1.fc40", "dist.rpmdeplint", "FAILED");
    result(&s, "other-3-1.fc40", "dist.rpmdeplint", "PASSED");
    assert_eq!(decide(&s, nvr, json!({}))["policies_satisfied"], true, "a fail broke the streak");
    result(&s, "other-4-1.fc40", "dist.rpmdeplint", "PASSED");
    let d = decide(&s, nvr, json!({}));
    assert_eq!(d["policies_satisfied"], false, "two passes in a row released the key: {d}");
    assert_eq!(requirement(&d, "unsatisfied_requirements", "dist.rpmdeplint").unwrap()["type"], "test-result-failed");
    // The missing compose.install stays quarantined until the rule expires.
    assert!(requirement(&d, "satisfied_requirements", "compose.install").is_some(), "{d}");
    std::thread::sleep(Duration::from_millis(1600));
    let d = decide(&s, nvr, json!({}));
    assert_eq!(requirement(&d, "unsatisfied_requirements", "compose.install").unwrap()["type"], "test-result-missing");
    let expired = s.get(&format!("{Q}?active=false"));
    assert_eq!(expired.json["data"].as_array().unwrap().len(), 1, "{}", expired.text);
}

#[test]
fn creating_needs_an_identity_the_waive_right_and_a_valid_body() {
    let s = gated(&[]);
    let body = json!({"testcase": "dist.*", "reason": "r"});
    assert_eq!(s.post(Q, &body).status, 401);

    let s = dummy();
    for (body, field) in [
        (json!({"reason": "r"}), "testcase"),
        (json!({"testcase": "t", "reason": "r", "release_after_passes": 0}), "release_after_passes"),
        (json!({"testcase": "t", "reason": "r", "expires_at": "2001-01-01T00:00:00"}), "expires_at"),
    ] {
        let r = quarantine(&s, "bob", body);
        assert_eq!((r.status, r.json["field"].as_str()), (400, Some(field)), "{}", r.text);
    }
    assert_eq!(s.get(&format!("{Q}?active=maybe")).json["field"], "active");
    // Proxying is for superusers only, as for waivers.
    let r = quarantine(&s, "bob", json!({"testcase": "t", "reason": "r", "owner": "carol"}));
    assert_eq!(r.status, 403, "{}", r.text);
    let r = quarantine(&s, "alice", json!({"testcase": "t", "reason": "r", "owner": "carol"}));
    assert_eq!((r.json["owner"].as_str(), r.json["proxied_by"].as_str()), (Some("carol"), Some("alice")), "{}", r.text);

    // Tokens: the waive right and the user's testcase patterns.
    let dir = tempfile::tempdir().unwrap();
    let mut toml = String::new();
    let mut tokens = Vec::new();
    for user in
        [&["--user", "alice", "--testcases", "dist.*", "--waive"][..], &["--user", "bob", "--testcases", "dist.*"]]
    {
        let mut args = vec!["token"];
        args.extend_from_slice(user);
        let (code, out, err) = run_cli(&args, None);
        assert_eq!(code, 0);
        toml.push_str(&out);
        tokens.push(err.trim().rsplit(' ').next().unwrap().to_owned());
    }
    std::fs::write(dir.path().join("tokens.toml"), toml).unwrap();
    let path = dir.path().join("tokens.toml");
    let s = TestServer::start_with(&["--auth", "tokens", "--tokens", path.to_str().unwrap()]);
    let post =
        |token: &str, body: Value| s.post_raw(Q, &body.to_string(), &[("Authorization", &format!("Bearer {token}"))]);
    assert_eq!(post(&tokens[1], json!({"testcase": "dist.x", "reason": "r"})).status, 403, "no waive right");
    assert_eq!(post(&tokens[0], json!({"testcase": "osci.*", "reason": "r"})).status, 403, "not alice's testcases");
    assert_eq!(post(&tokens[0], json!({"testcase": "dist.x*", "reason": "r"})).status, 201);
}

#[test]
fn quarantines_reach_the_stream_and_the_cli() {
    let s = dummy();
    let r = quarantine(&s, "bob", json!({"testcase": "dist.rpmdeplint", "reason": "stream me"}));
    assert_eq!(r.status, 201);
    let seen = crate::support::first_event_lines(&s, 3);
    assert_eq!(seen[1], "event: quarantine.new", "{seen:?}");
    assert!(seen[2].contains("\"reason\":\"stream me\""), "{seen:?}");

    let db = s.db.to_string_lossy().into_owned();
    let (code, out, err) = run_cli(&["quarantine", "list", "--db", &db, "--json"], None);
    assert_eq!(code, 0, "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{out}");
}

#[test]
fn the_cli_adds_lists_and_revokes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let db = db.to_str().unwrap();
    let (code, out, err) = run_cli(
        &[
            "quarantine",
            "add",
            "--db",
            db,
            "--testcase",
            "dist.*",
            "--reason",
            "flaky",
            "--owner",
            "ops",
            "--release-after-passes",
            "2",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let id = out.split_whitespace().next().unwrap().to_owned();
    let (code, out, _) = run_cli(&["quarantine", "list", "--db", db], None);
    assert_eq!(code, 0);
    assert!(out.contains(&id) && out.contains("dist.*") && out.contains("flaky"), "{out}");
    let (code, _, err) = run_cli(&["quarantine", "revoke", "--db", db, &id], None);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run_cli(&["quarantine", "list", "--db", db, "--json"], None);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["revoked"], true, "{out}");
    let (code, _, err) = run_cli(&["quarantine", "revoke", "--db", db, "nope"], None);
    assert_ne!(code, 0);
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn rules_travel_in_bundles_with_their_revocations() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, bundle) = (dir.path().join("a.db"), dir.path().join("b.db"), dir.path().join("a.vbundle"));
    let (a, b, bundle) = (a.to_str().unwrap(), b.to_str().unwrap(), bundle.to_str().unwrap());
    let (code, out, err) = run_cli(&["quarantine", "add", "--db", a, "--testcase", "dist.*", "--reason", "r"], None);
    assert_eq!(code, 0, "{err}");
    let id = out.split_whitespace().next().unwrap().to_owned();
    let (code, _, err) = run_cli(&["quarantine", "add", "--db", a, "--testcase", "osci.*", "--reason", "r"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(run_cli(&["quarantine", "revoke", "--db", a, &id], None).0, 0);
    let (code, _, err) = run_cli(&["export", "--db", a, "-o", bundle], None);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run_cli(&["import", "--db", b, bundle], None);
    assert_eq!(code, 0, "{err}");
    let list = |db: &str| {
        let (code, out, err) = run_cli(&["quarantine", "list", "--db", db, "--json"], None);
        assert_eq!(code, 0, "{err}");
        let mut v: Value = serde_json::from_str(&out).unwrap();
        for r in v.as_array_mut().unwrap() {
            r.as_object_mut().unwrap().remove("active");
        }
        v
    };
    let (on_a, on_b) = (list(a), list(b));
    assert_eq!(on_a, on_b);
    assert_eq!(on_b.as_array().unwrap().iter().filter(|r| r["revoked"] == true).count(), 1, "{on_b}");
}
