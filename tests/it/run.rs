//! `verdict run`: checks that pass, fail, flake (fail then pass), crash, hang past
//! `--timeout`, honour `$VERDICT_RERUN`, are new (burn-in) or write `$VERDICT_RESULTS` in
//! each format — stored on a server (`--url`) or the store file (`--db`), every attempt
//! with `data.attempt` and `data.run_id`, in an execution group saying OK or NOT_OK, and
//! the exit code 0 / 1 / 2.

use crate::support::{TestServer, run_cli};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A shell script in `dir`.
fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `verdict run --url S --item ITEM --type koji_build --testcase-prefix dist. EXTRA -- sh SCRIPT`.
fn run_on(s: &TestServer, logs: &Path, item: &str, extra: &[&str], script: &str) -> (i32, String) {
    let mut args = vec!["run", "--url", &s.base, "--log-dir", logs.to_str().unwrap()];
    args.extend_from_slice(&["--item", item, "--type", "koji_build", "--testcase-prefix", "dist."]);
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "sh", script]);
    let (code, out, err) = run_cli(&args, None);
    (code, format!("{out}{err}"))
}

/// The item's results, oldest first, as (testcase, outcome, attempt).
fn results(s: &TestServer, item: &str) -> Vec<Value> {
    let r = s.get(&format!("/api/v2.0/results?item={item}&limit=100"));
    assert_eq!(r.status, 200, "{}", r.text);
    let mut rows = r.data().clone();
    rows.reverse();
    rows
}

fn summary(rows: &[Value]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|r| {
            (
                r["testcase"]["name"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
                r["data"]["attempt"][0].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn triple(t: &str, o: &str, a: &str) -> (String, String, String) {
    (t.to_owned(), o.to_owned(), a.to_owned())
}

/// The run's execution group (every result names it): its description.
fn execution(s: &TestServer, row: &Value) -> String {
    let run_id = row["data"]["run_id"][0].as_str().unwrap();
    let groups: Vec<&str> = row["groups"].as_array().unwrap().iter().map(|g| g.as_str().unwrap()).collect();
    assert!(groups.contains(&run_id), "{row}");
    let g = s.get(&format!("/api/v2.0/groups/{run_id}"));
    assert_eq!(g.status, 200, "{}", g.text);
    g.json["description"].as_str().unwrap().to_owned()
}

const TAP_ONE_FAILS: &str = "echo 'TAP version 13'; echo '1..2'; echo 'ok 1 - first'; echo 'not ok 2 - second'\n";

#[test]
fn run_stores_a_passing_and_a_failing_check_with_its_log() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let pass = script(dir.path(), "smoke.sh", "echo hello from the check\nexit 0\n");
    let (code, out) = run_on(&s, dir.path(), "pass-1.0-1", &[], &pass);
    assert_eq!(code, 0, "{out}");
    let rows = results(&s, "pass-1.0-1");
    // Nothing parseable: one result from the exit status, named after the script.
    assert_eq!(summary(&rows), vec![triple("dist.smoke", "PASSED", "1")]);
    let log = rows[0]["data"]["log"][0].as_str().unwrap();
    assert!(std::fs::read_to_string(log).unwrap().contains("hello from the check"));
    assert_eq!(rows[0]["ref_url"].as_str().unwrap(), format!("file://{log}"));
    assert_eq!(rows[0]["data"]["type"][0], "koji_build");
    let desc = execution(&s, &rows[0]);
    assert!(desc.starts_with("execution_status=OK exit_code=0 "), "{desc}");
    assert!(desc.contains("command=") && desc.contains("host="), "{desc}");
    // Stored once by content: sending the run's results file again stores nothing.
    let jsonl = Path::new(log).with_extension("jsonl");
    let (code, out, err) = run_cli(&["ingest", "--url", &s.base, jsonl.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 ingested (0 results), 1 already ingested"), "{out}");
    assert_eq!(results(&s, "pass-1.0-1").len(), 1);

    let fail = script(dir.path(), "tap.sh", TAP_ONE_FAILS);
    let (code, out) = run_on(&s, dir.path(), "fail-1.0-1", &[], &fail);
    assert_eq!(code, 1, "{out}");
    let rows = results(&s, "fail-1.0-1");
    assert_eq!(summary(&rows), vec![triple("dist.first", "PASSED", "1"), triple("dist.second", "FAILED", "1")]);
    assert!(execution(&s, &rows[1]).starts_with("execution_status=OK "));
}

#[test]
fn run_retries_a_flaky_testcase_and_stores_every_attempt() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("count");
    // Fails the first time, passes after; ignores $VERDICT_RERUN (reruns everything).
    let body = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}\n\
         echo '1..2'\nif [ $n -ge 2 ]; then echo 'ok 1 - a'; else echo 'not ok 1 - a'; fi\necho 'ok 2 - b'\n",
        c = counter.display()
    );
    let flake = script(dir.path(), "flake.sh", &body);
    let (code, out) = run_on(&s, dir.path(), "flake-1.0-1", &["--retries", "2"], &flake);
    assert_eq!(code, 0, "{out}");
    let rows = results(&s, "flake-1.0-1");
    // b passed at once: its result from the rerun is not kept.
    assert_eq!(
        summary(&rows),
        vec![triple("dist.a", "FAILED", "1"), triple("dist.b", "PASSED", "1"), triple("dist.a", "PASSED", "2")]
    );
    let run_ids: Vec<&Value> = rows.iter().map(|r| &r["data"]["run_id"][0]).collect();
    assert!(run_ids.iter().all(|id| *id == run_ids[0]), "one run: {run_ids:?}");
    assert!(execution(&s, &rows[0]).contains("attempts=2"));

    // Without retries the failure stands.
    std::fs::remove_file(&counter).unwrap();
    let (code, out) = run_on(&s, dir.path(), "flake-1.0-2", &[], &flake);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn run_passes_the_failed_testcases_in_verdict_rerun() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("asked");
    // On a rerun it runs only what it is asked for (and fails a again).
    let body = format!(
        "if [ -n \"$VERDICT_RERUN\" ]; then cp \"$VERDICT_RERUN\" {seen}; while read t; do echo \"not ok - $t\"; done < \"$VERDICT_RERUN\"; exit 0; fi\n\
         echo 'not ok 1 - a'; echo 'ok 2 - b'; echo '1..2'\n",
        seen = seen.display()
    );
    let check = script(dir.path(), "rerun.sh", &body);
    let (code, out) = run_on(&s, dir.path(), "rerun-1.0-1", &["--retries", "1"], &check);
    assert_eq!(code, 1, "{out}");
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), "a\n");
    assert_eq!(
        summary(&results(&s, "rerun-1.0-1")),
        vec![triple("dist.a", "FAILED", "1"), triple("dist.b", "PASSED", "1"), triple("dist.a", "FAILED", "2")]
    );
}

#[test]
fn run_of_a_crash_or_a_hang_is_not_ok() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let crash = script(dir.path(), "crash.sh", "echo 'ok 1 - started'\nkill -KILL $$\n");
    let (code, out) = run_on(&s, dir.path(), "crash-1.0-1", &[], &crash);
    assert_eq!(code, 2, "{out}");
    let rows = results(&s, "crash-1.0-1");
    let last = rows.last().unwrap();
    assert_eq!((last["testcase"]["name"].as_str(), last["outcome"].as_str()), (Some("dist.crash"), Some("ERROR")));
    assert!(last["note"].as_str().unwrap().contains("killed by signal 9"), "{last}");
    let desc = execution(&s, last);
    assert!(desc.starts_with("execution_status=NOT_OK signal=9 "), "{desc}");

    let hang = script(dir.path(), "hang.sh", "echo waiting\nsleep 600\n");
    let (code, out) = run_on(&s, dir.path(), "hang-1.0-1", &["--timeout", "1s"], &hang);
    assert_eq!(code, 2, "{out}");
    let rows = results(&s, "hang-1.0-1");
    assert_eq!(summary(&rows), vec![triple("dist.hang", "ERROR", "1")]);
    assert!(rows[0]["note"].as_str().unwrap().contains("timed out"), "{}", rows[0]);
    assert!(execution(&s, &rows[0]).starts_with("execution_status=NOT_OK timeout=1s "));

    // A results file that does not parse is an execution failure too.
    let garbage = script(dir.path(), "garbage.sh", "echo '<testsuite><testcase' > \"$VERDICT_RESULTS\"\n");
    let (code, out) = run_on(&s, dir.path(), "garbage-1.0-1", &[], &garbage);
    assert_eq!(code, 2, "{out}");
    let rows = results(&s, "garbage-1.0-1");
    assert!(rows[0]["note"].as_str().unwrap().contains("does not parse"), "{}", rows[0]);
}

#[test]
fn run_burns_in_testcases_new_for_the_type() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let tap = script(dir.path(), "tap.sh", "echo '1..2'; echo 'ok 1 - old'; echo 'ok 2 - young'\n");
    // dist.old has a result of this type already; dist.young has none.
    s.result(serde_json::json!({"testcase": "dist.old", "outcome": "PASSED", "data": {"item": "x-0.9-1", "type": "koji_build"}}));
    let (code, out) = run_on(&s, dir.path(), "burn-1.0-1", &["--burn-in", "3"], &tap);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        summary(&results(&s, "burn-1.0-1")),
        vec![
            triple("dist.old", "PASSED", "1"),
            triple("dist.young", "PASSED", "1"),
            triple("dist.young", "PASSED", "2"),
            triple("dist.young", "PASSED", "3")
        ]
    );
    // Seen now: the next run runs it once.
    let (code, out) = run_on(&s, dir.path(), "burn-1.0-2", &["--burn-in", "3"], &tap);
    assert_eq!(code, 0, "{out}");
    assert_eq!(results(&s, "burn-1.0-2").len(), 2);
}

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(path)
}

#[test]
fn run_reads_every_format_the_check_writes_to_verdict_results() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("junit", "junit/minimal-attributes.xml"),
        ("tap", "tap/perl-test-more-v12.tap"),
        ("resultyaml", "resultyaml/python-versions-multi.yaml"),
        ("resultsdb", "resultsdb-json/single-result.json"),
        ("ctrf", "ctrf/ctrf-minimal.json"),
        ("subunit", "subunit/rig-v2.subunit"),
    ];
    for (name, file) in files {
        let body = format!("cp {} \"$VERDICT_RESULTS\"\n", fixture(file).display());
        let check = script(dir.path(), &format!("{name}.sh"), &body);
        let item = format!("fmt-{name}-1.0-1");
        let (code, out) = run_on(&s, dir.path(), &item, &[], &check);
        assert!(code == 0 || code == 1, "{name}: {out}");
        // Results may name their own item: find them by the run's group.
        let run_id = out.lines().find_map(|l| l.strip_prefix("=== verdict run ")).unwrap().split(':').next().unwrap();
        let rows = s.get(&format!("/api/v2.0/results?groups={run_id}&limit=100"));
        let rows = rows.data();
        assert!(!rows.is_empty(), "{name}: nothing stored\n{out}");
        for r in rows {
            assert_eq!(r["data"]["run_id"][0], run_id, "{name}: {r}");
            assert_eq!(r["data"]["attempt"][0], "1", "{name}: {r}");
            assert_ne!(r["testcase"]["name"], "dist.".to_owned() + name, "{name}: judged by exit status: {r}");
        }
        assert!(execution(&s, &rows[0]).starts_with("execution_status=OK "), "{name}");
    }
}

#[test]
fn run_on_the_store_file_keeps_its_log_beside_it_and_honours_quarantines() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let db_s = db.to_str().unwrap();
    let fail = script(dir.path(), "tap.sh", TAP_ONE_FAILS);
    let base = ["run", "--db", db_s, "--item", "q-1.0-1", "--type", "koji_build", "--testcase-prefix", "dist."];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--", "sh", &fail]);
        let (code, out, err) = run_cli(&a, None);
        (code, format!("{out}{err}"))
    };
    let (code, out) = with(&[]);
    assert_eq!(code, 1, "{out}");
    let (code, out, err) = run_cli(&["query", "--db", db_s, "--item", "q-1.0-1", "--json"], None);
    assert_eq!(code, 0, "{err}");
    let rows: Value = serde_json::from_str(&out).unwrap();
    let rows = rows["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let log = PathBuf::from(rows[0]["data"]["log"][0].as_str().unwrap());
    assert_eq!(log.parent().unwrap(), std::fs::canonicalize(dir.path().join("logs")).unwrap());
    assert!(log.with_extension("jsonl").is_file(), "the stored results are kept beside the log");

    let (code, _, err) =
        run_cli(&["quarantine", "add", "--db", db_s, "--testcase", "dist.second", "--reason", "known flake"], None);
    assert_eq!(code, 0, "{err}");
    let (code, out) = with(&[]);
    assert_eq!(code, 0, "a quarantined failure passes the run: {out}");
    assert!(out.contains("quarantined"), "{out}");
}
