//! Tables for `summarize`: counts, flips, streaks, timestamps, percentiles, empty input.

use super::*;

/// Newest first, as the caller passes them.
fn newest_first(pattern: &str) -> Vec<Run> {
    let mut rs = runs(pattern, "");
    rs.reverse();
    rs
}

#[test]
fn empty_history() {
    let h = summarize(&[]);
    assert_eq!((h.runs, h.passes, h.fails, h.transitions), (0, 0, 0, 0));
    assert_eq!((h.pass_rate, h.current_streak, h.first_seen, h.last_pass, h.last_fail), (None, None, None, None, None));
    assert_eq!(h.duration, None);
}

#[test]
fn counts_streaks_and_times() {
    // (oldest-first pattern, runs, passes, transitions, streak (outcome, length, since id), last pass id, last fail id)
    type Row = (&'static str, usize, usize, usize, Option<(&'static str, usize, i64)>, Option<i64>, Option<i64>);
    let table: &[Row] = &[
        ("P", 1, 1, 0, Some(("pass", 1, 1)), Some(1), None),
        ("FFF", 3, 0, 0, Some(("fail", 3, 1)), None, Some(3)),
        ("PFPFF", 5, 2, 3, Some(("fail", 2, 4)), Some(3), Some(5)),
        ("FPPP", 4, 3, 1, Some(("pass", 3, 2)), Some(4), Some(1)),
        ("PQFQQF", 3, 1, 1, Some(("fail", 2, 3)), Some(1), Some(6)),
        ("QQ", 0, 0, 0, None, None, None),
    ];
    for &(pattern, n, passes, flips, streak, last_pass, last_fail) in table {
        let h = summarize(&newest_first(pattern));
        assert_eq!((h.runs, h.passes, h.fails, h.transitions), (n, passes, n - passes, flips), "{pattern}");
        let want = streak.map(|(o, length, since)| Streak { outcome: o.into(), length, since: at(since) });
        assert_eq!(h.current_streak, want, "{pattern}");
        assert_eq!((h.last_pass, h.last_fail), (last_pass.map(at), last_fail.map(at)), "{pattern}");
        assert_eq!(h.first_seen, Some(at(1)), "{pattern}: ignored results count as seen");
        assert_eq!(h.pass_rate, (n > 0).then(|| passes as f64 / n as f64), "{pattern}");
    }
}

#[test]
fn nearest_rank_percentiles() {
    // (durations, p50, p90)
    let table: &[(&[f64], f64, f64)] = &[
        (&[5.0], 5.0, 5.0),
        (&[1.0, 2.0], 1.0, 2.0),
        (&[3.0, 1.0, 2.0], 2.0, 3.0),
        (&[10.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], 5.0, 9.0),
        (&[10.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 11.0], 6.0, 10.0),
    ];
    for &(ds, p50, p90) in table {
        let mut rs = runs(&"P".repeat(ds.len() + 1), "");
        for (r, d) in rs.iter_mut().zip(ds) {
            r.duration = Some(*d);
        }
        // One queued run with a duration: not a run, so not counted.
        rs.push(Run { duration: Some(1000.0), ..run(99, "x", "RUNNING") });
        let got = summarize(&rs).duration.unwrap();
        assert_eq!(got, DurationStats { p50, p90, count: ds.len() }, "{ds:?}");
    }
    assert_eq!(summarize(&runs("PF", "")).duration, None, "no durations");
}

#[test]
fn timestamps_serialize_as_iso() {
    let json = serde_json::to_value(summarize(&runs("PF", ""))).unwrap();
    assert_eq!(json["last_pass"], at(1).to_iso());
    assert_eq!(json["current_streak"]["since"], at(2).to_iso());
    assert_eq!(json["current_streak"]["outcome"], "fail");
    assert!(json["duration"].is_null());
}
