//! Identity: `--auth tokens` (401/403, Bearer and Basic), `--auth dummy`, and that a token
//! never reaches the logs.

use crate::support::{TestServer, run_cli};
use serde_json::json;
use std::path::Path;

/// Writes a tokens file with a user per `verdict token` argument list; returns the tokens.
fn write_tokens(dir: &Path, users: &[&[&str]]) -> Vec<String> {
    let mut toml = String::new();
    let mut tokens = Vec::new();
    for user in users {
        let mut args = vec!["token"];
        args.extend_from_slice(user);
        let (code, out, err) = run_cli(&args, None);
        assert_eq!(code, 0);
        toml.push_str(&out);
        tokens.push(err.trim().rsplit(' ').next().unwrap().to_owned());
        assert!(!out.contains(tokens.last().unwrap()), "the file holds only a hash");
    }
    std::fs::write(dir.join("tokens.toml"), toml).unwrap();
    tokens
}

/// alice (dist.*, fedora-ci.*, may waive) and bob (osci.*); returns their tokens.
fn tokens_file(dir: &Path) -> (String, String) {
    let t = write_tokens(
        dir,
        &[
            &["--user", "alice", "--testcases", "dist.*,fedora-ci.*", "--waive"],
            &["--user", "bob", "--testcases", "osci.*"],
        ],
    );
    (t[0].clone(), t[1].clone())
}

#[test]
fn tokens_mode_requires_and_checks_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = tokens_file(dir.path());
    let tokens = dir.path().join("tokens.toml");
    let log = dir.path().join("server.log");
    let s = TestServer::start_logged(
        &dir.path().join("v.db"),
        &["--auth", "tokens", "--tokens", tokens.to_str().unwrap()],
        &log,
    );
    let body = json!({"testcase": "dist.rpmlint", "outcome": "PASSED"}).to_string();
    let bearer = |t: &str| format!("Bearer {t}");

    let r = s.post_raw("/api/v2.0/results", &body, &[]);
    assert_eq!(r.status, 401);
    assert!(r.json["message"].as_str().unwrap().starts_with("401 Unauthorized: "), "{}", r.text);
    assert!(r.header("www-authenticate").is_some());
    let r = s.post_raw("/api/v2.0/results", &body, &[("Authorization", "Bearer not-a-token")]);
    assert_eq!(r.status, 401);

    let r = s.post_raw("/api/v2.0/results", &body, &[("Authorization", &bearer(&alice))]);
    assert_eq!(r.status, 201, "{}", r.text);
    let r = s.post_raw("/api/v2.0/results", &body, &[("Authorization", &bearer(&bob))]);
    assert_eq!(
        (r.status, r.json.clone()),
        (
            403,
            json!({"message": "403 Forbidden: User bob is not authorized to submit results for the test case dist.rpmlint"})
        )
    );
    // The token works as the Basic password too.
    use base64::Engine;
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("bob:{bob}")));
    let r = s.post_raw(
        "/api/v2.0/results",
        &json!({"testcase": "osci.x", "outcome": "PASSED"}).to_string(),
        &[("Authorization", &basic)],
    );
    assert_eq!(r.status, 201, "{}", r.text);
    // Testcase and group writes need a token too; reads stay open.
    assert_eq!(s.post("/api/v2.0/testcases", &json!({"name": "dist.new"})).status, 401);
    assert_eq!(
        s.post_raw(
            "/api/v2.0/testcases",
            &json!({"name": "dist.new"}).to_string(),
            &[("Authorization", &bearer(&alice))]
        )
        .status,
        201
    );
    assert_eq!(s.post("/api/v2.0/groups", &json!({})).status, 401);
    assert_eq!(s.get("/api/v2.0/results").data().len(), 2);
    drop(s);

    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.len() > 100, "trace logging was on");
    for t in [&alice, &bob] {
        assert!(!logged.contains(t.as_str()), "a token reached the log");
    }
}

#[test]
fn dummy_and_none_modes() {
    let s = TestServer::start_with(&["--auth", "dummy"]);
    assert_eq!(
        s.post("/api/v2.0/results", &json!({"testcase": "t", "outcome": "PASSED"})).status,
        201,
        "results stay open"
    );
    let r = s.post_raw(
        "/api/v2.0/results",
        &json!({"testcase": "t", "outcome": "PASSED"}).to_string(),
        &[("Authorization", "Bearer x")],
    );
    assert_eq!(r.status, 401, "dummy takes Basic only");
    let s = TestServer::start();
    let r = s.post_raw(
        "/api/v2.0/results",
        &json!({"testcase": "t", "outcome": "PASSED"}).to_string(),
        &[("Authorization", "Bearer x")],
    );
    assert_eq!(r.status, 201, "none ignores credentials");
}

#[test]
fn tokens_mode_refuses_a_bad_tokens_file_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.toml"), "[[user]]\nname = \"x\"\ntoken_blake3 = \"short\"\n").unwrap();
    let db = dir.path().join("v.db");
    let (code, _, err) = run_cli(
        &[
            "serve",
            "--db",
            db.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "tokens",
            "--tokens",
            dir.path().join("t.toml").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 1);
    assert!(err.contains("token_blake3 must be 64 hex digits"), "{err}");
}

/// alice (dist.*, may waive) and bob (osci.*, the groups right); returns their tokens.
fn rights_file(dir: &Path) -> (String, String) {
    let t = write_tokens(
        dir,
        &[
            &["--user", "alice", "--testcases", "dist.*", "--waive"],
            &["--user", "bob", "--testcases", "osci.*", "--groups"],
        ],
    );
    (t[0].clone(), t[1].clone())
}

#[test]
fn changing_an_existing_groups_metadata_needs_the_groups_right() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = rights_file(dir.path());
    let tokens = dir.path().join("tokens.toml");
    let s = TestServer::start_with(&["--auth", "tokens", "--tokens", tokens.to_str().unwrap()]);
    let auth = |t: &str| format!("Bearer {t}");
    let post = |path: &str, body: serde_json::Value, token: &str| {
        s.post_raw(path, &body.to_string(), &[("Authorization", &auth(token))])
    };
    // bob creates a group; alice may reference it and repeat its metadata unchanged...
    let r = post("/api/v2.0/groups", json!({"uuid": "g1", "description": "bob's run"}), &bob);
    assert_eq!(r.status, 201, "{}", r.text);
    let same =
        json!({"testcase": "dist.a", "outcome": "PASSED", "groups": [{"uuid": "g1", "description": "bob's run"}]});
    assert_eq!(post("/api/v2.0/results", same, &alice).status, 201);
    // ...but not overwrite it, neither directly nor through a result's groups.
    let r = post("/api/v2.0/groups", json!({"uuid": "g1", "description": "alice was here"}), &alice);
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.json["message"].as_str().unwrap().contains("groups right"), "{}", r.text);
    let via_result =
        json!({"testcase": "dist.b", "outcome": "PASSED", "groups": [{"uuid": "g1", "ref_url": "http://evil"}]});
    assert_eq!(post("/api/v2.0/results", via_result, &alice).status, 403);
    let g = s.get("/api/v2.0/groups/g1");
    assert_eq!((g.json["description"].as_str(), g.json["ref_url"].as_str()), (Some("bob's run"), None));
    assert_eq!(g.json["results_count"], 1, "the refused result was not stored");
    // A new group is anyone's to describe; the groups right may change any.
    assert_eq!(post("/api/v2.0/groups", json!({"uuid": "g2", "description": "alice's"}), &alice).status, 201);
    assert_eq!(post("/api/v2.0/groups", json!({"uuid": "g2", "description": "renamed"}), &bob).status, 201);
    assert_eq!(s.get("/api/v2.0/groups/g2").json["description"], "renamed");
}

#[test]
fn the_waive_right_respects_the_users_testcase_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, _) = rights_file(dir.path());
    let tokens = dir.path().join("tokens.toml");
    let s = TestServer::start_with(&["--auth", "tokens", "--tokens", tokens.to_str().unwrap()]);
    let waiver = |testcase: &str| {
        json!({"subject_type": "koji_build", "subject_identifier": "foo-1.0-1.fc40", "testcase": testcase,
               "product_version": "fedora-40", "waived": true, "comment": "c"})
    };
    let post = |body: serde_json::Value| {
        s.post_raw("/api/v1.0/waivers/", &body.to_string(), &[("Authorization", &format!("Bearer {alice}"))])
    };
    assert_eq!(post(waiver("dist.rpmdeplint")).status, 201);
    let r = post(waiver("osci.gating"));
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.json["message"].as_str().unwrap().contains("osci.gating"), "{}", r.text);
    // All or nothing: a list with one forbidden waiver stores none.
    let r = post(json!([waiver("dist.x"), waiver("osci.y")]));
    assert_eq!(r.status, 403);
    assert_eq!(s.get("/api/v1.0/waivers/").json["data"].as_array().unwrap().len(), 1);
}
