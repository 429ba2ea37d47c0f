//! The OpenAPI document (`/api/openapi.json`): it is OpenAPI 3.1, it lists every route the
//! router serves and nothing it does not (read both ways from the `.route(...)` calls in
//! `src/http`), and schemathesis (PyPI) run against a seeded server finds no 5xx and no
//! response that departs from the document.
//!
//! `.ci/run` creates the schemathesis venv (`tests/python/setup-venv.sh`); locally the
//! conformance test is skipped with a note when it is missing, and CI sets
//! `VERDICT_REQUIRE_SCHEMATHESIS=1` so a missing venv fails instead.

use crate::support::TestServer;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `(method, path)` the router serves, read from the `.route("PATH", get(..).post(..))`
/// calls under `src/http`; `{*rest}` captures read as `{rest}`. The web pages
/// (`src/http/pages`: HTML for browsers, and their same-origin form posts) are not part of
/// the API and not documented.
fn served_routes() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    collect_rs(&root().join("src/http"), &mut files);
    files.retain(|f| !f.starts_with(root().join("src/http/pages")));
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for call in text.split(".route(").skip(1) {
            let Some(path) = call.strip_prefix('"').and_then(|c| c.split('"').next()) else {
                panic!("{}: a route whose path is not a literal: {}", file.display(), &call[..40.min(call.len())]);
            };
            let handlers = call.split('\n').next().unwrap();
            for method in ["get", "post", "put", "delete", "patch"] {
                if handlers.contains(&format!(" {method}(")) || handlers.contains(&format!(".{method}(")) {
                    routes.insert((method.to_owned(), path.replace("{*", "{")));
                }
            }
        }
    }
    routes
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `(method, path)` the document lists.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert((method.clone(), path.clone()));
        }
    }
    ops
}

#[test]
fn the_document_lists_every_route_and_only_those() {
    let s = TestServer::start();
    let r = s.get("/api/openapi.json");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc = r.json;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."), "{}", doc["openapi"]);
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["basic"], json!({"type": "http", "scheme": "basic"}));
    assert_eq!(schemes["bearer"], json!({"type": "http", "scheme": "bearer"}));

    let served = served_routes();
    assert!(served.len() > 30, "the route scan found too little: {served:?}");
    let documented = documented(&doc);
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    // A wildcard route serves deeper paths too (`/testcases/{name}/results`).
    let wildcards: Vec<String> =
        served.iter().filter(|(_, p)| p.ends_with('}')).map(|(_, p)| format!("{p}/")).collect();
    let unserved: Vec<_> =
        documented.difference(&served).filter(|(_, p)| !wildcards.iter().any(|w| p.starts_with(w.as_str()))).collect();
    assert!(unserved.is_empty(), "documented but not served: {unserved:?}");

    // Every operation says what it answers, with a schema for each JSON body.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2') || s == "300"), "{method} {path}: no success");
            for (status, resp) in responses {
                if let Some(json) = resp["content"].get("application/json") {
                    assert!(json.get("schema").is_some(), "{method} {path} {status}: no schema");
                }
            }
        }
    }
}

fn basic(user: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:x")))
}

/// A few results, groups, a waiver and a quarantine, so reads find something.
fn seed(s: &TestServer) {
    let group = "0a1b2c3d-0000-4000-8000-000000000001";
    for (i, outcome) in ["PASSED", "FAILED", "PASSED", "FAILED", "FAILED"].iter().enumerate() {
        s.result(json!({
            "testcase": {"name": "dist.rpmdeplint", "ref_url": "http://ci/rpmdeplint"},
            "outcome": outcome,
            "note": if *outcome == "FAILED" { "error: dependency foo missing" } else { "" },
            "groups": [{"uuid": group, "description": "a run"}],
            "data": {"item": format!("pkg-1.{i}-1.fc40"), "type": "koji_build", "arch": "x86_64"},
        }));
    }
    s.result(json!({"testcase": "dist.abicheck", "outcome": "PASSED",
                    "data": {"item": "pkg-1.4-1.fc40", "type": "koji_build"}}));
    let auth = basic("alice");
    let waiver = json!({"subject_type": "koji_build", "subject_identifier": "pkg-1.4-1.fc40",
                        "testcase": "dist.rpmdeplint", "product_version": "fedora-40", "comment": "known"});
    let r = s.post_raw("/api/v1.0/waivers/", &waiver.to_string(), &[("Authorization", &auth)]);
    assert_eq!(r.status, 201, "{}", r.text);
    let rule = json!({"testcase": "dist.abi*", "reason": "flaky on arm"});
    let r = s.post_raw("/api/verdict/v1/quarantines", &rule.to_string(), &[("Authorization", &auth)]);
    assert_eq!(r.status, 201, "{}", r.text);
}

#[test]
fn schemathesis_finds_no_server_error_and_no_response_off_the_document() {
    let st = root().join(".venv-schemathesis/bin/st");
    if !st.exists() {
        assert!(
            std::env::var_os("VERDICT_REQUIRE_SCHEMATHESIS").is_none(),
            "schemathesis venv missing: run tests/python/setup-venv.sh"
        );
        eprintln!("skipping: no .venv-schemathesis (run tests/python/setup-venv.sh)");
        return;
    }
    let policies = root().join("fixtures/policies/gating");
    let s = TestServer::start_with(&["--auth", "dummy", "--policies", policies.to_str().unwrap()]);
    seed(&s);
    // Hypothesis keeps nothing between runs (no example database), so the fixed seed alone
    // decides the requests; the work directory takes anything else it writes.
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(&st)
        .current_dir(work.path())
        .env("NO_COLOR", "1")
        .args(["run", &s.url("/api/openapi.json"), "--url", &s.base])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--seed", "20261202", "--max-examples", "50", "--generation-database", "none"])
        // One worker: the requests and their order follow from the seed alone. The timeout
        // outlasts the longest long-poll a request may ask of /changes (wait=30).
        .args(["--workers", "1", "--request-timeout", "40", "--auth", "alice:x", "--continue-on-failure"])
        // Hypothesis' `too_slow` check times data generation: on a loaded CI machine it
        // would fail a correct run, and tests make no timing assertions.
        .args(["--suppress-health-check", "too_slow"])
        // The event stream never ends: a request to it would only time out. Writes stay in:
        // they only add (results, waivers, rules and their revocations), which breaks
        // nothing a later request relies on.
        .args(["--exclude-path", "/api/v2.0/events"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "schemathesis found problems:\n{stdout}\n{stderr}");
}
