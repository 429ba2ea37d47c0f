//! `POST /api/verdict/v1/ingest`: a result file by HTTP, stored exactly once by content
//! (also against the spool's and `verdict ingest`'s copies), with its context parameters,
//! multipart with a sidecar, errors naming format and line, per-testcase token rights,
//! cross-site refusal, and `verdict ingest --url`.

use crate::support::{Resp, TestServer, agent, into_resp, run_cli};
use std::path::PathBuf;

fn fixture(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel);
    std::fs::read_to_string(path).unwrap()
}

/// POSTs `body` with exactly these headers.
fn send(s: &TestServer, path: &str, body: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = agent().post(&s.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    into_resp(req.send(body))
}

const JUNIT: &str = "junit/go-junit-report-001-pass-fail-skip.xml";

#[test]
fn a_file_is_stored_once_with_its_context() {
    let s = TestServer::start();
    let body = fixture(JUNIT);
    let path = "/api/verdict/v1/ingest?name=report.xml&item=pkg-1.0-1.fc40&type=koji_build&arch=x86_64&data.rig=lab-3";
    let r = send(&s, path, &body, &[("content-type", "application/xml")]);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["format"], "junit");
    assert_eq!(r.json["stored"], true);
    let n = r.json["results"].as_u64().unwrap() as usize;
    assert!(n >= 3, "{}", r.text);
    assert_eq!(s.count(), n);
    let listed = s.get("/api/v2.0/results?item=pkg-1.0-1.fc40&rig=lab-3&arch=x86_64");
    assert_eq!(listed.data().len(), n, "{}", listed.text);
    assert_eq!(listed.data()[0]["data"]["type"][0], "koji_build");
    assert_eq!(listed.data()[0]["data"]["source_file"][0], "report.xml");

    // The same content again (other parameters too): nothing stored.
    let again = send(&s, "/api/verdict/v1/ingest?name=other.xml", &body, &[]);
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json["stored"], false);
    assert_eq!(again.json["blake3"], r.json["blake3"]);
    assert_eq!(s.count(), n);

    // So does `verdict ingest` of the same file into the same store.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.xml");
    std::fs::write(&file, &body).unwrap();
    let url = s.url("");
    let (code, out, err) = run_cli(&["ingest", "--url", &url, file.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("already ingested"), "{out}");
    assert_eq!(s.count(), n);
}

#[test]
fn multipart_carries_a_sidecar_and_the_cli_sends_files() {
    let s = TestServer::start();
    let boundary = "xXxBOUNDARYxXx";
    let file = fixture("tap/pytest-tap-v12.tap");
    let sidecar = r#"{"item": "tool-2.1-1.fc41", "type": "koji_build", "testcase_prefix": "tap."}"#;
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"run.tap\"\r\n\r\n{file}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"sidecar\"\r\n\r\n{sidecar}\r\n--{boundary}--\r\n"
    );
    let ct = format!("multipart/form-data; boundary={boundary}");
    let r = send(&s, "/api/verdict/v1/ingest", &form, &[("content-type", &ct)]);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["format"], "tap");
    let listed = s.get("/api/v2.0/results?item=tool-2.1-1.fc41");
    assert!(!listed.data().is_empty(), "{}", listed.text);
    assert!(listed.data().iter().all(|r| r["testcase"]["name"].as_str().unwrap().starts_with("tap.")));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctrf.json");
    std::fs::write(&path, fixture("ctrf/ctrf-minimal.json")).unwrap();
    let url = s.url("");
    let (code, out, err) = run_cli(&["ingest", "--url", &url, "--item", "cli-1-1", path.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 ingested (1 results)"), "{out}");
    assert!(!s.get("/api/v2.0/results?item=cli-1-1").data().is_empty());
}

#[test]
fn bad_files_and_parameters_are_refused_and_change_nothing() {
    let s = TestServer::start();
    let r = send(&s, "/api/verdict/v1/ingest?name=x.xml", &fixture("bad/junit-truncated.xml"), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["format"], "junit", "{}", r.text);
    assert!(r.json["message"].as_str().unwrap().len() > 10);
    let r = send(&s, "/api/verdict/v1/ingest?colour=blue", "TAP version 13\n1..1\nok 1 a\n", &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("colour"), "{}", r.text);
    let r = send(&s, "/api/verdict/v1/ingest?format=nope", "TAP version 13\n1..1\nok 1 a\n", &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    // A browser posting from another site.
    let r = send(
        &s,
        "/api/verdict/v1/ingest?name=a.tap",
        "TAP version 13\n1..1\nok 1 a\n",
        &[("origin", "http://evil.example"), ("content-type", "text/plain")],
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(s.count(), 0);
}

#[test]
fn tokens_apply_to_every_testcase_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run_cli(&["token", "--user", "rig", "--testcases", "tap.*"], None);
    assert_eq!(code, 0);
    std::fs::write(dir.path().join("tokens.toml"), out).unwrap();
    let token = err.trim().rsplit(' ').next().unwrap().to_owned();
    let tokens = dir.path().join("tokens.toml");
    let s = TestServer::start_with(&["--auth", "tokens", "--tokens", tokens.to_str().unwrap()]);
    let tap = "TAP version 13\n1..2\nok 1 first\nnot ok 2 second\n";
    let r = send(&s, "/api/verdict/v1/ingest?name=a.tap", tap, &[]);
    assert_eq!(r.status, 401, "{}", r.text);
    let bearer = format!("Bearer {token}");
    // Without a prefix the testcases are not the rig's: the whole file is refused.
    let r = send(&s, "/api/verdict/v1/ingest?name=a.tap", tap, &[("authorization", &bearer)]);
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(s.count(), 0);
    let boundary = "b0undary";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.tap\"\r\n\r\n{tap}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"sidecar\"\r\n\r\n{{\"testcase_prefix\": \"tap.\"}}\r\n--{boundary}--\r\n"
    );
    let ct = format!("multipart/form-data; boundary={boundary}");
    let r = send(&s, "/api/verdict/v1/ingest", &form, &[("authorization", &bearer), ("content-type", &ct)]);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(s.count(), 2);
}
