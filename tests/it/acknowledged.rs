//! Nothing acknowledged is lost or hidden: idempotency keys scoped to their sender and
//! bound to the request, client uuids that cannot replay someone else's result, one uuid
//! from two origins, and JSON-only writes.

use crate::support::{TestServer, run_cli};
use base64::Engine;
use serde_json::json;

fn basic(user: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:x")))
}

#[test]
fn idempotency_keys_are_scoped_to_the_sender() {
    let s = TestServer::start_with(&["--auth", "dummy"]);
    let b_body = json!({"testcase": "t", "outcome": "PASSED", "note": "from bob"}).to_string();
    let a_body = json!({"testcase": "t", "outcome": "FAILED", "note": "from alice"}).to_string();
    let b =
        s.post_raw("/api/v2.0/results", &b_body, &[("Idempotency-Key", "job-42"), ("Authorization", &basic("bob"))]);
    let a =
        s.post_raw("/api/v2.0/results", &a_body, &[("Idempotency-Key", "job-42"), ("Authorization", &basic("alice"))]);
    assert_eq!((b.status, a.status), (201, 201), "{}", a.text);
    assert_eq!(a.header("idempotent-replayed"), None, "alice's result is stored, not bob's replayed");
    assert_eq!(a.json["note"], "from alice");
    assert_ne!(a.json["uuid"], b.json["uuid"]);
    assert_eq!(s.count(), 2);
    // Each sender's retry finds its own result.
    let again =
        s.post_raw("/api/v2.0/results", &a_body, &[("Idempotency-Key", "job-42"), ("Authorization", &basic("alice"))]);
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json["id"], a.json["id"]);
    assert_eq!(s.count(), 2);
}

#[test]
fn an_idempotency_key_reused_with_another_body_is_refused_with_422() {
    // Under --auth none every sender is "anonymous": one scope.
    let s = TestServer::start();
    let first = json!({"testcase": "t", "outcome": "PASSED"}).to_string();
    let other = json!({"testcase": "t", "outcome": "FAILED"}).to_string();
    let a = s.post_raw("/api/v2.0/results", &first, &[("Idempotency-Key", "job-7")]);
    assert_eq!(a.status, 201);
    // Byte-different but equal JSON is the same request.
    let same = s.post_raw(
        "/api/v2.0/results",
        "{\"outcome\":\"PASSED\",  \"testcase\":\"t\"}",
        &[("Idempotency-Key", "job-7")],
    );
    assert_eq!((same.status, same.header("idempotent-replayed")), (201, Some("true")));
    let b = s.post_raw("/api/v2.0/results", &other, &[("Idempotency-Key", "job-7")]);
    assert_eq!(b.status, 422, "{}", b.text);
    assert!(b.json["message"].as_str().unwrap().contains("job-7"), "{}", b.text);
    assert_eq!(s.count(), 1, "nothing stored");
}

#[test]
fn a_client_uuid_of_a_different_result_is_a_409() {
    let s = TestServer::start();
    let u = "6f0b1f52-1c9e-4a8e-9d43-6f1c2c7c9b10";
    let first = s.result(json!({"testcase": "t", "outcome": "PASSED", "uuid": u}));
    let other = s.post("/api/v2.0/results", &json!({"testcase": "t", "outcome": "FAILED", "uuid": u}));
    assert_eq!(other.status, 409, "{}", other.text);
    assert!(other.json["message"].as_str().unwrap().contains(u));
    // The same request again is a retry.
    let retry = s.post("/api/v2.0/results", &json!({"testcase": "t", "outcome": "PASSED", "uuid": u}));
    assert_eq!((retry.status, retry.header("idempotent-replayed")), (201, Some("true")));
    assert_eq!(retry.json["id"], first["id"]);
    // A uuid plus a key: the uuid decides, so a clash is about the uuid.
    let both = s.post_raw(
        "/api/v2.0/results",
        &json!({"testcase": "t", "outcome": "INFO", "uuid": u}).to_string(),
        &[("Idempotency-Key", "k")],
    );
    assert_eq!(both.status, 409);
    assert_eq!(s.count(), 1);
}

#[test]
fn writes_that_are_not_json_are_refused_with_415() {
    let s = TestServer::start();
    let body = json!({"testcase": "t", "outcome": "PASSED"}).to_string();
    for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        for path in ["/api/v2.0/results", "/api/v2.0/testcases", "/api/v2.0/groups"] {
            let r = s.post_raw_typed(path, &body, Some(ct));
            assert_eq!(r.status, 415, "{path} {ct}: {}", r.text);
            assert!(r.json["message"].as_str().unwrap().contains("application/json"));
        }
    }
    assert_eq!(s.post_raw_typed("/api/v2.0/results", &body, None).status, 415, "no content type");
    assert_eq!(s.count(), 0, "nothing stored");
    assert_eq!(s.post_raw_typed("/api/v2.0/results", &body, Some("application/json; charset=utf-8")).status, 201);
    assert_eq!(s.post_raw_typed("/api/v2.0/results", &body, Some("application/vnd.api+json")).status, 201);
}

/// Two nodes store different results under one client uuid; after syncing both ways each
/// node lists both, reports the conflict, and `audit` names it.
#[test]
fn one_uuid_from_two_nodes_stays_visible_on_both() {
    let u = "0190a000-0000-7000-8000-0000000000aa";
    let a = TestServer::start();
    let b = TestServer::start();
    a.result(json!({"testcase": "t", "outcome": "PASSED", "note": "on a", "uuid": u}));
    let on_b = b.result(json!({"testcase": "t", "outcome": "FAILED", "note": "on b", "uuid": u}));
    for (node, peer) in [(&b, &a), (&a, &b)] {
        let db = node.db.to_str().unwrap().to_owned();
        let (code, out, err) = run_cli(&["sync", &peer.base, "--db", &db], None);
        assert_eq!(code, 0, "{out}{err}");
    }
    for node in [&a, &b] {
        let by_uuid = node.get(&format!("/api/v2.0/results?_uuid={u}"));
        let mut notes: Vec<&str> = by_uuid.data().iter().map(|r| r["note"].as_str().unwrap()).collect();
        notes.sort();
        assert_eq!(notes, vec!["on a", "on b"]);
        assert_eq!(node.get("/api/verdict/v1/replication").json["conflicts"], 1);
    }
    // b's acknowledged result still answers under its id.
    assert_eq!(b.get(&format!("/api/v2.0/results/{}", on_b["id"])).json["note"], "on b");
    let (code, out, _) = run_cli(&["audit", "--peer", &a.base, "--db", b.db.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("CONFLICTS: 1") && out.contains(u), "{out}");
}
