//! The official Python client (`resultsdb-api` from PyPI) against the real server.
//!
//! `.ci/run` creates the venv (`tests/python/setup-venv.sh`); locally the test is skipped
//! with a note when the venv is missing, and CI sets `VERDICT_REQUIRE_PYTHON=1` so a
//! missing venv fails instead.

use crate::support::TestServer;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn official_python_client_round_trip() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let Some(python) = crate::support::venv_program(".venv", "python") else { return };
    let s = TestServer::start();
    let out = Command::new(python)
        .arg(root.join("tests/python/client_test.py"))
        .arg(format!("{}/api/v2.0", s.base))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python client test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("ALL OK"), "{stdout}\n{stderr}");
}
