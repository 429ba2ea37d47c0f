//! Flaky / broken / healthy for one key over a window of its results.
//!
//! Rules, over the counted results (pass or fail) of the window, oldest first:
//! - **flaky (a), same code**: some item has both a pass and a fail (a pass on retry).
//!   Results without an item (empty `data.item`) never count as the same code: an unknown
//!   item would otherwise pair every result of a key with every other.
//! - **flaky (b), flip rate**: counted flips ÷ (runs − 1) ≥ `flip_rate`, with at least
//!   `min_runs` runs and at least one counted flip. A flip into or out of a run of
//!   ≥ `breakage_run` consecutive fails is breakage, not flakiness (TestGrid's rule), and is
//!   left out of the numerator only: the denominator stays runs − 1, so every consecutive
//!   pair still counts as an opportunity to flip and breakage can only lower the rate.
//! - **broken**: the latest `breakage_run` or more results all fail and none of the items
//!   of the latest `breakage_run` of them has a pass in the window (otherwise (a) holds).
//! - **clearing**: a flaky key recovers (healthy, reason says so) once `clear_after`
//!   consecutive passes follow its latest evidence result (so a retry `F P` needs five
//!   more passes after the `P`: the evidence itself is not part of the recovery);
//!   `passes_since_evidence` is reported either way. Evidence is kept on a recovered key.
//!
//! Evidence: for (a) the latest pass and latest fail of the item that most recently had
//! both (one item only); for (b) both results of each counted flip; for broken the
//! trailing fails. Deduplicated, oldest first, at most the newest ten.
//!
//! Precedence: broken first (a key failing every time now is broken, whatever it did
//! before; the reason notes when it was flaky too), then flaky unless cleared, then healthy.
//! `breakage_run` 0 is taken as 1.

use super::{Class, Key, Run, counted, iso};
use crate::model::Timestamp;
use serde::Serialize;

/// Most evidence rows one classification lists (the newest are kept).
const MAX_EVIDENCE: usize = 10;

/// Thresholds of the rules (see the module doc); answers echo them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlakyParams {
    /// Fewest counted runs for the flip-rate rule.
    pub min_runs: usize,
    /// Flip rate at or above which a key is flaky.
    pub flip_rate: f64,
    /// Consecutive fails that make breakage rather than flakiness.
    pub breakage_run: usize,
    /// Consecutive passes after the latest evidence that clear a flaky key.
    pub clear_after: usize,
}

impl Default for FlakyParams {
    fn default() -> Self {
        FlakyParams { min_runs: 5, flip_rate: 0.2, breakage_run: 3, clear_after: 5 }
    }
}

/// A key's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Flaky,
    Broken,
    Healthy,
}

/// One result a classification rests on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub id: i64,
    pub uuid: String,
    pub item: String,
    pub outcome: String,
    #[serde(serialize_with = "iso")]
    pub submit_time: Timestamp,
}

impl Evidence {
    fn of(run: &Run) -> Evidence {
        Evidence {
            id: run.id,
            uuid: run.uuid.clone(),
            item: run.item.to_string(),
            outcome: run.outcome.to_string(),
            submit_time: run.submit_time,
        }
    }
}

/// The answer for one key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    pub testcase: String,
    pub scenario: String,
    pub arch: String,
    pub state: State,
    /// Which rule fired, in words, with the numbers.
    pub reason: String,
    /// Counted results in the window.
    pub runs: usize,
    pub fails: usize,
    /// Counted flips ÷ (runs − 1); None under two runs.
    pub flip_rate: Option<f64>,
    /// Consecutive passes (the newest) after the latest flaky evidence result (0 when
    /// there is none, or the key is broken).
    pub passes_since_evidence: usize,
    /// Oldest first, at most the newest ten.
    pub evidence: Vec<Evidence>,
}

/// Classifies one key from its results in the window. The caller passes them oldest
/// first, but they are sorted by (submit_time, id) here, so the answer depends only on
/// the set of results. Ignored outcomes are dropped.
pub fn classify(key: &Key, runs: &[Run], p: &FlakyParams) -> Classification {
    let seq = counted(runs);
    let breakage = p.breakage_run.max(1);
    let flips = counted_flips(&seq, breakage);
    let flip_rate = (seq.len() >= 2).then(|| flips.len() as f64 / (seq.len() - 1) as f64);
    let mut out = Classification {
        testcase: key.testcase.clone(),
        scenario: key.scenario.clone(),
        arch: key.arch.clone(),
        state: State::Healthy,
        reason: String::new(),
        runs: seq.len(),
        fails: seq.iter().filter(|r| r.class() == Class::Fail).count(),
        flip_rate,
        passes_since_evidence: 0,
        evidence: Vec::new(),
    };

    // Flaky evidence, as positions in `seq`, with a phrase per rule that fired.
    let mut found: Vec<usize> = Vec::new();
    let mut why: Vec<String> = Vec::new();
    if let Some((item, at)) = same_item(&seq) {
        why.push(format!("item {item:?} both passed and failed (same code)"));
        found.extend(at);
    }
    let rate = flip_rate.unwrap_or(0.0);
    if seq.len() >= p.min_runs && !flips.is_empty() && rate >= p.flip_rate {
        why.push(format!(
            "flip rate {rate:.2} ({} flips over {} runs, breakage excluded) ≥ {:.2}",
            flips.len(),
            seq.len(),
            p.flip_rate
        ));
        // Both results of each flip: the fail side is what clearing counts from.
        found.extend(flips.iter().flat_map(|&i| [i - 1, i]));
    }

    if let Some(tail) = broken_tail(&seq, breakage) {
        let also = if why.is_empty() { String::new() } else { format!("; before that, flaky: {}", why.join("; ")) };
        out.state = State::Broken;
        out.reason = format!(
            "broken: the latest {tail} results all fail (≥ {breakage}) and none of their items passed in the window{also}"
        );
        out.evidence = evidence(&seq, (seq.len() - tail..seq.len()).collect());
        return out;
    }
    // Clearing counts the passes that follow the latest evidence (the rule): the
    // pass of a retry or of a flip is evidence of flakiness, not of recovery.
    let Some(latest) = found.iter().copied().max() else {
        out.reason = format!("healthy: no flaky or broken rule fired ({} runs, {} fails)", out.runs, out.fails);
        return out;
    };
    let trailing = seq.iter().rev().take_while(|r| r.class() == Class::Pass).count();
    out.passes_since_evidence = trailing.min(seq.len() - 1 - latest);
    out.evidence = evidence(&seq, found);
    if out.passes_since_evidence >= p.clear_after {
        out.reason = format!(
            "healthy: recovered, {} consecutive passes (≥ {}) since the latest flaky evidence ({})",
            out.passes_since_evidence,
            p.clear_after,
            why.join("; ")
        );
    } else {
        out.state = State::Flaky;
        out.reason = format!(
            "flaky: {}; {} consecutive passes since, {} clear it",
            why.join("; "),
            out.passes_since_evidence,
            p.clear_after
        );
    }
    out
}

/// Positions `i` where `seq[i - 1]` and `seq[i]` differ in class, except flips into or out
/// of a fail run of at least `breakage` results.
fn counted_flips(seq: &[&Run], breakage: usize) -> Vec<usize> {
    // Maximal runs of one class, as (start, len, class).
    let mut segments: Vec<(usize, usize, Class)> = Vec::new();
    for (i, r) in seq.iter().enumerate() {
        match segments.last_mut() {
            Some((_, len, class)) if *class == r.class() => *len += 1,
            _ => segments.push((i, 1, r.class())),
        }
    }
    let is_breakage = |&(_, len, class): &(usize, usize, Class)| class == Class::Fail && len >= breakage;
    segments.windows(2).filter(|w| !is_breakage(&w[0]) && !is_breakage(&w[1])).map(|w| w[1].0).collect()
}

/// Positions of an item's latest pass and latest fail.
type LatestPassFail = (Option<usize>, Option<usize>);

/// Rule (a): the item that most recently showed both a pass and a fail, with the positions
/// of its latest pass and latest fail (evidence for that one item only: the newest pair
/// says the most about the current code, and older items add length, not information).
fn same_item<'a>(seq: &[&'a Run]) -> Option<(&'a str, [usize; 2])> {
    // Hashed, not ordered: a window holds thousands of items (positions make the answer
    // independent of the map's order).
    let mut by_item: foldhash::HashMap<(&str, &str), LatestPassFail> = foldhash::HashMap::default();
    for (i, r) in seq.iter().enumerate().filter(|(_, r)| !r.item.is_empty()) {
        let slot = by_item.entry((&*r.item_type, &*r.item)).or_default();
        match r.class() {
            Class::Pass => slot.0 = Some(i),
            _ => slot.1 = Some(i),
        }
    }
    by_item
        .into_iter()
        .filter_map(|((_, item), slots)| match slots {
            (Some(pass), Some(fail)) => Some((item, [pass.min(fail), pass.max(fail)])),
            _ => None,
        })
        .max_by_key(|(_, at)| at[1])
}

/// Length of the trailing fail run when it makes the key broken: at least `breakage`
/// long, and none of the items of its latest `breakage` results passed in the window.
fn broken_tail(seq: &[&Run], breakage: usize) -> Option<usize> {
    let tail = seq.iter().rev().take_while(|r| r.class() == Class::Fail).count();
    if tail < breakage {
        return None;
    }
    let passed = |r: &Run| {
        !r.item.is_empty()
            && seq.iter().any(|o| o.class() == Class::Pass && o.item == r.item && o.item_type == r.item_type)
    };
    (!seq[seq.len() - breakage..].iter().any(|r| passed(r))).then_some(tail)
}

/// Evidence rows for positions in `seq`: deduplicated, oldest first, the newest few.
fn evidence(seq: &[&Run], mut at: Vec<usize>) -> Vec<Evidence> {
    at.sort_unstable();
    at.dedup();
    let skip = at.len().saturating_sub(MAX_EVIDENCE);
    at[skip..].iter().map(|&i| Evidence::of(seq[i])).collect()
}
