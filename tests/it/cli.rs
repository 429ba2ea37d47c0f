//! The CLI: submit (all or nothing), query, verify (tamper detection), stats, --help.

use crate::support::{TestServer, run_cli};
use serde_json::{Value, json};

fn db_arg(dir: &tempfile::TempDir) -> String {
    dir.path().join("v.db").to_string_lossy().into_owned()
}

#[test]
fn submit_jsonl_array_and_object_then_query() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_arg(&dir);
    let jsonl = "{\"testcase\":\"a\",\"outcome\":\"PASSED\",\"data\":{\"item\":\"x\"}}\n\n{\"testcase\":\"b\",\"outcome\":\"failed\",\"data\":{\"item\":\"x\"},\"submit_time\":1714566896000}\n";
    let (code, out, err) = run_cli(&["submit", "--db", &db, "-"], Some(jsonl));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("stored 2 of 2"), "{out}");
    let file = dir.path().join("arr.json");
    std::fs::write(&file, r#"[{"testcase":"c","outcome":"INFO"}]"#).unwrap();
    let (code, _, err) = run_cli(&["submit", "--db", &db, file.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    let (code, _, _) = run_cli(&["submit", "--db", &db, "-"], Some(r#"{"testcase": "d", "outcome": "PASSED"}"#));
    assert_eq!(code, 0);

    let (code, out, _) = run_cli(&["query", "--db", &db, "--item", "x"], None);
    assert_eq!(code, 0);
    assert!(out.lines().count() == 3 && out.contains("FAILED") && out.contains("2024-05-01T12:34:56"), "{out}");
    let (_, out, _) = run_cli(&["query", "--db", &db, "--json", "--outcome", "INFO,PASSED"], None);
    let v: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> =
        v["data"].as_array().unwrap().iter().map(|r| r["testcase"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["d", "c", "a"]);
    let (_, out, _) = run_cli(&["query", "--db", &db, "--json", "--latest", "-d", "item=x"], None);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);

    let (code, out, _) = run_cli(&["stats", "--db", &db], None);
    assert_eq!(code, 0);
    assert!(out.contains("results:      4   ("), "with the count of each outcome: {out}");
    assert!(out.contains("waivers:      0"), "{out}");
    assert!(out.contains("iB ("), "a human file size: {out}");
}

#[test]
fn submit_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_arg(&dir);
    let bad = "{\"testcase\":\"a\",\"outcome\":\"PASSED\"}\n{\"testcase\":\"b\",\"outcome\":\"NOPE\"}\n{\"testcase\":\"c\",\"outcome\":\"PASSED\"}\n";
    let (code, _, err) = run_cli(&["submit", "--db", &db, "-"], Some(bad));
    assert_eq!(code, 1);
    assert!(err.contains("record 1") && err.contains("outcome") && err.contains("nothing was stored"), "{err}");
    let truncated = "{\"testcase\":\"a\",\"outcome\":\"PASSED\"}\n{\"testcase\":";
    let (code, _, err) = run_cli(&["submit", "--db", &db, "-"], Some(truncated));
    assert_eq!(code, 1);
    assert!(err.contains("line 2"), "{err}");
    assert!(!std::path::Path::new(&db).exists(), "a refused input creates no store");
    assert_eq!(run_cli(&["submit", "--db", &db, "-"], Some(r#"{"testcase":"a","outcome":"PASSED"}"#)).0, 0);
    assert_eq!(run_cli(&["submit", "--db", &db, "-"], Some(bad)).0, 1);
    let (_, out, _) = run_cli(&["stats", "--db", &db], None);
    assert!(out.contains("results:      1"), "{out}");
}

#[test]
fn verify_detects_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_arg(&dir);
    let lines: String = (0..50)
        .map(|i| format!("{{\"testcase\":\"t{}\",\"outcome\":\"PASSED\",\"data\":{{\"n\":{i}}}}}\n", i % 4))
        .collect();
    assert_eq!(run_cli(&["submit", "--db", &db, "-"], Some(&lines)).0, 0);
    let (code, out, _) = run_cli(&["verify", "--db", &db], None);
    assert_eq!(code, 0);
    // 50 results and the `ingest` entry recording the input.
    assert!(out.starts_with("OK: 51 entries"), "{out}");

    let conn = rusqlite::Connection::open(&db).unwrap();
    // The log refuses UPDATE and DELETE outright.
    assert!(conn.execute("UPDATE log SET body = '{}' WHERE seq = 7", []).is_err());
    assert!(conn.execute("DELETE FROM log WHERE seq = 7", []).is_err());
    // Someone with raw access drops the guard and edits an entry: verify names it.
    conn.execute_batch("DROP TRIGGER log_no_update").unwrap();
    conn.execute("UPDATE log SET body = replace(body, 'PASSED', 'FAILED') WHERE seq = 7", []).unwrap();
    drop(conn);
    let (code, out, _) = run_cli(&["verify", "--db", &db], None);
    assert_eq!(code, 1);
    assert!(out.contains("BROKEN at log entry 7") && out.contains("#7"), "{out}");
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in ["serve", "submit", "query", "verify", "replay", "stats"] {
        let (code, out, _) = run_cli(&[cmd, "--help"], None);
        assert_eq!(code, 0, "{cmd}");
        assert!(out.contains("Example:") && out.contains("--db"), "{cmd}: {out}");
    }
}

#[test]
fn server_sees_results_submitted_by_cli() {
    let s = TestServer::start();
    let db = s.db.to_string_lossy().into_owned();
    let (code, _, err) = run_cli(&["submit", "--db", &db, "-"], Some(r#"{"testcase":"cli","outcome":"PASSED"}"#));
    assert_eq!(code, 0, "{err}");
    s.result(json!({"testcase": "http", "outcome": "PASSED"}));
    assert_eq!(s.count(), 2);
    let _dir = s.stop();
    assert_eq!(run_cli(&["verify", "--db", &db], None).0, 0, "two writers share one chain correctly");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let lines: String =
        (0..300).map(|i| format!("{{\"testcase\": \"pipe.t{i}\", \"outcome\": \"PASSED\"}}\n")).collect();
    assert_eq!(run_cli(&["submit", "--db", db.to_str().unwrap(), "-"], Some(&lines)).0, 0);
    // `head` exits after one byte; the query's later lines are written into a closed pipe.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' query --db '{}' --limit 300 | head -c 1 >/dev/null",
            crate::support::verdict_bin(),
            db.display()
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
}
