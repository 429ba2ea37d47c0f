//! Hostile and broken peers, served by hand-written HTTP/1.1 on 127.0.0.1: one that ignores
//! `limit`, one whose page never ends, one that trickles, one that never answers. `sync`
//! and `serve --peer` must refuse or time out with an error naming the bound, and store
//! nothing. Also: credentials in peer and AMQP URLs never show, and secrets come from files.

use crate::support::{TestServer, run_cli, verdict_bin};
use serde_json::{Value, json};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Serves every connection on its own thread with `answer(connection, request path)`.
fn hostile(answer: impl Fn(&mut TcpStream, &str) + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let path = crate::support::read_request_path(&mut conn);
                answer(&mut conn, &path);
            });
        }
    });
    port
}

/// Answers `body` whole, whatever was asked.
fn replaying(body: String) -> u16 {
    hostile(move |conn, _| {
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: application/jsonl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    })
}

/// A store with `n` results of its own; `note` bytes of note each.
fn filled_store(path: &Path, n: usize, tag: &str, note: usize) {
    let lines: String = (0..n)
        .map(|i| {
            let note = format!("{tag} {i} {}", "x".repeat(note));
            format!("{}\n", json!({"testcase": format!("{tag}.t{i}"), "outcome": "PASSED", "note": note}))
        })
        .collect();
    // Large notes make large entries (past the default note cap, hence the flag).
    let (code, _, err) =
        run_cli(&["submit", "--db", path.to_str().unwrap(), "--max-note-chars", "100000", "-"], Some(&lines));
    assert_eq!(code, 0, "{err}");
}

/// `verdict stats` of a store (changes iff anything was stored).
fn stats(db: &Path) -> String {
    let (code, out, err) = run_cli(&["stats", "--db", db.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    out
}

/// A real server's whole change stream (everything, uncompressed) from `a`.
fn whole_page(a: &TestServer) -> String {
    let r = a.get_with("/api/verdict/v1/changes?limit=200000", &[("Accept-Encoding", "identity")]);
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
}

/// Runs the CLI, killing it after a minute (a hang must fail the test, not stall it).
fn cli_within_a_minute(args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(verdict_bin())
        .args(args)
        .env("VERDICT_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("verdict {args:?} still running after a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_peer_sending_more_entries_than_asked_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (a_db, b_db) = (dir.path().join("a.db"), dir.path().join("b.db"));
    filled_store(&a_db, 300, "a", 0);
    filled_store(&b_db, 5, "b", 0);
    let a = TestServer::start_on(&a_db, &[]);
    let port = replaying(whole_page(&a));
    let peer = format!("http://127.0.0.1:{port}");
    let b = b_db.to_str().unwrap();
    let before = stats(&b_db);
    let (code, _, err) = cli_within_a_minute(&["sync", &peer, "--db", b, "--page", "50"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("peer {peer} sent more than the 50 entries asked for")), "{err}");
    assert_eq!(stats(&b_db), before);
    // The same page is valid when that many were asked for: the limit alone refused it.
    // (300 results and the `ingest` entry that records the submitted input.)
    let (code, out, err) = cli_within_a_minute(&["sync", &peer, "--db", b, "--page", "301"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pulled 301 entries"), "{out}");
}

#[test]
fn an_endless_page_is_refused_at_the_byte_bound() {
    let dir = tempfile::tempdir().unwrap();
    let b_db = dir.path().join("b.db");
    filled_store(&b_db, 5, "b", 0);
    let header = r#"{"format":"verdict-changes","version":1,"node":"ab","created":0,"since":{},"heads":{}}"#;
    // A header, then one line that never ends (chunked, at most 1 GiB so the thread stops).
    let port = hostile(move |conn, _| {
        let _ =
            write!(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/jsonl\r\nTransfer-Encoding: chunked\r\n\r\n");
        let first = format!("{header}\n{{\"origin\":\"");
        let _ = write!(conn, "{:x}\r\n{first}\r\n", first.len());
        let chunk = "a".repeat(64 * 1024);
        for _ in 0..16 * 1024 {
            if write!(conn, "{:x}\r\n{chunk}\r\n", chunk.len()).is_err() {
                return;
            }
        }
    });
    let peer = format!("http://127.0.0.1:{port}");
    let before = stats(&b_db);
    let (code, _, err) =
        cli_within_a_minute(&["sync", &peer, "--db", b_db.to_str().unwrap(), "--peer-max-page-bytes", "1048576"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("peer {peer} sent a page of more than 1048576 bytes (--peer-max-page-bytes)")),
        "{err}"
    );
    assert_eq!(stats(&b_db), before);
}

#[test]
fn pages_are_split_by_bytes_at_the_source_and_refused_past_the_bound_at_the_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let (a_db, b_db, c_db) = (dir.path().join("a.db"), dir.path().join("b.db"), dir.path().join("c.db"));
    // 40 entries of ~50 KB: 2 MB in one page unless bounded.
    filled_store(&a_db, 40, "a", 50_000);
    filled_store(&b_db, 1, "b", 0);
    filled_store(&c_db, 1, "c", 0);
    let a = TestServer::start_on(&a_db, &[]);
    // A real peer is asked for at most 500 kB per page and keeps to it: sync succeeds.
    let (code, out, err) =
        cli_within_a_minute(&["sync", &a.base, "--db", b_db.to_str().unwrap(), "--peer-max-page-bytes", "500000"]);
    assert_eq!(code, 0, "{err}");
    // 40 results and the `ingest` entry that records the submitted input.
    assert!(out.contains("pulled 41 entries"), "{out}");
    // One that ignores the bound is refused, and nothing is stored.
    let peer = format!("http://127.0.0.1:{}", replaying(whole_page(&a)));
    let before = stats(&c_db);
    let (code, _, err) =
        cli_within_a_minute(&["sync", &peer, "--db", c_db.to_str().unwrap(), "--peer-max-page-bytes", "500000"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("sent a page of more than 500000 bytes"), "{err}");
    assert_eq!(stats(&c_db), before);
}

#[test]
fn a_trickling_peer_fails_sync_at_the_request_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let b_db = dir.path().join("b.db");
    filled_store(&b_db, 5, "b", 0);
    // A head at once, then one byte a second (a minute at most).
    let port = hostile(|conn, _| {
        let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/jsonl\r\nContent-Length: 100000\r\n\r\n");
        for _ in 0..60 {
            if conn.write_all(b" ").and_then(|_| conn.flush()).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let peer = format!("http://127.0.0.1:{port}");
    let before = stats(&b_db);
    let (code, _, err) =
        cli_within_a_minute(&["sync", &peer, "--db", b_db.to_str().unwrap(), "--peer-request-timeout", "2"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("peer {peer}: timed out")) && err.contains("--peer-request-timeout (2 s)"), "{err}");
    assert_eq!(stats(&b_db), before);
}

/// Reads the request and then says nothing (for 30 s, then hangs up).
fn silent() -> u16 {
    hostile(|_, _| std::thread::sleep(Duration::from_secs(30)))
}

#[test]
fn a_silent_peer_fails_sync_at_the_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let b_db = dir.path().join("b.db");
    filled_store(&b_db, 5, "b", 0);
    let peer = format!("http://127.0.0.1:{}", silent());
    let (code, _, err) = cli_within_a_minute(&["sync", &peer, "--db", b_db.to_str().unwrap(), "--peer-timeout", "1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("peer {peer}: timed out")) && err.contains("--peer-timeout (1 s)"), "{err}");
}

/// Polls `server`'s replication status until `done` holds of it (or 30 s pass).
fn status_until(server: &TestServer, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = server.get("/api/verdict/v1/replication").json;
        if done(&status) || Instant::now() > deadline {
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_reports_a_stalled_peer_as_an_error() {
    let peer = format!("http://127.0.0.1:{}", silent());
    let b = TestServer::start_with(&["--peer", &peer, "--peer-timeout", "1"]);
    let status = status_until(&b, |s| s["peers"][0]["state"] == "error");
    let p = &status["peers"][0];
    assert_eq!(p["state"], "error", "{status}");
    let error = p["last_error"].as_str().unwrap();
    assert!(error.contains("timed out") && error.contains("--peer-timeout (1 s)"), "{error}");
}

#[test]
fn credentials_in_peer_and_amqp_urls_and_the_peer_token_never_show() {
    let dir = tempfile::tempdir().unwrap();
    // Long and periodic: any 16-byte window of it (a hex dump's row) contains "secret".
    let token = "secret".repeat(6);
    let token_file = dir.path().join("peer-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let token_file = token_file.to_str().unwrap();
    let a = TestServer::start_with(&["--peer-token-file", token_file]);
    a.result(json!({"testcase": "t.redact", "outcome": "PASSED"}));
    let a_port = a.base.rsplit(':').next().unwrap();
    let dead_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (b_db, log) = (dir.path().join("b.db"), dir.path().join("b.log"));
    let b = TestServer::start_logged(
        &b_db,
        &[
            "--peer",
            &format!("http://user:secret@127.0.0.1:{a_port}"),
            "--peer",
            &format!("http://user:secret@127.0.0.1:{dead_port}/"),
            "--peer-token-file",
            token_file,
            "--amqp",
            &format!("amqp://user:secret@127.0.0.1:{dead_port}/%2f"),
        ],
        &log,
    );
    // The token read from the file is sent (A demands it) and the dead peer is an error.
    let status = status_until(&b, |s| s["peers"][0]["state"] == "in sync" && s["peers"][1]["state"] == "error");
    assert_eq!(status["peers"][0]["state"], "in sync", "{status}");
    assert_eq!(status["peers"][1]["state"], "error", "{status}");
    assert_eq!(b.count(), 1);
    let text = b.get("/api/verdict/v1/replication").text;
    assert!(text.contains(&format!("http://user:***@127.0.0.1:{dead_port}")), "{text}");
    assert!(!text.contains("secret"), "{text}");
    drop(b);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("user:***@127.0.0.1"), "the log names the peers: {log}");
    assert!(!log.contains("secret"), "{log}");
    // `--help` shows environment values of neither the AMQP URL nor the token.
    let out = Command::new(verdict_bin())
        .args(["serve", "--help"])
        .env("VERDICT_AMQP", "amqp://user:secret@broker/%2f")
        .env("VERDICT_PEER_TOKEN", &token)
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--peer-token-file") && !help.contains("secret"), "{help}");
}

#[test]
fn the_peer_token_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    std::fs::write(&good, "  tok-from-file\n").unwrap();
    let (wrong, empty) = (dir.path().join("wrong"), dir.path().join("empty"));
    std::fs::write(&wrong, "another").unwrap();
    std::fs::write(&empty, "\n").unwrap();
    let a = TestServer::start_with(&["--peer-token", "tok-from-file"]);
    a.result(json!({"testcase": "t.file", "outcome": "PASSED"}));
    let b_db = dir.path().join("b.db");
    let b = b_db.to_str().unwrap();
    let sync =
        |file: &Path| cli_within_a_minute(&["sync", &a.base, "--db", b, "--peer-token-file", file.to_str().unwrap()]);
    let (code, out, err) = sync(&good);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("in sync with the peer"), "{out}");
    let (code, _, err) = sync(&wrong);
    assert!(code == 1 && err.contains("refused the peer token (401)"), "{err}");
    let (code, _, err) = sync(&empty);
    assert!(code == 1 && err.contains("is empty"), "{err}");
    let (code, _, err) = sync(&dir.path().join("missing"));
    assert!(code == 1 && err.contains("reading the peer token file") && err.contains("missing"), "{err}");
    let (code, _, err) = cli_within_a_minute(&[
        "sync",
        &a.base,
        "--db",
        b,
        "--peer-token",
        "x",
        "--peer-token-file",
        good.to_str().unwrap(),
    ]);
    assert!(code == 1 && err.contains("give the peer token once"), "{err}");
    // A server reads it from a file too.
    let c = TestServer::start_with(&["--peer-token-file", good.to_str().unwrap()]);
    assert_eq!(c.get("/api/verdict/v1/changes").status, 401);
    assert_eq!(c.get_with("/api/verdict/v1/changes", &[("Authorization", "Bearer tok-from-file")]).status, 200);
}
