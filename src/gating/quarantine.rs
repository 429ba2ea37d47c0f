//! Quarantines in decisions, pure: which standing rules cover an unsatisfied requirement,
//! and when a rule has released a key. The caller fetches the rules standing at the
//! decision's instant and, for each failing result a rule could cover, whether that rule is
//! released for the result's key; nothing here reads the store or the clock.
//!
//! Rules are indexed by testcase glob so a requirement is checked against the few rules
//! that can match it: literal globs by name, the others by the literal text they start with
//! (looked up for every prefix of the testcase name) — a decision with 1,000 rules loaded
//! does a few dozen hash lookups per unsatisfied requirement instead of 1,000 matches.

use super::fnmatch::Glob;
use super::subject::Subject;
use crate::model::{Quarantine, Timestamp};
use std::collections::{HashMap, HashSet};

struct Compiled {
    q: Quarantine,
    testcase: Glob,
    product_version: Option<Glob>,
}

/// The rules a decision may apply, indexed by testcase glob.
#[derive(Default)]
pub struct QuarantineRules {
    rules: Vec<Compiled>,
    /// Literal testcase globs: name → rule indexes.
    exact: HashMap<String, Vec<usize>>,
    /// Other globs: literal prefix → rule indexes.
    by_prefix: HashMap<String, Vec<usize>>,
}

impl std::fmt::Debug for QuarantineRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QuarantineRules({} rules)", self.rules.len())
    }
}

impl QuarantineRules {
    pub fn new(rules: Vec<Quarantine>) -> QuarantineRules {
        let mut out = QuarantineRules::default();
        for (i, q) in rules.into_iter().enumerate() {
            let testcase = Glob::new(&q.rule.testcase);
            let slot = if testcase.is_literal() { &mut out.exact } else { &mut out.by_prefix };
            slot.entry(testcase.prefix().to_owned()).or_default().push(i);
            let product_version = q.rule.product_version.as_deref().map(Glob::new);
            out.rules.push(Compiled { q, testcase, product_version });
        }
        out
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules whose testcase glob matches `testcase` and that stand at `at`, oldest first.
    pub fn for_testcase(&self, testcase: &str, at: Timestamp) -> Vec<&Quarantine> {
        self.matching(testcase, at).into_iter().map(|c| &c.q).collect()
    }

    fn matching(&self, testcase: &str, at: Timestamp) -> Vec<&Compiled> {
        if self.rules.is_empty() {
            return Vec::new();
        }
        let mut hits: Vec<usize> = self.exact.get(testcase).cloned().unwrap_or_default();
        let ends = testcase.char_indices().map(|(i, _)| i).chain([testcase.len()]);
        for end in ends {
            if let Some(ids) = testcase.get(..end).and_then(|p| self.by_prefix.get(p)) {
                hits.extend(ids.iter().copied().filter(|&i| self.rules[i].testcase.matches(testcase)));
            }
        }
        hits.sort_unstable();
        hits.dedup();
        hits.into_iter().filter_map(|i| self.rules.get(i)).filter(|c| c.q.active_at(at)).collect()
    }
}

/// (rule id, result id) pairs whose key the rule has released: the result's failure is not
/// covered any more.
pub type Released = HashSet<(String, i64)>;

/// What a decision knows about quarantines: the rules standing at its instant, and where
/// they have been released.
#[derive(Debug, Clone, Copy)]
pub struct QuarantineData<'a> {
    pub rules: &'a QuarantineRules,
    pub released: &'a Released,
}

impl QuarantineData<'_> {
    /// The first standing rule that covers a requirement of `testcase` (with `scenario`) of
    /// `subject` under `product_version`, skipping rules released for `result` (if any).
    pub(super) fn covering(
        &self,
        testcase: &str,
        scenario: Option<&str>,
        subject: &Subject,
        product_version: &str,
        at: Timestamp,
        result: Option<i64>,
    ) -> Option<&Quarantine> {
        let c = self.rules.matching(testcase, at).into_iter().find(|c| {
            let r = &c.q.rule;
            r.scenario.as_deref().is_none_or(|s| Some(s) == scenario)
                && r.subject_type.as_deref().is_none_or(|t| subject.subject_type.matches(t))
                && c.product_version.as_ref().is_none_or(|g| g.matches(product_version))
                && result.is_none_or(|id| !self.released.contains(&(r.uuid.clone(), id)))
        })?;
        Some(&c.q)
    }
}

/// Whether a key's runs after a rule's creation (oldest first, `true` = a fail) hold `n`
/// consecutive passes: then the rule has released the key, for good.
pub fn released_by(runs_failed: impl IntoIterator<Item = bool>, n: u32) -> bool {
    let mut streak = 0;
    for failed in runs_failed {
        streak = if failed { 0 } else { streak + 1 };
        if streak >= n {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::QuarantineRecord;

    fn rule(uuid: &str, testcase: &str) -> Quarantine {
        Quarantine {
            rule: QuarantineRecord {
                created_at: 0,
                expires_at: Some(100),
                owner: "o".into(),
                product_version: None,
                proxied_by: None,
                reason: "r".into(),
                release_after_passes: 3,
                revoked: false,
                revoked_by: None,
                scenario: None,
                subject_type: None,
                testcase: testcase.into(),
                timestamp: 0,
                uuid: uuid.into(),
            },
            revoked: None,
        }
    }

    #[test]
    fn globs_find_their_testcases() {
        let rules = QuarantineRules::new(vec![
            rule("a", "dist.rpmlint"),
            rule("b", "dist.*"),
            rule("c", "*"),
            rule("d", "dist.rpm?int"),
            rule("e", "other.[ab]"),
        ]);
        let table: [(&str, i64, &[&str]); 5] = [
            ("dist.rpmlint", 1, &["a", "b", "c", "d"]),
            ("dist.abicheck", 1, &["b", "c"]),
            ("other.a", 1, &["c", "e"]),
            ("other.c", 1, &["c"]),
            ("dist.rpmlint", 100, &[]), // expired
        ];
        for (testcase, at, want) in table {
            let got: Vec<&str> = rules.for_testcase(testcase, Timestamp(at)).iter().map(|q| q.id()).collect();
            assert_eq!(got, want, "{testcase} at {at}");
        }
    }

    #[test]
    fn passes_in_a_row_release() {
        let table: [(&[bool], u32, bool); 6] = [
            (&[], 1, false),
            (&[false], 1, true),
            (&[false, false, true, false], 3, false),
            (&[true, false, false, false], 3, true),
            (&[false, false, false, true], 3, true), // released for good before the fail
            (&[false, true, false, true, false], 2, false),
        ];
        for (runs, n, want) in table {
            assert_eq!(released_by(runs.iter().copied(), n), want, "{runs:?} n={n}");
        }
    }
}
