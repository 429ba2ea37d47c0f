//! A key's pruned history: what the horizon entries kept of results `verdict prune`
//! dropped — per-day counts and duration stats — summed over a window (pure).

use crate::model::DaySummary;
use crate::model::Timestamp;
use crate::model::horizon::DAY_MICROS;
use serde::Serialize;

/// What the pruned results of one key in the window said (whole UTC days).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrunedHistory {
    /// Pass and fail results pruned (as `runs` counts them), and the rest.
    pub runs: u64,
    pub passes: u64,
    pub fails: u64,
    pub others: u64,
    /// passes ÷ runs; None with no runs.
    pub pass_rate: Option<f64>,
    /// First and last day with pruned results (`YYYY-MM-DD`, UTC).
    pub first_day: String,
    pub last_day: String,
    /// Over pruned results that carried a duration.
    pub duration: Option<PrunedDurations>,
    /// Per day, newest first.
    pub days: Vec<PrunedDay>,
}

/// Duration stats in seconds (percentiles are not kept for pruned results).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrunedDurations {
    pub count: u64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrunedDay {
    pub day: String,
    pub passes: u64,
    pub fails: u64,
    pub others: u64,
}

/// Sums the days of one key (any order); `None` for none.
pub fn pruned_history(days: &[DaySummary]) -> Option<PrunedHistory> {
    let first = days.iter().map(|d| d.day).min()?;
    let last = days.iter().map(|d| d.day).max()?;
    let sum = |f: fn(&DaySummary) -> u64| days.iter().map(f).sum::<u64>();
    let (passes, fails, others) = (sum(|d| d.passes), sum(|d| d.fails), sum(|d| d.others));
    let runs = passes + fails;
    let n = sum(|d| d.duration_n);
    let duration = (n > 0).then(|| PrunedDurations {
        count: n,
        mean: days.iter().map(|d| d.duration_sum_ms).sum::<i64>() as f64 / n as f64 / 1000.0,
        min: days.iter().filter_map(|d| d.duration_min_ms).min().unwrap_or(0) as f64 / 1000.0,
        max: days.iter().filter_map(|d| d.duration_max_ms).max().unwrap_or(0) as f64 / 1000.0,
    });
    let mut per_day: Vec<PrunedDay> = days
        .iter()
        .map(|d| PrunedDay { day: date_of(d.day), passes: d.passes, fails: d.fails, others: d.others })
        .collect();
    per_day.sort_by(|a, b| b.day.cmp(&a.day));
    Some(PrunedHistory {
        runs,
        passes,
        fails,
        others,
        pass_rate: (runs > 0).then(|| passes as f64 / runs as f64),
        first_day: date_of(first),
        last_day: date_of(last),
        duration,
        days: per_day,
    })
}

/// `YYYY-MM-DD` of a UTC day number.
fn date_of(day: i64) -> String {
    let iso = Timestamp(day.saturating_mul(DAY_MICROS)).to_iso();
    iso.get(..10).unwrap_or(&iso).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: i64, passes: u64, fails: u64, durations: &[f64]) -> DaySummary {
        let mut d = DaySummary::new("t", "", "", day);
        for _ in 0..passes {
            d.add(Some(false), None);
        }
        for _ in 0..fails {
            d.add(Some(true), None);
        }
        for x in durations {
            d.add(None, Some(*x));
        }
        d
    }

    #[test]
    fn days_add_up() {
        assert_eq!(pruned_history(&[]), None);
        let h = pruned_history(&[day(20455, 3, 1, &[1.0, 3.0]), day(20454, 0, 2, &[])]).unwrap();
        assert_eq!((h.runs, h.passes, h.fails, h.others), (6, 3, 3, 2));
        assert_eq!(h.pass_rate, Some(0.5));
        assert_eq!((h.first_day.as_str(), h.last_day.as_str()), ("2026-01-01", "2026-01-02"));
        assert_eq!(h.days[0].day, "2026-01-02");
        let d = h.duration.unwrap();
        assert_eq!((d.count, d.mean, d.min, d.max), (2, 2.0, 1.0, 3.0));
    }
}
