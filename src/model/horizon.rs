//! Horizons (`verdict prune`): the log record that drops old results of one origin while
//! keeping its chain verifiable and what the results said, in numbers.
//!
//! A horizon entry is sealed onto the pruning node's own chain (it cannot write another
//! origin's). It names the origin whose result entries it drops, as ranges of that origin's
//! chain positions, each with the chain hash of its last entry: a verifier, an importer or a
//! peer steps over a range to that hash, so every entry kept after it still checks. With
//! the ranges go per (testcase, scenario, arch, UTC day) outcome counts and duration stats
//! of the dropped results, so history over a pruned range still answers. Pure.

use serde::{Deserialize, Serialize};

/// Microseconds in a day: summaries are per UTC day of the submit time.
pub const DAY_MICROS: i64 = 86_400_000_000;

/// The UTC day (days since the epoch) of an instant in microseconds.
pub fn day_of(micros: i64) -> i64 {
    micros.div_euclid(DAY_MICROS)
}

/// One horizon entry exactly as recorded in the log: fields alphabetical, absent optionals
/// skipped, so the JSON is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HorizonRecord {
    /// Results submitted before this instant (microseconds since the epoch) were pruned.
    pub before: i64,
    /// Per key and day, what the pruned results said.
    pub days: Vec<DaySummary>,
    /// The node whose chain the ranges are positions of.
    pub origin: String,
    /// The pruned positions of `origin`'s chain, ascending.
    pub ranges: Vec<PrunedRange>,
    /// Results pruned (the entries the ranges cover).
    pub results: u64,
    /// Only results of testcases matching this pattern (`*` wildcards) were pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub testcases_like: Option<String>,
}

/// Positions `from..=to` of an origin's chain were pruned; `hash` is the chain hash of
/// entry `to`, which entry `to + 1` follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunedRange {
    pub from: u64,
    pub hash: String,
    pub to: u64,
}

/// What the pruned results of one key said on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaySummary {
    pub arch: String,
    /// UTC day, days since the epoch.
    pub day: i64,
    /// Largest `data.duration`, in milliseconds (absent when no result had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_max_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_min_ms: Option<i64>,
    /// Results with a numeric `data.duration`, and their sum in milliseconds (integers keep
    /// the record's JSON canonical).
    pub duration_n: u64,
    pub duration_sum_ms: i64,
    pub fails: u64,
    /// Results that are neither a pass nor a fail (QUEUED, RUNNING, custom outcomes).
    pub others: u64,
    pub passes: u64,
    pub scenario: String,
    pub testcase: String,
}

impl DaySummary {
    /// An empty summary of one key and day.
    pub fn new(testcase: &str, scenario: &str, arch: &str, day: i64) -> DaySummary {
        DaySummary {
            arch: arch.to_owned(),
            day,
            duration_max_ms: None,
            duration_min_ms: None,
            duration_n: 0,
            duration_sum_ms: 0,
            fails: 0,
            others: 0,
            passes: 0,
            scenario: scenario.to_owned(),
            testcase: testcase.to_owned(),
        }
    }

    /// Counts one result: `fail` is `None` for an outcome that is neither; `duration` in
    /// seconds.
    pub fn add(&mut self, fail: Option<bool>, duration: Option<f64>) {
        match fail {
            Some(true) => self.fails += 1,
            Some(false) => self.passes += 1,
            None => self.others += 1,
        }
        if let Some(d) = duration.filter(|d| d.is_finite()) {
            let ms = (d * 1000.0).round() as i64;
            self.duration_n += 1;
            self.duration_sum_ms = self.duration_sum_ms.saturating_add(ms);
            self.duration_min_ms = Some(self.duration_min_ms.map_or(ms, |m| m.min(ms)));
            self.duration_max_ms = Some(self.duration_max_ms.map_or(ms, |m| m.max(ms)));
        }
    }
}

/// Splits ascending (chain position, hash) pairs into ranges of consecutive positions, each
/// with the hash of its last position.
pub fn ranges_of(positions: &[(u64, String)]) -> Vec<PrunedRange> {
    let mut out: Vec<PrunedRange> = Vec::new();
    for (seq, hash) in positions {
        match out.last_mut() {
            Some(last) if last.to + 1 == *seq => {
                last.to = *seq;
                last.hash = hash.clone();
            }
            _ => out.push(PrunedRange { from: *seq, hash: hash.clone(), to: *seq }),
        }
    }
    out
}

/// One result a prune drops: where it sits in its origin's chain, and what it said.
#[derive(Debug, Clone)]
pub struct Dropped {
    pub origin: String,
    pub origin_seq: u64,
    /// Its chain hash (hex).
    pub hash: String,
    /// Its summary key: testcase, scenario, arch and UTC day.
    pub key: (String, String, String, i64),
    /// `None` for an outcome that is neither a pass nor a fail.
    pub fail: Option<bool>,
    /// `data.duration` in seconds.
    pub duration: Option<f64>,
}

/// The horizon records of one prune step: one per origin whose results it drops, with the
/// ranges of their positions and their per-key, per-day summaries.
pub fn horizons_of(before: i64, like: Option<&str>, dropped: Vec<Dropped>) -> Vec<HorizonRecord> {
    let mut by_origin: std::collections::BTreeMap<String, Vec<Dropped>> = std::collections::BTreeMap::new();
    for d in dropped {
        by_origin.entry(d.origin.clone()).or_default().push(d);
    }
    by_origin
        .into_iter()
        .map(|(origin, mut dropped)| {
            dropped.sort_by_key(|d| d.origin_seq);
            let positions: Vec<(u64, String)> = dropped.iter().map(|d| (d.origin_seq, d.hash.clone())).collect();
            let mut days: std::collections::BTreeMap<(String, String, String, i64), DaySummary> =
                std::collections::BTreeMap::new();
            for d in &dropped {
                let (t, s, a, day) = &d.key;
                days.entry(d.key.clone()).or_insert_with(|| DaySummary::new(t, s, a, *day)).add(d.fail, d.duration);
            }
            HorizonRecord {
                before,
                days: days.into_values().collect(),
                origin,
                ranges: ranges_of(&positions),
                results: dropped.len() as u64,
                testcases_like: like.map(str::to_owned),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_positions_make_one_range_with_the_last_hash() {
        let p = |s: u64| (s, format!("h{s}"));
        type Case<'a> = (&'a [u64], &'a [(u64, u64)]);
        let table: &[Case] =
            &[(&[], &[]), (&[1], &[(1, 1)]), (&[1, 2, 3], &[(1, 3)]), (&[1, 2, 4, 5, 9], &[(1, 2), (4, 5), (9, 9)])];
        for (positions, want) in table {
            let input: Vec<_> = positions.iter().map(|s| p(*s)).collect();
            let got = ranges_of(&input);
            let got: Vec<_> = got.iter().map(|r| (r.from, r.to)).collect();
            assert_eq!(&got, want, "{positions:?}");
        }
        assert_eq!(ranges_of(&[p(4), p(5)])[0].hash, "h5");
    }

    #[test]
    fn summaries_count_outcomes_and_durations() {
        let mut d = DaySummary::new("t", "", "x86_64", day_of(DAY_MICROS * 3 + 5));
        assert_eq!(d.day, 3);
        d.add(Some(false), Some(2.0));
        d.add(Some(true), Some(f64::NAN));
        d.add(None, Some(5.0));
        assert_eq!((d.passes, d.fails, d.others, d.duration_n), (1, 1, 1, 2));
        assert_eq!((d.duration_min_ms, d.duration_max_ms, d.duration_sum_ms), (Some(2000), Some(5000), 7000));
        assert_eq!(day_of(-1), -1);
    }

    #[test]
    fn the_record_is_canonical_json() {
        let h = HorizonRecord {
            before: 7,
            days: vec![DaySummary::new("t", "s", "a", 1)],
            origin: "ab".into(),
            ranges: vec![PrunedRange { from: 1, hash: "00".into(), to: 2 }],
            results: 2,
            testcases_like: None,
        };
        let json = serde_json::to_string(&h).unwrap();
        assert!(json.starts_with(r#"{"before":7,"days":[{"arch":"a","day":1,"duration_n":0"#), "{json}");
        let back: HorizonRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }
}
