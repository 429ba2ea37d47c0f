//! Properties of `classify` and `summarize` over random run sequences: the answer depends
//! only on the set of results given (not their order, not what came after the cut), never
//! cites a result it was not given, and counts what it should.

use super::*;
use proptest::prelude::*;

const OUTCOMES: &[&str] = &["PASSED", "INFO", "FAILED", "ERROR", "CRASHED", "QUEUED", "RUNNING", "CUSTOM"];

/// Runs with unique ids and random outcome, item (few, so retries happen) and time (with
/// ties, so the id tie-break is exercised).
fn arb_runs() -> impl Strategy<Value = Vec<Run>> {
    proptest::collection::vec((0..OUTCOMES.len(), 0..4usize, 0..40i64), 0..40).prop_map(|rows| {
        rows.into_iter()
            .zip(1..)
            .map(|((o, item, t), id)| {
                let item = if item == 0 { String::new() } else { format!("i{item}") };
                Run { submit_time: at(t), ..run(id, &item, OUTCOMES[o]) }
            })
            .collect()
    })
}

fn params() -> impl Strategy<Value = FlakyParams> {
    (1..8usize, 0..=10u32, 0..5usize, 0..7usize).prop_map(|(min_runs, rate, breakage_run, clear_after)| FlakyParams {
        min_runs,
        flip_rate: f64::from(rate) / 10.0,
        breakage_run,
        clear_after,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn classify_depends_only_on_the_results_up_to_the_cut(
        all in arb_runs(), cut in 0..45i64, rotate in 0..40usize, p in params(),
    ) {
        let k = key("t");
        // What a store holds by time T, in arrival (id) order...
        let stored: Vec<Run> = all.iter().filter(|r| r.submit_time <= at(cut)).cloned().collect();
        // ...and the same results rebuilt in another order.
        let mut shuffled = stored.clone();
        shuffled.reverse();
        if !shuffled.is_empty() {
            let n = rotate % shuffled.len();
            shuffled.rotate_left(n);
        }
        let got = classify(&k, &stored, &p);
        prop_assert_eq!(&got, &classify(&k, &stored, &p), "deterministic");
        prop_assert_eq!(&got, &classify(&k, &shuffled, &p), "order-independent");

        let ids: std::collections::BTreeSet<i64> = stored.iter().map(|r| r.id).collect();
        prop_assert!(got.evidence.iter().all(|e| ids.contains(&e.id)), "evidence from the input only");
        prop_assert!(got.evidence.windows(2).all(|w| (w[0].submit_time, w[0].id) < (w[1].submit_time, w[1].id)));
        prop_assert!(got.flip_rate.is_none_or(|f| (0.0..=1.0).contains(&f)), "flip rate {:?}", got.flip_rate);
        let counted = stored.iter().filter(|r| r.class() != Class::Ignored).count();
        prop_assert_eq!(got.runs, counted);
        prop_assert_eq!(got.fails, stored.iter().filter(|r| r.class() == Class::Fail).count());
        prop_assert!(got.state != State::Broken || got.passes_since_evidence == 0);
        prop_assert!(got.state != State::Flaky || got.passes_since_evidence < p.clear_after);
        prop_assert!(got.state == State::Healthy || !got.evidence.is_empty(), "a verdict cites evidence");

        let h = summarize(&stored);
        prop_assert_eq!(&h, &summarize(&shuffled));
        prop_assert_eq!((h.runs, h.fails), (got.runs, got.fails));
        prop_assert!(h.transitions <= h.runs.saturating_sub(1));
        if let Some(s) = &h.current_streak {
            prop_assert!(s.length >= 1 && s.length <= h.runs);
        }
    }
}

/// Text fragments that reach every masking rule when strung together.
const PIECES: &[&str] = &[
    "12",
    "3.5",
    "s",
    "ms",
    " ",
    "  ",
    "\n",
    "-",
    ":",
    "/",
    "./",
    "~/",
    "..",
    ".",
    ",",
    "x",
    "abc",
    "0x",
    "ff",
    "é",
    "T",
    "Z",
    "+",
    "2024-01-02",
    "03:04:05",
    "123e4567-e89b-12d3-a456-426614174000",
    "(",
    "=",
    "_",
    "min",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Masking never panics, and changing digits (1-9 among themselves; a 0 may start
    /// `0x`) never changes the masked text: numbers are noise wherever they stand.
    #[test]
    fn masking_ignores_the_digits(idx in proptest::collection::vec(0..PIECES.len(), 0..24), junk in ".{0,12}", shift in 1..9u32) {
        let mut text: String = idx.iter().map(|i| PIECES[*i]).collect();
        text.push_str(&junk);
        let renumbered: String = text
            .chars()
            .map(|c| match c.to_digit(10) {
                Some(d) if c.is_ascii_digit() && d != 0 => char::from_digit((d - 1 + shift) % 9 + 1, 10).unwrap_or(c),
                _ => c,
            })
            .collect();
        prop_assert_eq!(mask(&text), mask(&renumbered), "{:?} vs {:?}", text, renumbered);
        prop_assert!(!mask(&text).starts_with(' ') && !mask(&text).ends_with(' '));
    }
}
