//! The CI message fixtures (`fixtures/ci-messages/`) against the schemas for their topics,
//! validated by the `ci-messages` package's own fedora-messaging class
//! (`tests/python/validate_ci_messages.py`), so the mapping's golden inputs are messages
//! a real consumer would accept (and the bad one one it would refuse).
//!
//! `.ci/run` creates the venv (`tests/python/setup-venv.sh`); locally the test is skipped
//! with a note when the venv is missing, and CI sets `VERDICT_REQUIRE_PYTHON=1` so a
//! missing venv fails instead.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn ci_message_fixtures_match_their_topic_schemas() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let Some(python) = crate::support::venv_program(".venv", "python") else { return };
    let out = Command::new(python).arg(root.join("tests/python/validate_ci_messages.py")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "schema validation failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("ALL OK"), "{stdout}\n{stderr}");
}
