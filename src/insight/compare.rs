//! Base vs head: the latest result of every key on each side, sorted into buckets
//! (new failures, fixed, still failing, new tests, missing, flaky, pending).
//!
//! Choices: a key the caller knows to be flaky goes ONLY to `flaky`, whatever its
//! outcomes, so a flaky test never shows up as a new failure (the point of the report).
//! A key whose base or head result is ignored (QUEUED, RUNNING, custom) has no verdict on
//! that side yet and goes to `pending` (the caller would normally pass the latest counted
//! result; this keeps an unfinished run out of the fail/pass buckets). When a side lists a
//! key twice, its newest result (by submit time, then id) is the one compared.

use super::{Class, Key, Run, iso_opt, signature};
use crate::model::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What the caller fetched to annotate the buckets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompareContext {
    /// Keys classified flaky (see [`super::classify`]).
    pub flaky: BTreeSet<Key>,
    /// Per failing key: (failing since, consecutive fails across all items).
    pub failing: BTreeMap<Key, (Timestamp, usize)>,
    /// How often each failure signature was seen before.
    pub seen_before: BTreeMap<String, usize>,
}

/// One key in a bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareEntry {
    #[serde(flatten)]
    pub key: Key,
    pub base_id: Option<i64>,
    pub head_id: Option<i64>,
    pub base_outcome: Option<String>,
    pub head_outcome: Option<String>,
    /// Failure signature of a failing head result (None when it passes or has no text).
    pub signature: Option<String>,
    /// Times `signature` was seen before (Some(0) when never; None without a signature).
    pub seen_before: Option<usize>,
    /// From [`CompareContext::failing`], for `still_failing` entries.
    #[serde(serialize_with = "iso_opt")]
    pub failing_since: Option<Timestamp>,
    pub failing_for: Option<usize>,
}

/// The buckets; entries in key order.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Comparison {
    /// Fails in head, passed in base.
    pub new_failures: Vec<CompareEntry>,
    /// Failed in base, passes in head.
    pub fixed: Vec<CompareEntry>,
    /// Fails on both sides.
    pub still_failing: Vec<CompareEntry>,
    /// Only in head.
    pub new_tests: Vec<CompareEntry>,
    /// Only in base.
    pub missing: Vec<CompareEntry>,
    /// Known flaky keys (only here).
    pub flaky: Vec<CompareEntry>,
    /// A side's result is not a verdict yet (QUEUED, RUNNING, custom outcome).
    pub pending: Vec<CompareEntry>,
    /// Keys passing on both sides (counted, not listed).
    pub unchanged_passing: usize,
}

/// Sorts every key of `base` ∪ `head` into its bucket.
pub fn compare(base: &[(Key, Run)], head: &[(Key, Run)], context: &CompareContext) -> Comparison {
    let (base, head) = (latest(base), latest(head));
    let keys: BTreeSet<&Key> = base.keys().chain(head.keys()).copied().collect();
    let mut out = Comparison::default();
    for key in keys {
        let (b, h) = (base.get(key).copied(), head.get(key).copied());
        let mut entry = entry(key, b, h, context);
        let bucket = match (b.map(Run::class), h.map(Run::class)) {
            _ if context.flaky.contains(key) => &mut out.flaky,
            (None, _) => &mut out.new_tests,
            (_, None) => &mut out.missing,
            (Some(Class::Ignored), _) | (_, Some(Class::Ignored)) => &mut out.pending,
            (Some(Class::Pass), Some(Class::Pass)) => {
                out.unchanged_passing += 1;
                continue;
            }
            (Some(Class::Pass), Some(Class::Fail)) => &mut out.new_failures,
            (Some(Class::Fail), Some(Class::Pass)) => &mut out.fixed,
            (Some(Class::Fail), Some(Class::Fail)) => {
                let failing = context.failing.get(key);
                entry.failing_since = failing.map(|f| f.0);
                entry.failing_for = failing.map(|f| f.1);
                &mut out.still_failing
            }
        };
        bucket.push(entry);
    }
    out
}

/// The newest run of each key on one side.
fn latest(side: &[(Key, Run)]) -> BTreeMap<&Key, &Run> {
    let mut map: BTreeMap<&Key, &Run> = BTreeMap::new();
    for (key, run) in side {
        let slot = map.entry(key).or_insert(run);
        if run.chrono_key() > slot.chrono_key() {
            *slot = run;
        }
    }
    map
}

/// The entry for a key, with the head failure's signature when there is one.
fn entry(key: &Key, base: Option<&Run>, head: Option<&Run>, context: &CompareContext) -> CompareEntry {
    let sig = head.and_then(signature);
    let seen_before = sig.as_ref().map(|s| context.seen_before.get(s).copied().unwrap_or(0));
    CompareEntry {
        key: key.clone(),
        base_id: base.map(|r| r.id),
        head_id: head.map(|r| r.id),
        base_outcome: base.map(|r| r.outcome.to_string()),
        head_outcome: head.map(|r| r.outcome.to_string()),
        signature: sig,
        seen_before,
        failing_since: None,
        failing_for: None,
    }
}
