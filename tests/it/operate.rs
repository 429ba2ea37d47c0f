//! Running it like a service: version with the git commit, shell completions, man pages,
//! liveness and readiness endpoints.

use crate::support::{TestServer, run_cli};

#[test]
fn version_names_the_commit() {
    let (code, out, _) = run_cli(&["--version"], None);
    assert_eq!(code, 0);
    // "verdict 0.1.0 (abcdef123456)", or "(unknown)" outside a git checkout.
    assert!(
        out.starts_with(&format!("verdict {} (", env!("CARGO_PKG_VERSION"))) && out.trim_end().ends_with(')'),
        "{out}"
    );
}

#[test]
fn completions_and_man_pages_come_from_the_command_line() {
    for (shell, marker) in [("bash", "_verdict()"), ("zsh", "#compdef verdict"), ("fish", "complete -c verdict")] {
        let (code, out, err) = run_cli(&["completions", shell], None);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(marker), "{shell}: {}", &out[..out.len().min(200)]);
        assert!(out.contains("flaky"), "{shell} completes the commands");
    }
    let (code, _, err) = run_cli(&["completions", "tcsh"], None);
    assert_ne!(code, 0);
    assert!(err.contains("tcsh"), "{err}");
    let (code, out, _) = run_cli(&["man"], None);
    assert_eq!(code, 0);
    assert!(out.contains(".TH verdict 1"), "{}", &out[..out.len().min(200)]);
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_cli(&["man", "--out-dir", dir.path().to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    let page = std::fs::read_to_string(dir.path().join("verdict-serve.1")).unwrap();
    assert!(page.contains("verdict serve") && page.contains("listen"), "{page}");
}

#[test]
fn liveness_and_readiness() {
    let s = TestServer::start();
    let live = s.get("/livez");
    assert_eq!((live.status, live.json["status"].as_str()), (200, Some("alive")));
    let ready = s.get("/readyz");
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!((ready.json["status"].as_str(), ready.json["policies"].as_u64()), (Some("ready"), Some(0)));
}

#[test]
fn a_bare_port_gets_a_suggestion() {
    let (code, _, err) = run_cli(&["serve", "--listen", "5003"], None);
    assert_ne!(code, 0);
    assert!(err.contains("127.0.0.1:5003"), "{err}");
}

#[test]
fn backup_while_the_server_writes_then_restore() {
    let s = TestServer::start_sqlite(&[]);
    for i in 0..50 {
        s.result(serde_json::json!({"testcase": "bk.t", "outcome": "PASSED", "data": {"n": i.to_string()}}));
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let (db, copy_s) = (s.db.to_string_lossy().into_owned(), copy.to_string_lossy().into_owned());
    // Writes go on while the backup runs.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (code, out, err) = std::thread::scope(|t| {
        t.spawn(|| {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                s.result(
                    serde_json::json!({"testcase": "bk.during", "outcome": "PASSED", "data": {"n": i.to_string()}}),
                );
                i += 1;
            }
        });
        let outcome = run_cli(&["backup", "--db", &db, "-o", &copy_s], None);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        outcome
    });
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("the copy verifies: OK"), "{out}");
    // The copy holds at least what was acknowledged before it began.
    let (_, q, _) = run_cli(&["query", "--db", &copy_s, "--testcase", "bk.t", "--limit", "100", "--json"], None);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&q).unwrap()["data"].as_array().map(Vec::len),
        Some(50),
        "{q}"
    );
    // A backup never overwrites; a restore verifies, then puts the copy in place.
    let (code, _, err) = run_cli(&["backup", "--db", &db, "-o", &copy_s], None);
    assert_ne!(code, 0);
    assert!(err.contains("exists"), "{err}");
    let restored = dir.path().join("restored.db").to_string_lossy().into_owned();
    let (code, out, err) = run_cli(&["restore", "--db", &restored, &copy_s], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("OK:"), "{out}");
    let (code, _, err) = run_cli(&["restore", "--db", &restored, &copy_s], None);
    assert_ne!(code, 0);
    assert!(err.contains("exists"), "{err}");
    // A tampered backup is refused and nothing is written.
    let conn = rusqlite::Connection::open(&copy).unwrap();
    conn.execute_batch("DROP TRIGGER log_no_update").unwrap();
    conn.execute("UPDATE log SET body = replace(body, 'PASSED', 'FAILED') WHERE seq = 3", []).unwrap();
    drop(conn);
    let target = dir.path().join("from-tampered.db");
    let (code, _, err) = run_cli(&["restore", "--db", target.to_str().unwrap(), &copy_s], None);
    assert_eq!(code, 1);
    assert!(err.contains("does not verify") && err.contains("BROKEN"), "{err}");
    assert!(!target.exists());
}

#[test]
fn start_up_is_logged_as_text_without_colour_or_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let policies = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/policies");
    for format in ["text", "json"] {
        let log = dir.path().join(format!("{format}.log"));
        let s = TestServer::start_logged(
            &dir.path().join(format!("{format}.db")),
            &["--log-format", format, "--policies", policies.to_str().unwrap(), "--auth", "dummy"],
            &log,
        );
        // Log lines are written by a thread of their own: wait for the line, then stop.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let text = loop {
            let text = std::fs::read_to_string(&log).unwrap();
            if text.contains("store opened") || std::time::Instant::now() > deadline {
                break text;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        drop(s);
        let opened = text.lines().find(|l| l.contains("store opened")).unwrap_or_else(|| panic!("{text}"));
        assert!(!opened.contains('\u{1b}'), "no colour codes in a file: {opened:?}");
        assert!(opened.contains("lab_gate") && opened.contains("dummy"), "policies and auth mode: {opened}");
        if format == "json" {
            let v: serde_json::Value = serde_json::from_str(opened).unwrap();
            assert_eq!(v["fields"]["message"], "store opened", "{v}");
        }
    }
}

#[test]
fn every_request_is_logged_once_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let s = TestServer::start_logged(&dir.path().join("a.db"), &["--auth", "dummy", "--access-log"], &log);
    let r = s.post_raw(
        "/api/v2.0/results",
        r#"{"testcase": "acc.t", "outcome": "PASSED"}"#,
        &[("Authorization", "Basic YWxpY2U6c2VjcmV0"), ("Content-Type", "application/json")], // alice:secret
    );
    assert_eq!(r.status, 201);
    assert_eq!(s.get("/api/v2.0/results/999").status, 404);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<String> = text.lines().filter(|l| l.contains("verdict::access")).map(str::to_owned).collect();
        if lines.len() >= 2 || std::time::Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let post = lines.iter().find(|l| l.contains("method=POST")).unwrap_or_else(|| panic!("{lines:?}"));
    assert!(
        post.contains("path=\"/api/v2.0/results\"") && post.contains("status=201") && post.contains("user=\"alice\""),
        "{post}"
    );
    assert!(post.contains("micros="), "{post}");
    assert!(post.contains(&format!("bytes=\"{}\"", r.text.len())), "the body's size: {post}");
    assert!(lines.iter().any(|l| l.contains("status=404")), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("secret") || l.contains("YWxpY2U")), "no credentials: {lines:?}");
}
