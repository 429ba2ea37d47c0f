//! `verdict submit` is exactly once: a rerun of the same input stores nothing (`--again`
//! stores a copy), a run killed after some commits finishes on rerun without duplicates
//! (file and stdin), and a running server on the same store keeps answering POSTs between
//! the submit's chunks.

use crate::support::{TestServer, run_cli, run_cli_env, verdict_bin};
use serde_json::json;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `n` results with distinct testcases `t0..tn`, as JSON Lines.
fn jsonl(n: usize) -> String {
    (0..n).map(|i| format!("{{\"testcase\":\"t{i}\",\"outcome\":\"PASSED\",\"data\":{{\"item\":\"x\"}}}}\n")).collect()
}

/// Stored results and how many distinct testcases (each input result has its own).
fn results(db: &Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*), count(DISTINCT testcase_id) FROM results", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
}

#[test]
fn rerun_of_the_same_input_stores_nothing_and_again_stores_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let db_s = db.to_str().unwrap();
    let file = dir.path().join("in.jsonl");
    std::fs::write(&file, jsonl(30)).unwrap();
    let f = file.to_str().unwrap();
    let (code, out, err) = run_cli(&["submit", "--db", db_s, f], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("stored 30 of 30"), "{out}");

    let hash = blake3::hash(jsonl(30).as_bytes()).to_hex().to_string();
    let (code, out, err) = run_cli(&["submit", "--db", db_s, f], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("already stored 30 results from {f} (blake3 {hash})")) && out.contains("--again"),
        "{out}"
    );
    assert_eq!(results(&db), (30, 30));
    // The same bytes on standard input are the same input.
    let (_, out, _) = run_cli(&["submit", "--db", db_s, "-"], Some(&jsonl(30)));
    assert!(out.contains("already stored 30"), "{out}");
    assert_eq!(results(&db), (30, 30));

    let (code, out, err) = run_cli(&["submit", "--db", db_s, "--again", f], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("stored 30 of 30"), "{out}");
    assert_eq!(results(&db), (60, 30));
    let (_, out, _) = run_cli(&["submit", "--db", db_s, f], None);
    assert!(out.contains("already stored"), "{out}");
    assert_eq!(results(&db), (60, 30));
    assert_eq!(run_cli(&["verify", "--db", db_s], None).0, 0);
}

#[test]
fn interrupted_submit_finishes_exactly_once_on_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let db_s = db.to_str().unwrap();
    let file = dir.path().join("in.jsonl");
    // More batches than the channel between the threads holds: the stop must not hang.
    std::fs::write(&file, jsonl(400)).unwrap();
    let f = file.to_str().unwrap();
    let small = ("VERDICT_SUBMIT_CHUNK_RESULTS", "10");
    // Two chunks committed, then the run stops as a kill would: the input is not recorded.
    let (code, _, err) =
        run_cli_env(&["submit", "--db", db_s, f], &[small, ("VERDICT_SUBMIT_STOP_AFTER_CHUNKS", "2")], None);
    assert_eq!(code, 3, "{err}");
    assert_eq!(results(&db), (20, 20));
    let (code, out, err) = run_cli_env(&["submit", "--db", db_s, f], &[small], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("stored 380 of 400") && out.contains("20 were stored before"), "{out}");
    assert_eq!(results(&db), (400, 400), "no result stored twice");
    let (_, out, _) = run_cli(&["submit", "--db", db_s, f], None);
    assert!(out.contains("already stored 400"), "{out}");
    assert_eq!(results(&db), (400, 400));
    assert_eq!(run_cli(&["verify", "--db", db_s], None).0, 0);
}

#[test]
fn interrupted_stdin_submit_finishes_exactly_once_on_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let db_s = db.to_str().unwrap();
    let input = jsonl(40);
    let small = ("VERDICT_SUBMIT_CHUNK_RESULTS", "7");
    let (code, _, err) =
        run_cli_env(&["submit", "--db", db_s, "-"], &[small, ("VERDICT_SUBMIT_STOP_AFTER_CHUNKS", "3")], Some(&input));
    assert_eq!(code, 3, "{err}");
    assert_eq!(results(&db), (21, 21));
    let (code, out, err) = run_cli_env(&["submit", "--db", db_s, "-"], &[small], Some(&input));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("stored 19 of 40"), "{out}");
    assert_eq!(results(&db), (40, 40));
    let (_, out, _) = run_cli(&["submit", "--db", db_s, "-"], Some(&input));
    assert!(out.contains("already stored 40 results from standard input"), "{out}");
    assert_eq!(results(&db), (40, 40));
}

#[test]
fn killed_submit_finishes_exactly_once_on_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let db_s = db.to_str().unwrap();
    let file = dir.path().join("in.jsonl");
    std::fs::write(&file, jsonl(3000)).unwrap();
    let f = file.to_str().unwrap();
    let mut child = Command::new(verdict_bin())
        .args(["submit", "--db", db_s, f])
        .env("VERDICT_SUBMIT_CHUNK_RESULTS", "20")
        .env("VERDICT_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // SIGKILL once some chunks are committed (or the run ends first: then it is complete).
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        if db.exists()
            && rusqlite::Connection::open(&db).is_ok_and(|c| {
                c.query_row("SELECT count(*) FROM results", [], |r| r.get::<_, i64>(0)).is_ok_and(|n| n >= 200)
            })
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let (code, out, err) = run_cli(&["submit", "--db", db_s, f], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("of 3000") || out.contains("already stored 3000"), "{out}");
    assert_eq!(results(&db), (3000, 3000), "no result stored twice or lost");
    assert_eq!(run_cli(&["verify", "--db", db_s], None).0, 0);
}

#[test]
fn server_answers_every_post_between_a_cli_submits_chunks() {
    let s = TestServer::start_sqlite(&[]);
    let db = s.db.to_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    std::fs::write(&file, jsonl(4000)).unwrap();
    // POSTs run before, during and after the submit, so some are queued at every commit.
    let stop = AtomicBool::new(false);
    let (posted, out) = std::thread::scope(|scope| {
        let poster = scope.spawn(|| {
            let mut answers = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let r = s.post("/api/v2.0/results", &json!({"testcase": "http", "outcome": "PASSED"}));
                answers.push((r.status, r.json["id"].as_i64(), r.text));
            }
            answers
        });
        let out = Command::new(verdict_bin())
            .args(["submit", "--db", &db, file.to_str().unwrap()])
            .env("VERDICT_SUBMIT_CHUNK_RESULTS", "50")
            .env("VERDICT_LOG", "error")
            .output()
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        (poster.join().unwrap(), out)
    });
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("stored 4000 of 4000"));
    for (status, _, text) in &posted {
        assert_eq!(*status, 201, "a POST beside the submit failed: {text}");
    }
    let ids: Vec<i64> = posted.iter().filter_map(|(_, id, _)| *id).collect();
    // The submit's results are log positions; POSTs committed between its chunks sit
    // among them (one long transaction would have kept them all before or after).
    let conn = rusqlite::Connection::open(&s.db).unwrap();
    let (first, last): (i64, i64) = conn
        .query_row(
            "SELECT min(r.id), max(r.id) FROM results r JOIN testcase t ON t.id = r.testcase_id WHERE t.name != 'http'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let between = ids.iter().filter(|id| (first..last).contains(id)).count();
    assert!(between > 0, "no POST was committed between the submit's chunks ({first}..{last}: {ids:?})");
    assert_eq!(s.count(), 4000 + ids.len());
}
