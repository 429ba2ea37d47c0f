//! The attempts of one check run (`verdict run`), pure: which testcases run again —
//! failures up to `retries` more times, testcases the store has never seen for this key
//! `burn_in` times in all (early flake detection) — and what the run comes to: its
//! execution status and exit code. The caller runs the command, parses what it wrote and
//! asks the store which testcases are new; nothing here does I/O.
//!
//! The rule, per testcase with `k` results so far in this run: it is run again while
//! `k < base`, or while its newest result failed and `k < base + retries`, where `base`
//! is `burn_in` (at least 1) for a new testcase and 1 otherwise. A run takes at most
//! `max(burn_in, 1) + retries` attempts of the whole command.
//!
//! An attempt that wrote nothing parseable is judged by its exit status, as one result of
//! the run's own testcase (the "whole" testcase). Once any attempt has written results of
//! their own, those are the run's testcases and the whole testcase's results (kept as
//! evidence of a crash, say) no longer decide anything.

use super::{Class, class_of};
use std::collections::{BTreeMap, BTreeSet};

/// How often testcases run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunPolicy {
    /// Extra attempts a failing testcase gets.
    pub retries: u32,
    /// Runs in all for a testcase the store has no result of for this key (0 or 1: off).
    pub burn_in: u32,
}

impl RunPolicy {
    /// Most attempts of the whole command a run may take.
    pub fn max_attempts(&self) -> u32 {
        self.burn_in.max(1).saturating_add(self.retries)
    }

    /// Runs a testcase gets whatever its outcomes.
    fn base(&self, new: bool) -> usize {
        if new { self.burn_in.max(1) as usize } else { 1 }
    }
}

/// What the run has seen so far.
#[derive(Debug, Clone, Default)]
pub struct Attempts {
    /// The run's own testcase, for attempts that wrote nothing parseable.
    whole: String,
    /// Testcase → outcomes of its results in this run, oldest first.
    outcomes: BTreeMap<String, Vec<String>>,
    /// Testcases the store had no result of (for this key) before the run.
    new: BTreeSet<String>,
}

impl Attempts {
    /// A run whose attempts without results of their own count as testcase `whole`.
    pub fn new(whole: &str) -> Attempts {
        Attempts { whole: whole.to_owned(), ..Attempts::default() }
    }

    /// Marks testcases as never seen by the store before this run.
    pub fn mark_new<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        self.new.extend(names.into_iter().map(str::to_owned));
    }

    /// Whether a result of `testcase` from the coming attempt is kept: the testcase still
    /// needs runs (or has none yet). Results of a testcase the run no longer wants come
    /// from a command that reran everything; they are not stored.
    pub fn wants(&self, testcase: &str, policy: &RunPolicy) -> bool {
        let Some(outcomes) = self.outcomes.get(testcase) else { return true };
        let k = outcomes.len();
        let base = policy.base(self.new.contains(testcase));
        let failed = outcomes.last().is_some_and(|o| class_of(o) == Class::Fail);
        k < base || (failed && k < base.saturating_add(policy.retries as usize))
    }

    /// Records one kept result.
    pub fn record(&mut self, testcase: &str, outcome: &str) {
        self.outcomes.entry(testcase.to_owned()).or_default().push(outcome.to_owned());
    }

    /// The testcases that decide: those the check reported itself, else the whole one.
    fn deciding(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        let own = self.outcomes.keys().any(|t| *t != self.whole);
        self.outcomes.iter().filter(move |(t, _)| !own || **t != self.whole)
    }

    /// The testcases to run again, by name (empty: the run is done).
    pub fn wanted(&self, policy: &RunPolicy) -> Vec<String> {
        self.deciding().filter(|(t, _)| self.wants(t, policy)).map(|(t, _)| t.clone()).collect()
    }

    /// Each deciding testcase with its newest outcome.
    pub fn finals(&self) -> Vec<(String, String)> {
        self.deciding().filter_map(|(t, o)| Some((t.clone(), o.last()?.clone()))).collect()
    }

    /// Testcases with results in the run.
    pub fn testcases(&self) -> usize {
        self.outcomes.len()
    }
}

/// What a run comes to, as the exit code says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunVerdict {
    /// Every testcase's newest result passed (or its failure is quarantined): exit 0.
    Passed,
    /// A testcase's newest result failed: exit 1.
    Failed,
    /// The last attempt did not execute properly (it crashed, timed out, could not start,
    /// or wrote results that do not parse): exit 2.
    ExecutionFailed,
}

impl RunVerdict {
    /// From the last attempt's execution and each deciding testcase's newest outcome with
    /// whether a standing quarantine covers it.
    pub fn of(last_execution_ok: bool, finals: &[(String, String, bool)]) -> RunVerdict {
        if !last_execution_ok {
            return RunVerdict::ExecutionFailed;
        }
        let failed = finals.iter().any(|(_, outcome, quarantined)| class_of(outcome) == Class::Fail && !quarantined);
        if failed { RunVerdict::Failed } else { RunVerdict::Passed }
    }

    pub fn exit_code(self) -> i32 {
        match self {
            RunVerdict::Passed => 0,
            RunVerdict::Failed => 1,
            RunVerdict::ExecutionFailed => 2,
        }
    }

    /// The execution record's status (as the Taskotron runner: OK or NOT_OK).
    pub fn execution_status(self) -> &'static str {
        if self == RunVerdict::ExecutionFailed { "NOT_OK" } else { "OK" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a scripted check: `script[n]` is attempt n+1's results (testcase, outcome), as
    /// the command would report them; returns what was kept per attempt.
    fn check(policy: RunPolicy, new: &[&str], script: &[&[(&str, &str)]]) -> (Vec<Vec<String>>, Vec<(String, String)>) {
        let mut a = Attempts::new("whole");
        let mut kept = Vec::new();
        for (n, results) in script.iter().enumerate() {
            if n > 0 && (a.wanted(&policy).is_empty() || n as u32 >= policy.max_attempts()) {
                break;
            }
            let keep: Vec<(&str, &str)> = results.iter().copied().filter(|(t, _)| a.wants(t, &policy)).collect();
            if n == 0 {
                a.mark_new(new.iter().copied().filter(|t| keep.iter().any(|(k, _)| k == t)));
            }
            for (t, o) in &keep {
                a.record(t, o);
            }
            kept.push(keep.iter().map(|(t, o)| format!("{t}={o}")).collect());
        }
        (kept, a.finals())
    }

    fn p(retries: u32, burn_in: u32) -> RunPolicy {
        RunPolicy { retries, burn_in }
    }

    #[test]
    fn retries_burn_in_and_what_is_kept() {
        const PASS: &str = "PASSED";
        const FAIL: &str = "FAILED";
        let all_pass: &[(&str, &str)] = &[("a", PASS), ("b", PASS)];
        let a_fails: &[(&str, &str)] = &[("a", FAIL), ("b", PASS)];
        /// (policy, new testcases, attempts as the command reports them, kept per attempt, finals)
        type Row<'a> = (RunPolicy, Vec<&'a str>, Vec<&'a [(&'a str, &'a str)]>, Vec<&'a str>, Vec<(&'a str, &'a str)>);
        let table: Vec<Row> = vec![
            // Passing, nothing new: one attempt.
            (p(2, 0), vec![], vec![all_pass, all_pass], vec!["a=PASSED b=PASSED"], vec![("a", PASS), ("b", PASS)]),
            // A flake: fail then pass; the rerun of everything keeps only a's new result.
            (
                p(2, 0),
                vec![],
                vec![a_fails, all_pass],
                vec!["a=FAILED b=PASSED", "a=PASSED"],
                vec![("a", PASS), ("b", PASS)],
            ),
            // Broken: retried twice, then given up on.
            (
                p(2, 0),
                vec![],
                vec![a_fails, a_fails, a_fails, a_fails],
                vec!["a=FAILED b=PASSED", "a=FAILED", "a=FAILED"],
                vec![("a", FAIL), ("b", PASS)],
            ),
            // No retries: the failure stands.
            (p(0, 0), vec![], vec![a_fails, all_pass], vec!["a=FAILED b=PASSED"], vec![("a", FAIL), ("b", PASS)]),
            // Burn-in: b is new and runs 3 times in all, a once.
            (
                p(0, 3),
                vec!["b"],
                vec![all_pass, all_pass, all_pass, all_pass],
                vec!["a=PASSED b=PASSED", "b=PASSED", "b=PASSED"],
                vec![("a", PASS), ("b", PASS)],
            ),
            // Burn-in catches a flake of a new testcase; its last run decides.
            (
                p(0, 3),
                vec!["a"],
                vec![all_pass, a_fails, all_pass],
                vec!["a=PASSED b=PASSED", "a=FAILED", "a=PASSED"],
                vec![("a", PASS), ("b", PASS)],
            ),
            // Burn-in then a retry of the failure on the last burn-in run.
            (
                p(1, 2),
                vec!["a"],
                vec![all_pass, a_fails, all_pass],
                vec!["a=PASSED b=PASSED", "a=FAILED", "a=PASSED"],
                vec![("a", PASS), ("b", PASS)],
            ),
            // A crash first (the whole testcase), then results of its own: those decide.
            (
                p(1, 0),
                vec![],
                vec![&[("whole", "ERROR")], all_pass],
                vec!["whole=ERROR", "a=PASSED b=PASSED"],
                vec![("a", PASS), ("b", PASS)],
            ),
            // Nothing parseable ever: the exit status decides, retried like any testcase.
            (
                p(1, 0),
                vec![],
                vec![&[("whole", FAIL)], &[("whole", PASS)]],
                vec!["whole=FAILED", "whole=PASSED"],
                vec![("whole", PASS)],
            ),
        ];
        for (i, (policy, new, script, kept, finals)) in table.into_iter().enumerate() {
            let (got_kept, got_finals) = check(policy, &new, &script);
            let got_kept: Vec<String> = got_kept.iter().map(|k| k.join(" ")).collect();
            assert_eq!(got_kept, kept, "row {i}: kept");
            let finals: Vec<(String, String)> = finals.iter().map(|(t, o)| (t.to_string(), o.to_string())).collect();
            assert_eq!(got_finals, finals, "row {i}: finals");
        }
    }

    #[test]
    fn verdicts() {
        let f = |t: &str, o: &str, q: bool| (t.to_owned(), o.to_owned(), q);
        let table = [
            (true, vec![f("a", "PASSED", false), f("b", "INFO", false)], RunVerdict::Passed, 0, "OK"),
            (true, vec![f("a", "PASSED", false), f("b", "FAILED", false)], RunVerdict::Failed, 1, "OK"),
            (true, vec![f("a", "PASSED", false), f("b", "FAILED", true)], RunVerdict::Passed, 0, "OK"),
            (true, vec![f("a", "ERROR", false)], RunVerdict::Failed, 1, "OK"),
            (true, vec![f("a", "QUEUED", false)], RunVerdict::Passed, 0, "OK"),
            (false, vec![f("a", "PASSED", false)], RunVerdict::ExecutionFailed, 2, "NOT_OK"),
            (false, vec![], RunVerdict::ExecutionFailed, 2, "NOT_OK"),
        ];
        for (i, (ok, finals, verdict, code, status)) in table.into_iter().enumerate() {
            let v = RunVerdict::of(ok, &finals);
            assert_eq!((v, v.exit_code(), v.execution_status()), (verdict, code, status), "row {i}");
        }
    }

    #[test]
    fn attempts_are_bounded() {
        assert_eq!(p(0, 0).max_attempts(), 1);
        assert_eq!(p(2, 0).max_attempts(), 3);
        assert_eq!(p(2, 5).max_attempts(), 7);
        assert_eq!(p(u32::MAX, 2).max_attempts(), u32::MAX);
    }
}
