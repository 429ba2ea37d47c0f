//! The spool and `verdict ingest`: every fixture once, bad files quarantined with a reason,
//! writers' temp names ignored, large files streamed atomically, and exactly-once across
//! SIGKILLs.

use crate::support::{TestServer, run_cli};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use verdict::formats::{ParseOptions, detect, parse_to_vec};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Good fixture files (relative to fixtures/), excluding sidecars.
fn good_fixtures() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["junit", "tap", "resultyaml", "ctrf", "resultsdb-json", "subunit"] {
        for e in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if !name.ends_with(".meta.json") {
                out.push(format!("{dir}/{name}"));
            }
        }
    }
    out.sort();
    out
}

/// Results the parser yields for a fixture (the golden tests check these against MANIFEST).
fn expected_results(rel: &str) -> usize {
    let bytes = std::fs::read(fixtures().join(rel)).unwrap();
    let format = detect(rel, &bytes).unwrap();
    let mut opts = ParseOptions::for_file(rel.rsplit('/').next().unwrap());
    if rel.ends_with("aborted-crashed.yaml") {
        opts.outcomes = verdict::model::Outcomes::default_set();
    }
    parse_to_vec(format, &bytes, &opts).unwrap().len()
}

/// Copies a fixture (and its sidecar, first, as writers should) into `dir`.
fn drop_file(src: &Path, dir: &Path, name: &str) {
    let target = dir.join(name);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    let mut side = src.as_os_str().to_owned();
    side.push(".meta.json");
    if Path::new(&side).exists() {
        let mut t = target.as_os_str().to_owned();
        t.push(".meta.json");
        std::fs::copy(&side, &t).unwrap();
    }
    // Write under a temporary name, then rename: the documented convention.
    let tmp = target.with_extension("partial.tmp");
    std::fs::copy(src, &tmp).unwrap();
    std::fs::rename(&tmp, &target).unwrap();
}

/// Polls `f` until it holds (generous timeout: this is not a speed test).
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn status(s: &TestServer) -> Value {
    let r = s.get("/api/verdict/v1/spool");
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

/// Results stored from one spooled file (by the source recorded in their data).
fn results_from(s: &TestServer, name: &str) -> usize {
    let q: String = form_urlencoded::Serializer::new(String::new()).append_pair("source_file", name).finish();
    s.get(&format!("/api/v2.0/results?{q}&limit=1000")).data().len()
}

/// Files left in the spool's root area (not archived yet).
fn unprocessed(spool: &Path) -> usize {
    fn count(dir: &Path, root: &Path) -> usize {
        std::fs::read_dir(dir)
            .map(|es| {
                es.flatten()
                    .map(|e| {
                        let p = e.path();
                        if p.is_dir() {
                            if dir == root && (p.ends_with("done") || p.ends_with("failed")) {
                                0
                            } else {
                                count(&p, root)
                            }
                        } else {
                            usize::from(!p.to_string_lossy().ends_with(".meta.json"))
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    count(spool, spool)
}

#[test]
fn spool_ingests_every_fixture_once_and_quarantines_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let s = TestServer::start_with(&["--spool", spool.to_str().unwrap(), "--spool-settle-ms", "100"]);
    let good = good_fixtures();
    for rel in &good {
        drop_file(&fixtures().join(rel), &spool, rel);
    }
    let bad: Vec<String> = std::fs::read_dir(fixtures().join("bad"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for name in &bad {
        drop_file(&fixtures().join("bad").join(name), &spool, name);
    }
    let total = (good.len() + bad.len()) as u64;
    wait_until("the spool to process every file", || {
        let st = status(&s);
        st["done"].as_u64().unwrap_or(0) + st["failed"].as_u64().unwrap_or(0) >= total
    });
    let st = status(&s);
    assert_eq!((st["done"].as_u64(), st["failed"].as_u64()), (Some(good.len() as u64), Some(bad.len() as u64)), "{st}");
    let mut expected_total = 0;
    for rel in &good {
        let want = expected_results(rel);
        expected_total += want;
        assert_eq!(results_from(&s, rel), want, "{rel}");
        assert!(spool.join("done").join(rel).exists(), "{rel} archived");
    }
    assert_eq!(s.count(), expected_total, "nothing from bad files, nothing twice");
    for name in &bad {
        let err_path = spool.join("failed").join(format!("{name}.error"));
        let note: Value = serde_json::from_str(&std::fs::read_to_string(&err_path).unwrap()).unwrap();
        assert!(!note["message"].as_str().unwrap().is_empty(), "{name}: {note}");
        assert_eq!(note["file"], name.as_str());
        assert!(spool.join("failed").join(name).exists());
    }
    // The sidecar gave the item, and every result says where it came from.
    let r = s.get("/api/v2.0/results?item=fedora-coreos-40.20240501.1.0");
    assert_eq!(r.data().len(), 1);
    assert_eq!(r.data()[0]["data"]["source_file"][0], "resultsdb-json/no-item-needs-sidecar.json");
    assert_eq!(r.data()[0]["data"]["source_blake3"][0].as_str().unwrap().len(), 64);

    // The same content dropped again (another name) is recognised and not stored twice.
    drop_file(&fixtures().join("junit/pytest-xunit2.xml"), &spool, "again/pytest-xunit2.xml");
    wait_until("the duplicate to be archived", || status(&s)["duplicates"].as_u64() == Some(1));
    assert_eq!(s.count(), expected_total);
    assert!(spool.join("done/again/pytest-xunit2.xml").exists());
}

#[test]
fn directory_gives_item_and_temp_names_wait() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let s = TestServer::start_with(&["--spool", spool.to_str().unwrap(), "--spool-settle-ms", "100"]);
    let item_dir = spool.join("koji_build").join("foo-1.0-1.fc40");
    std::fs::create_dir_all(&item_dir).unwrap();
    // A file still being written under a temporary name is left alone.
    let tmp = item_dir.join("run.tap.tmp");
    std::fs::write(&tmp, "TAP version 13\n1..2\nok 1 - boots\n").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(s.count(), 0);
    std::fs::write(&tmp, "TAP version 13\n1..2\nok 1 - boots\nnot ok 2 - installs\n").unwrap();
    std::fs::rename(&tmp, item_dir.join("run.tap")).unwrap();
    wait_until("the renamed file", || s.count() == 2);
    let r = s.get("/api/v2.0/results?item=foo-1.0-1.fc40&type=koji_build&outcome=FAILED");
    assert_eq!(r.data().len(), 1);
    assert_eq!(r.data()[0]["testcase"]["name"], "installs");
}

#[test]
fn no_spool_no_status() {
    let s = TestServer::start();
    assert_eq!(s.get("/api/verdict/v1/spool").status, 404);
}

/// A JUnit report with `n` passing testcases and, with `broken`, a truncated ending.
fn junit(n: usize, broken: bool) -> String {
    let mut x = String::from("<?xml version=\"1.0\"?>\n<testsuites>\n<testsuite name=\"big\">\n");
    for i in 0..n {
        x.push_str(&format!(
            "<testcase classname=\"pkg.mod{}\" name=\"test_{i}\" time=\"0.01\"><system-out>{}</system-out></testcase>\n",
            i % 50,
            "x".repeat(100)
        ));
    }
    if !broken {
        x.push_str("</testsuite>\n</testsuites>\n");
    }
    x
}

#[test]
fn ingest_cli_streams_large_files_atomically_and_never_moves_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let db = db.to_str().unwrap();
    let big = dir.path().join("big.xml");
    std::fs::write(&big, junit(60_000, false)).unwrap();
    assert!(std::fs::metadata(&big).unwrap().len() > 8 << 20, "exercises the streaming path");
    let broken = dir.path().join("broken.xml");
    std::fs::write(&broken, junit(60_000, true)).unwrap();
    let small = dir.path().join("small.tap");
    std::fs::write(&small, "1..1\nok 1 - fine\n").unwrap();

    let (code, out, _) = run_cli(
        &[
            "ingest",
            "--db",
            db,
            "--item",
            "bigpkg-1-1",
            "--type",
            "koji_build",
            big.to_str().unwrap(),
            broken.to_str().unwrap(),
            small.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 1, "one file failed: {out}");
    assert!(out.contains("3 file(s): 2 ingested (60001 results), 0 already ingested, 1 failed"), "{out}");
    assert!(out.contains("FAILED") && out.contains("broken.xml") && out.contains("premature end"), "{out}");
    assert!(big.exists() && broken.exists() && small.exists(), "ingest never moves its inputs");
    let (_, out, _) = run_cli(&["stats", "--db", db], None);
    assert!(out.contains("results:      60001"), "nothing of the broken file: {out}");
    let (_, out, _) = run_cli(
        &["query", "--db", db, "--item", "bigpkg-1-1", "--testcase-like", "pkg.mod7.*", "--limit", "1", "--json"],
        None,
    );
    assert!(out.contains("\"classname\":[\"pkg.mod"), "{out}");
    // Again: recognised by content, nothing stored twice.
    let (code, out, _) = run_cli(&["ingest", "--db", db, big.to_str().unwrap(), small.to_str().unwrap()], None);
    assert_eq!(code, 0);
    assert!(out.contains("0 ingested (0 results), 2 already ingested"), "{out}");
    assert_eq!(run_cli(&["verify", "--db", db], None).0, 0);
}

/// A small JSON Lines file with 5 results unique to `i`.
fn jsonl(i: usize) -> String {
    (0..5)
        .map(|k| format!("{{\"testcase\":\"crash.t{k}\",\"outcome\":\"PASSED\",\"data\":{{\"item\":\"file{i}\"}}}}\n"))
        .collect()
}

#[test]
fn spool_is_exactly_once_across_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let db = dir.path().join("v.db");
    let args = ["--spool", spool.to_str().unwrap(), "--spool-settle-ms", "50"];
    let files = 150;
    let feeder_spool = spool.clone();
    // A rig dropping files at a steady pace, independent of the server's restarts.
    std::fs::create_dir_all(&spool).unwrap();
    let feeder = std::thread::spawn(move || {
        for i in 0..files {
            let tmp = feeder_spool.join(format!(".r{i}.jsonl"));
            std::fs::write(&tmp, jsonl(i)).unwrap();
            std::fs::rename(&tmp, feeder_spool.join(format!("r{i}.jsonl"))).unwrap();
            std::thread::sleep(Duration::from_millis(7));
        }
    });
    // Kill the server at pseudo-random moments while files keep arriving.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..4 {
        let s = TestServer::start_on(&db, &args);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(150 + seed % 400));
        s.stop();
    }
    feeder.join().unwrap();
    let s = TestServer::start_on(&db, &args);
    wait_until("the spool to drain", || unprocessed(&spool) == 0 && status(&s)["in_progress"] == 0);
    for i in 0..files {
        let r = s.get(&format!("/api/v2.0/results?item=file{i}&limit=100"));
        assert_eq!(r.data().len(), 5, "file {i}: every result exactly once");
    }
    assert_eq!(s.count(), files * 5);
    drop(s);
    assert_eq!(run_cli(&["verify", "--db", db.to_str().unwrap()], None).0, 0);
}
