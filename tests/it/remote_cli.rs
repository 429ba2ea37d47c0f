//! Commands with --url: `verdict waive` (and on the store file, the operator recorded;
//! dummy user, token rights, revoking with a newer waiver) and `verdict query`.

use crate::support::{TestServer, run_cli};
use serde_json::json;

const WAIVER: [&str; 10] = [
    "--subject-type",
    "koji_build",
    "--subject-identifier",
    "foo-1.0-1.fc40",
    "--testcase",
    "dist.rpmdeplint",
    "--product-version",
    "fedora-40",
    "--comment",
    "known mirror outage",
];

#[test]
fn waive_writes_the_store_file_or_sends_to_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let db_s = db.to_str().unwrap();
    let mut args = vec!["waive", "--db", db_s];
    args.extend_from_slice(&WAIVER);
    let (code, out, err) = run_cli(&args, None);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("waiver 1: dist.rpmdeplint on koji_build foo-1.0-1.fc40 (fedora-40), waived=true"),
        "{out}"
    );

    let s = TestServer::start_on(&db, &["--auth", "dummy"]);
    let listed = s.get("/api/v1.0/waivers/?testcase=dist.rpmdeplint");
    assert_eq!(listed.json["data"].as_array().unwrap().len(), 1, "{}", listed.text);
    let url = s.url("");
    let mut args = vec!["waive", "--url", &url, "--user", "alice", "--revoke"];
    args.extend_from_slice(&WAIVER);
    let (code, out, err) = run_cli(&args, None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("waived=false, by alice"), "{out}");
    // The newest waiver wins: the subject is no longer waived.
    let listed = s.get("/api/v1.0/waivers/?testcase=dist.rpmdeplint");
    assert_eq!(listed.json["data"][0]["waived"], false, "{}", listed.text);
}

#[test]
fn waive_with_a_token_the_server_refuses_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run_cli(&["token", "--user", "bob", "--testcases", "osci.*", "--waive"], None);
    assert_eq!(code, 0);
    std::fs::write(dir.path().join("tokens.toml"), out).unwrap();
    let token = err.trim().rsplit(' ').next().unwrap().to_owned();
    let tokens = dir.path().join("tokens.toml");
    let s = TestServer::start_with(&["--auth", "tokens", "--tokens", tokens.to_str().unwrap()]);
    let url = s.url("");
    let mut args = vec!["waive", "--url", &url, "--token", &token];
    args.extend_from_slice(&WAIVER);
    let (code, _, err) = run_cli(&args, None);
    assert_ne!(code, 0);
    assert!(err.contains("403") && err.contains("dist.rpmdeplint"), "{err}");
}

#[test]
fn query_asks_a_server_and_prints_the_same_table() {
    let s = TestServer::start();
    for (tc, outcome) in [("t.a", "PASSED"), ("t.b", "FAILED"), ("t.a", "FAILED")] {
        s.result(json!({"testcase": {"name": tc}, "outcome": outcome, "data": {"item": "pkg-1"}}));
    }
    let url = s.url("");
    let db = s.db.to_str().unwrap().to_owned();
    let table = |args: &[&str]| {
        let (code, out, err) = run_cli(args, None);
        assert_eq!(code, 0, "{err}");
        out
    };
    let remote = table(&["query", "--url", &url, "--item", "pkg-1", "--limit", "2"]);
    let local = table(&["query", "--db", &db, "--item", "pkg-1", "--limit", "2"]);
    assert_eq!(remote, local);
    assert!(remote.contains("(more: --page 1)"), "{remote}");
    let latest = table(&["query", "--url", &url, "--latest", "--outcome", "FAILED"]);
    assert_eq!(latest.lines().count(), 3, "{latest}");
    let (code, _, err) = run_cli(&["query", "--url", &url, "--since", "yesterday"], None);
    assert_ne!(code, 0);
    assert!(err.contains("since"), "{err}");
}

#[test]
fn submit_sends_the_checked_input_in_parts_and_a_rerun_stores_nothing_twice() {
    let s = TestServer::start();
    let url = s.url("");
    let dir = tempfile::tempdir().unwrap();
    // Over 4 MiB of JSON Lines: sent in two parts of whole lines.
    let line = |i: usize| {
        json!({"testcase": {"name": "t.bulk"}, "outcome": "PASSED", "note": "x".repeat(900),
               "data": {"item": format!("bulk-{i}")}})
        .to_string()
    };
    let big: String = (0..5000).map(|i| line(i) + "\n").collect();
    assert!(big.len() > 4 << 20);
    let path = dir.path().join("big.jsonl");
    std::fs::write(&path, &big).unwrap();
    let p = path.to_str().unwrap();
    let (code, out, err) = run_cli(&["submit", "--url", &url, p], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("in 2 part(s): 5000 stored now, 0 were stored before"), "{out}");
    assert_eq!(s.count(), 5000);
    let (code, out, err) = run_cli(&["submit", "--url", &url, p], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 stored now, 5000 were stored before"), "{out}");
    assert_eq!(s.count(), 5000);

    // Standard input, checked before anything is sent: a bad record sends nothing.
    let (code, out, err) = run_cli(&["submit", "--url", &url, "-"], Some(&format!("{}\n", line(1))));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 stored now"), "{out}");
    let bad = r#"{"testcase": "t.bad", "outcome": "NOPE"}"#;
    let (code, _, err) = run_cli(&["submit", "--url", &url, "-"], Some(bad));
    assert_eq!(code, 1);
    assert!(err.contains("outcome") && err.contains("nothing was stored"), "{err}");
    assert_eq!(s.count(), 5001);
}
