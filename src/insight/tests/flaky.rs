//! Decision table for `classify`: every rule, precedence, clearing, evidence.

use super::*;

struct Case {
    name: &'static str,
    pattern: &'static str,
    /// Same-item overrides (see `runs`).
    items: &'static str,
    state: State,
    /// Substring of the reason.
    reason: &'static str,
    flip_rate: Option<f64>,
    passes_since: usize,
    evidence: &'static [i64],
}

const CASES: &[Case] = &[
    Case {
        name: "no runs",
        pattern: "",
        items: "",
        state: State::Healthy,
        reason: "no flaky",
        flip_rate: None,
        passes_since: 0,
        evidence: &[],
    },
    Case {
        name: "all pass",
        pattern: "PPPPPP",
        items: "",
        state: State::Healthy,
        reason: "no flaky",
        flip_rate: Some(0.0),
        passes_since: 0,
        evidence: &[],
    },
    Case {
        name: "same item pass on retry",
        pattern: "PPFP",
        items: "..cc",
        state: State::Flaky,
        reason: "item \"c\" both passed and failed",
        flip_rate: Some(2.0 / 3.0),
        passes_since: 0,
        evidence: &[3, 4],
    },
    Case {
        name: "same item, most recent item only",
        pattern: "FPFP",
        items: "aabb",
        state: State::Flaky,
        reason: "item \"b\"",
        flip_rate: Some(1.0),
        passes_since: 0,
        evidence: &[3, 4],
    },
    Case {
        name: "same item pass then fail",
        pattern: "PF",
        items: "aa",
        state: State::Flaky,
        reason: "item \"a\"",
        flip_rate: Some(1.0),
        passes_since: 0,
        evidence: &[1, 2],
    },
    Case {
        name: "empty item is never the same code",
        pattern: "PFP",
        items: "___",
        state: State::Healthy,
        reason: "no flaky",
        flip_rate: Some(1.0),
        passes_since: 0,
        evidence: &[],
    },
    Case {
        name: "flip rate over threshold",
        pattern: "PFPFPP",
        items: "",
        state: State::Flaky,
        reason: "flip rate 0.80 (4 flips over 6 runs",
        flip_rate: Some(0.8),
        passes_since: 1,
        evidence: &[1, 2, 3, 4, 5],
    },
    Case {
        name: "flip rate exactly at threshold",
        pattern: "PPPPPPPFPPP",
        items: "",
        state: State::Flaky,
        reason: "flip rate 0.20",
        flip_rate: Some(0.2),
        passes_since: 2,
        evidence: &[7, 8, 9],
    },
    Case {
        name: "flip rate under threshold",
        pattern: "PPPPPPPPPPFPPPPPP",
        items: "",
        state: State::Healthy,
        reason: "no flaky",
        flip_rate: Some(0.125),
        passes_since: 0,
        evidence: &[],
    },
    Case {
        name: "under min_runs",
        pattern: "PFPF",
        items: "",
        state: State::Healthy,
        reason: "no flaky",
        flip_rate: Some(1.0),
        passes_since: 0,
        evidence: &[],
    },
    Case {
        name: "at min_runs",
        pattern: "PFPFP",
        items: "",
        state: State::Flaky,
        reason: "flip rate 1.00",
        flip_rate: Some(1.0),
        passes_since: 0,
        evidence: &[1, 2, 3, 4, 5],
    },
    Case {
        name: "breakage runs are not flips",
        pattern: "PPFFFPPFFFPP",
        items: "",
        state: State::Healthy,
        reason: "no flaky",
        flip_rate: Some(0.0),
        passes_since: 0,
        evidence: &[],
    },
    Case {
        name: "two-fail runs are flips",
        pattern: "PPFFPPFFPP",
        items: "",
        state: State::Flaky,
        reason: "4 flips over 10 runs",
        flip_rate: Some(4.0 / 9.0),
        passes_since: 1,
        evidence: &[2, 3, 4, 5, 6, 7, 8, 9],
    },
    Case {
        name: "broken",
        pattern: "PPPPFFF",
        items: "",
        state: State::Broken,
        reason: "latest 3 results all fail",
        flip_rate: Some(0.0),
        passes_since: 0,
        evidence: &[5, 6, 7],
    },
    Case {
        name: "two fails are not broken",
        pattern: "PPPPPFF",
        items: "",
        state: State::Healthy,
        reason: "no flaky",
        flip_rate: Some(1.0 / 6.0),
        passes_since: 0,
        evidence: &[],
    },
    Case {
        name: "broken beats flaky",
        pattern: "PFPFPFFF",
        items: "",
        state: State::Broken,
        reason: "before that, flaky: flip rate 0.57",
        flip_rate: Some(4.0 / 7.0),
        passes_since: 0,
        evidence: &[6, 7, 8],
    },
    Case {
        name: "not broken when a failing item passed",
        pattern: "PFFF",
        items: "x..x",
        state: State::Flaky,
        reason: "item \"x\"",
        flip_rate: Some(0.0),
        passes_since: 0,
        evidence: &[1, 4],
    },
    Case {
        name: "clears after 5 passes",
        pattern: "PFPFPFPPPPPP",
        items: "",
        state: State::Healthy,
        reason: "recovered, 5 consecutive passes",
        flip_rate: Some(6.0 / 11.0),
        passes_since: 5,
        evidence: &[1, 2, 3, 4, 5, 6, 7],
    },
    Case {
        name: "not cleared after 4",
        pattern: "PFPFPFPPPPP",
        items: "",
        state: State::Flaky,
        reason: "4 consecutive passes since, 5 clear it",
        flip_rate: Some(0.6),
        passes_since: 4,
        evidence: &[1, 2, 3, 4, 5, 6, 7],
    },
    Case {
        name: "retry clears after 5",
        pattern: "FPPPPPP",
        items: "aa",
        state: State::Healthy,
        reason: "recovered",
        flip_rate: Some(1.0 / 6.0),
        passes_since: 5,
        evidence: &[1, 2],
    },
    Case {
        name: "ignored outcomes are not runs",
        pattern: "PQFQPQFQPQ",
        items: "",
        state: State::Flaky,
        reason: "4 flips over 5 runs",
        flip_rate: Some(1.0),
        passes_since: 0,
        evidence: &[1, 3, 5, 7, 9],
    },
    Case {
        name: "ignored outcomes do not break a streak",
        pattern: "PFQQFQF",
        items: "",
        state: State::Broken,
        reason: "latest 3",
        flip_rate: Some(0.0),
        passes_since: 0,
        evidence: &[2, 5, 7],
    },
];

#[test]
fn classification_table() {
    let p = FlakyParams::default();
    for c in CASES {
        let got = classify(&key("t"), &runs(c.pattern, c.items), &p);
        assert_eq!(got.state, c.state, "{}: {}", c.name, got.reason);
        assert!(got.reason.contains(c.reason), "{}: reason {:?} lacks {:?}", c.name, got.reason, c.reason);
        match (got.flip_rate, c.flip_rate) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{}: flip rate {a} ≠ {b}", c.name),
            (a, b) => assert_eq!(a, b, "{}", c.name),
        }
        assert_eq!(got.passes_since_evidence, c.passes_since, "{}", c.name);
        let ids: Vec<i64> = got.evidence.iter().map(|e| e.id).collect();
        assert_eq!(ids, c.evidence, "{}", c.name);
        let counted = c.pattern.chars().filter(|&ch| ch != 'Q').count();
        assert_eq!((got.runs, got.fails), (counted, c.pattern.matches('F').count()), "{}", c.name);
    }
}

#[test]
fn evidence_names_the_results() {
    let mut rs = runs("PPFP", "..cc");
    rs[2].outcome = "CRASHED".into();
    let got =
        classify(&Key { testcase: "t".into(), scenario: "s".into(), arch: "a".into() }, &rs, &FlakyParams::default());
    assert_eq!((got.testcase.as_str(), got.scenario.as_str(), got.arch.as_str()), ("t", "s", "a"));
    assert_eq!(
        got.evidence,
        vec![
            Evidence { id: 3, uuid: "u3".into(), item: "c".into(), outcome: "CRASHED".into(), submit_time: at(3) },
            Evidence { id: 4, uuid: "u4".into(), item: "c".into(), outcome: "PASSED".into(), submit_time: at(4) },
        ]
    );
    let json = serde_json::to_value(&got).unwrap();
    assert_eq!(json["state"], "flaky");
    assert_eq!(json["evidence"][0]["submit_time"], at(3).to_iso());
}

#[test]
fn evidence_is_capped_to_the_newest_ten() {
    let got = classify(&key("t"), &runs(&"PF".repeat(20), ""), &FlakyParams::default());
    let ids: Vec<i64> = got.evidence.iter().map(|e| e.id).collect();
    assert_eq!(ids, (31..=40).collect::<Vec<_>>());
}

#[test]
fn thresholds_are_parameters() {
    let p = FlakyParams { min_runs: 2, flip_rate: 0.5, breakage_run: 2, clear_after: 1 };
    assert_eq!(classify(&key("t"), &runs("PF", ""), &p).state, State::Flaky);
    assert_eq!(classify(&key("t"), &runs("PFF", ""), &p).state, State::Broken);
    assert_eq!(classify(&key("t"), &runs("PFPP", ""), &p).state, State::Healthy, "cleared after 1");
    // breakage_run 0 is taken as 1: a single trailing fail is broken, not a flip.
    let zero = FlakyParams { breakage_run: 0, ..FlakyParams::default() };
    assert_eq!(classify(&key("t"), &runs("PPPPPF", ""), &zero).state, State::Broken);
}

#[test]
fn input_order_does_not_matter() {
    let rs = runs("PFPFPPFFFPQ", "a...a");
    let mut rev = rs.clone();
    rev.reverse();
    let p = FlakyParams::default();
    assert_eq!(classify(&key("t"), &rs, &p), classify(&key("t"), &rev, &p));
}
