//! Test-result insight, pure: is a failure new, known, or flaky? The service fetches rows
//! and hands them here; nothing in this module does I/O, reads the clock or touches the
//! store ("now" and "when" are the caller's: it chooses the window of rows it passes).
//!
//! Terms. A [`Key`] is (testcase, scenario, arch), scenario and arch being the first value
//! of the result's `data.scenario` / `data.arch` (absent: empty). "Same code" is the same
//! key on the same item (`data.item` + `data.type`). Outcomes fall in three [`Class`]es:
//! pass (PASSED, INFO), fail (FAILED, NEEDS_INSPECTION, ERROR, CRASHED, ABORTED) and
//! ignored (QUEUED, RUNNING and any custom outcome): ignored results are not runs.
//!
//! - [`summarize`]: one key's history (counts, flips, streak, durations).
//! - [`classify`]: flaky / broken / healthy for one key over a window, with evidence.
//! - [`compare`]: base vs head, latest result per key, in buckets.
//! - [`signature`] / [`mask`]: a failure text's fingerprint, stable across run noise.
//! - [`package_name`]: the name part of an NVR (for "last good build of this package").
//! - [`Attempts`]: a check run's retries and burn-in, and its [`RunVerdict`] (`verdict run`).

mod attempts;
mod compare;
mod flaky;
mod history;
mod pruned;
mod signature;

#[cfg(test)]
mod tests;

pub use attempts::{Attempts, RunPolicy, RunVerdict};
pub use compare::{CompareContext, CompareEntry, Comparison, compare};
pub use flaky::{Classification, Evidence, FlakyParams, State, classify};
pub use history::{DurationStats, KeyHistory, Streak, summarize};
pub use pruned::{PrunedHistory, pruned_history};
pub use signature::{mask, signature, signature_of};

use crate::model::{ResultRecord, ResultView, Timestamp};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How an outcome counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Pass,
    Fail,
    /// Not a finished verdict (QUEUED, RUNNING) or an outcome we do not know: not a run.
    Ignored,
}

/// The class of an outcome; outcomes are matched exactly (ResultsDB stores them upper-case).
pub fn class_of(outcome: &str) -> Class {
    match outcome {
        "PASSED" | "INFO" => Class::Pass,
        "FAILED" | "NEEDS_INSPECTION" | "ERROR" | "CRASHED" | "ABORTED" => Class::Fail,
        _ => Class::Ignored,
    }
}

/// What a history is kept for: one testcase in one scenario on one arch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Key {
    pub testcase: String,
    pub scenario: String,
    pub arch: String,
}

/// One result, as the store gives it: only what the insight rules read.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: i64,
    pub uuid: String,
    /// First `data.item` value, else "". Shared: a window holds many runs of one item, and
    /// cloning a shared text costs no allocation (a million runs are classified at once).
    pub item: Arc<str>,
    /// First `data.type` value, else "".
    pub item_type: Arc<str>,
    pub outcome: Arc<str>,
    /// Microseconds since the epoch (see `model::time`).
    pub submit_time: Timestamp,
    pub note: Option<String>,
    /// Seconds, from `data.duration` when it parses as a finite number.
    pub duration: Option<f64>,
    /// First `data.error_reason` value.
    pub error_reason: Option<String>,
}

impl Run {
    /// This run's outcome class.
    pub fn class(&self) -> Class {
        class_of(&self.outcome)
    }

    /// Newest-last order: by submit time, ties by id (ids grow with insertion), so every
    /// function here sees the same sequence whatever order the caller passed.
    fn chrono_key(&self) -> (Timestamp, i64) {
        (self.submit_time, self.id)
    }
}

/// First value of a data field.
fn first<'a>(data: &'a BTreeMap<String, Vec<String>>, field: &str) -> Option<&'a str> {
    data.get(field).and_then(|v| v.first()).map(String::as_str)
}

/// The key a result counts under.
pub fn key_of(record: &ResultRecord) -> Key {
    let get = |f: &str| first(&record.data, f).unwrap_or_default().to_owned();
    Key { testcase: record.testcase.name.clone(), scenario: get("scenario"), arch: get("arch") }
}

/// The run a stored result is to the insight rules.
pub fn run_of(view: &ResultView) -> Run {
    let data = &view.record.data;
    let get = |f: &str| Arc::from(first(data, f).unwrap_or_default());
    Run {
        id: view.id,
        uuid: view.record.uuid.clone(),
        item: get("item"),
        item_type: get("type"),
        outcome: Arc::from(view.record.outcome.as_str()),
        submit_time: Timestamp(view.record.submit_time),
        note: view.record.note.clone(),
        // A non-finite duration ("NaN", "inf") would poison percentiles: treat it as absent.
        duration: first(data, "duration").and_then(|d| d.trim().parse::<f64>().ok()).filter(|d| d.is_finite()),
        error_reason: first(data, "error_reason").map(str::to_owned),
    }
}

/// The name part of an NVR: everything before the last two `-` fields
/// (`python-foo-bar-1.0-1` → `python-foo-bar`). None with fewer than three non-empty fields.
pub fn package_name(nvr: &str) -> Option<&str> {
    let mut parts = nvr.rsplitn(3, '-');
    let (release, version, name) = (parts.next()?, parts.next()?, parts.next()?);
    (!release.is_empty() && !version.is_empty() && !name.is_empty()).then_some(name)
}

/// Serializes a timestamp as the rest of the API does: ISO 8601, naive UTC.
fn iso<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ts.to_iso())
}

/// [`iso`] for an optional timestamp (null when absent).
fn iso_opt<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(t) => s.serialize_str(&t.to_iso()),
        None => s.serialize_none(),
    }
}

/// The runs that count (pass or fail), oldest first.
fn counted(runs: &[Run]) -> Vec<&Run> {
    let mut out: Vec<&Run> = runs.iter().filter(|r| r.class() != Class::Ignored).collect();
    out.sort_by_key(|r| r.chrono_key());
    out
}
