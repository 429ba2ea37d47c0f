//! A real test runner that reports to ResultsDB, unchanged: Avocado with its ResultsDB plugin
//! (`avocado-framework-plugin-resultsdb` from PyPI) runs a small job against the server, and
//! its group and results come back through the API as the plugin sent them.
//!
//! `.ci/run` creates the venv (`tests/python/setup-venv.sh`, `.venv-avocado`); locally the
//! test is skipped with a note when it is missing, and CI sets `VERDICT_REQUIRE_PYTHON=1` so a
//! missing venv fails instead.
//!
//! What the plugin sends (`avocado_resultsdb/resultsdb.py`, through `resultsdb_api`): before
//! the tests `POST /groups` `{"uuid": JOB_ID, "description": "job-…", "ref_url": null}` (the
//! job id is 40 hex digits, longer than a UUID); after each test `POST /results` with the
//! test's name as the testcase, `groups: [JOB_ID]`, Avocado's status mapped to an outcome
//! (PASS→PASSED, FAIL→FAILED, SKIP/CANCEL/WARN/INTERRUPTED→INFO, anything else, ERROR
//! included→NEEDS_INSPECTION), its fail reason as the note, and the data fields below.

use crate::support::TestServer;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// An Avocado instrumented test file: one test for each status the plugin maps.
const JOB_PY: &str = r#"from avocado import Test, skip


class Job(Test):
    def test_pass(self):
        self.whiteboard = "all good"

    def test_fail(self):
        self.fail("expected failure")

    @skip("not today")
    def test_skip(self):
        pass

    def test_cancel(self):
        self.cancel("no hardware")

    def test_error(self):
        raise RuntimeError("boom")
"#;

#[test]
fn avocado_resultsdb_plugin_reports_a_job() {
    let Some(avocado) = crate::support::venv_program(".venv-avocado", "avocado") else { return };
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.py"), JOB_PY).unwrap();
    let results_dir = dir.path().join("results");
    // The legacy runner: with the nrunner the plugin fails on keys its states lack (see
    // tests/python/requirements-avocado.txt). HOME in the temp dir: Avocado keeps its data
    // directory there.
    let out = Command::new(&avocado)
        .args(["run", "--test-runner", "runner", "--disable-sysinfo", "--job-results-dir"])
        .arg(&results_dir)
        .arg("--resultsdb-api")
        .arg(format!("{}/api/v2.0/", s.base))
        .args(["job.py", "/bin/true", "/bin/false"])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = format!("{stdout}\n{stderr}");
    // Exit status 1: some tests failed (AVOCADO_TESTS_FAIL), the job itself ran.
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(!said.contains("Error running method"), "the plugin failed:\n{said}");
    assert!(
        said.contains("RESULTS    : PASS 2 | ERROR 1 | FAIL 2 | SKIP 1 | WARN 0 | INTERRUPT 0 | CANCEL 1"),
        "{said}"
    );
    let job_id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("JOB ID     : "))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no job id in:\n{said}"))
        .to_owned();
    assert_eq!(job_id.len(), 40, "{job_id}");

    // The job's group: its id as the uuid, its results directory's name as the description.
    let g = s.get(&format!("/api/v2.0/groups/{job_id}"));
    assert_eq!(g.status, 200, "{}", g.text);
    assert_eq!(g.json["uuid"], job_id.as_str());
    let description = g.json["description"].as_str().unwrap();
    assert!(description.starts_with("job-") && description.ends_with(&job_id[..7]), "{description}");
    assert!(results_dir.join(description).is_dir(), "{description}");
    assert_eq!(g.json["ref_url"], Value::Null);
    assert_eq!(g.json["results_count"], 7, "{}", g.text);

    // One result per test, in the job's group, with the outcome the plugin maps.
    let r = s.get(&format!("/api/v2.0/groups/{job_id}/results"));
    assert_eq!(r.status, 200, "{}", r.text);
    let by_name: BTreeMap<&str, &Value> =
        r.data().iter().map(|r| (r["testcase"]["name"].as_str().unwrap(), r)).collect();
    let got: Vec<(&str, &str, &str)> = by_name
        .iter()
        .map(|(name, r)| (*name, r["outcome"].as_str().unwrap(), r["data"]["status"][0].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("/bin/false", "FAILED", "FAIL"),
            ("/bin/true", "PASSED", "PASS"),
            ("job.py:Job.test_cancel", "INFO", "CANCEL"),
            ("job.py:Job.test_error", "NEEDS_INSPECTION", "ERROR"),
            ("job.py:Job.test_fail", "FAILED", "FAIL"),
            ("job.py:Job.test_pass", "PASSED", "PASS"),
            ("job.py:Job.test_skip", "INFO", "SKIP"),
        ]
    );
    // The fail reason is the note; a pass has none.
    let note = |name: &str| by_name[name]["note"].clone();
    assert_eq!(note("job.py:Job.test_pass"), Value::Null);
    assert_eq!(note("job.py:Job.test_fail"), "expected failure");
    assert_eq!(note("job.py:Job.test_skip"), "not today");
    assert_eq!(note("job.py:Job.test_cancel"), "no hardware");
    assert_eq!(note("job.py:Job.test_error"), "boom");
    assert!(note("/bin/false").as_str().unwrap().starts_with("Exited with status: '1'"), "{}", note("/bin/false"));

    // The data fields, every value a list of one string.
    let job_dir = results_dir.join(description);
    for (name, r) in &by_name {
        assert_eq!(r["groups"], serde_json::json!([job_id]), "{name}");
        assert_eq!(r["ref_url"], Value::Null, "{name}");
        let data = r["data"].as_object().unwrap();
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["logdir", "logfile", "status", "time_elapsed", "time_end", "time_start", "whiteboard"],
            "{name}"
        );
        let one = |k: &str| {
            let v = data[k].as_array().unwrap();
            assert_eq!(v.len(), 1, "{name} {k}: {v:?}");
            v[0].as_str().unwrap().to_owned()
        };
        let logdir = PathBuf::from(one("logdir"));
        assert!(logdir.starts_with(job_dir.join("test-results")) && logdir.is_dir(), "{name}: {logdir:?}");
        assert_eq!(PathBuf::from(one("logfile")), logdir.join("debug.log"), "{name}");
        assert!(one("time_elapsed").ends_with(" s"), "{name}");
        for k in ["time_start", "time_end"] {
            // "%Y-%m-%d %H:%M:%S" of Avocado's clock (monotonic under the legacy runner too,
            // so 1970 dates: the plugin's, sent as they are).
            let t = one(k);
            assert!(t.len() == 19 && t.as_bytes()[4] == b'-' && t.as_bytes()[13] == b':', "{name} {k}: {t}");
        }
        let whiteboard = if *name == "job.py:Job.test_pass" { "all good" } else { "" };
        assert_eq!(one("whiteboard"), whiteboard, "{name}");
    }

    // The data fields are queryable like any other (extra-data filters), and so are names.
    let failed = s.get(&format!("/api/v2.0/results?groups={job_id}&status=FAIL"));
    assert_eq!(failed.data().len(), 2, "{}", failed.text);
    let latest = s.get("/api/v2.0/results/latest?testcases=/bin/true");
    assert_eq!(latest.data().len(), 1, "{}", latest.text);
    assert_eq!(latest.data()[0]["outcome"], "PASSED");
}
