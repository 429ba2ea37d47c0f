//! One key's history in numbers: runs, passes, fails, pass↔fail flips, the current
//! streak, when it was first seen / last passed / last failed, and duration percentiles.

use super::{Class, Run, counted, iso, iso_opt};
use crate::model::Timestamp;
use serde::Serialize;

/// The summary of one key's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyHistory {
    /// Counted results (pass or fail; QUEUED, RUNNING and custom outcomes are not runs).
    pub runs: usize,
    pub passes: usize,
    pub fails: usize,
    /// Pass↔fail flips between consecutive counted results.
    pub transitions: usize,
    /// passes ÷ runs; None with no runs.
    pub pass_rate: Option<f64>,
    pub current_streak: Option<Streak>,
    /// Earliest submit time of any given result, ignored ones included (the test existed).
    #[serde(serialize_with = "iso_opt")]
    pub first_seen: Option<Timestamp>,
    #[serde(serialize_with = "iso_opt")]
    pub last_pass: Option<Timestamp>,
    #[serde(serialize_with = "iso_opt")]
    pub last_fail: Option<Timestamp>,
    /// Over counted runs that carry a duration; None when none does.
    pub duration: Option<DurationStats>,
}

/// The newest results that share one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Streak {
    /// "pass" or "fail".
    pub outcome: String,
    pub length: usize,
    /// Submit time of the oldest result of the streak.
    #[serde(serialize_with = "iso")]
    pub since: Timestamp,
}

/// Duration percentiles in seconds, nearest-rank: the p-th percentile of n sorted values
/// is the value at rank ⌈p·n/100⌉ (1-based), always one of the observed durations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DurationStats {
    pub p50: f64,
    pub p90: f64,
    pub count: usize,
}

/// Summarizes one key's results. The caller passes them newest first, but order does not
/// matter: they are sorted by (submit_time, id) here so equal inputs give equal answers.
pub fn summarize(runs: &[Run]) -> KeyHistory {
    let seq = counted(runs);
    let passes = seq.iter().filter(|r| r.class() == Class::Pass).count();
    let last_of = |c: Class| seq.iter().rev().find(|r| r.class() == c).map(|r| r.submit_time);
    KeyHistory {
        runs: seq.len(),
        passes,
        fails: seq.len() - passes,
        transitions: seq.windows(2).filter(|w| w[0].class() != w[1].class()).count(),
        pass_rate: (!seq.is_empty()).then(|| passes as f64 / seq.len() as f64),
        current_streak: streak(&seq),
        first_seen: runs.iter().map(|r| r.submit_time).min(),
        last_pass: last_of(Class::Pass),
        last_fail: last_of(Class::Fail),
        duration: duration_stats(&seq),
    }
}

/// The streak ending at the newest of `seq` (oldest first, counted runs only).
fn streak(seq: &[&Run]) -> Option<Streak> {
    let newest = seq.last()?;
    let class = newest.class();
    let length = seq.iter().rev().take_while(|r| r.class() == class).count();
    let since = seq[seq.len() - length].submit_time;
    let outcome = if class == Class::Pass { "pass" } else { "fail" };
    Some(Streak { outcome: outcome.to_owned(), length, since })
}

fn duration_stats(seq: &[&Run]) -> Option<DurationStats> {
    let mut ds: Vec<f64> = seq.iter().filter_map(|r| r.duration).filter(|d| d.is_finite()).collect();
    ds.sort_by(f64::total_cmp);
    Some(DurationStats { p50: nearest_rank(&ds, 50)?, p90: nearest_rank(&ds, 90)?, count: ds.len() })
}

/// Nearest-rank percentile of sorted values (None when empty).
fn nearest_rank(sorted: &[f64], p: usize) -> Option<f64> {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}
