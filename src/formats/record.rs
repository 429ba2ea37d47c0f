//! Shared result-building rules: outcome checks, note reduction, limits, data values, and
//! the `Sink` every parser emits through (limits, aggregation, warnings, counting).

use super::error::{ErrorKind, FormatError};
use super::options::{Aggregate, Limits, ParseOptions};
use crate::model::pystr::py_str;
use crate::model::{Outcomes, ResultInput, TestcaseRecord};
use serde_json::Value;
use std::collections::BTreeMap;

/// Results data: key → values (a key may repeat, as in ResultsDB).
pub type Data = BTreeMap<String, Vec<String>>;

/// What a parse produced besides the emitted results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseSummary {
    /// Results handed to the callback.
    pub results: usize,
    /// Non-fatal oddities (unknown TAP lines, extra test points), at most `Limits::max_warnings`.
    pub warnings: Vec<String>,
    /// Warnings beyond the kept ones.
    pub warnings_dropped: usize,
}

/// Upper-cases and trims `raw` and checks it against the allowed set; the error text
/// names the offending value.
pub fn check_outcome(raw: &str, outcomes: &Outcomes) -> Result<String, String> {
    let o = raw.trim().to_uppercase();
    if o.is_empty() {
        return Err("outcome is empty".to_owned());
    }
    if outcomes.contains(&o) {
        Ok(o)
    } else {
        Err(format!("outcome {o:?} not in allowed outcomes ({})", outcomes.as_slice().join(", ")))
    }
}

/// The outcome for a mapped "error": ERROR when allowed, else FAILED with the fact kept in
/// the note (spec §0).
pub fn error_outcome(outcomes: &Outcomes, note: Option<String>) -> (String, Option<String>) {
    if outcomes.contains("ERROR") {
        return ("ERROR".to_owned(), note);
    }
    let note = match note {
        Some(n) => format!("error: {n}"),
        None => "error".to_owned(),
    };
    ("FAILED".to_owned(), Some(note))
}

/// The first line that is not blank, trimmed; `None` when there is none.
pub fn first_line(text: &str) -> Option<String> {
    text.split(['\n', '\r']).map(str::trim).find(|l| !l.is_empty()).map(str::to_owned)
}

/// Cuts `s` to at most `max` chars, the last being `…`, at a char boundary.
pub fn truncate_chars(s: &mut String, max: usize) {
    if max == 0 {
        s.clear();
        return;
    }
    if let Some((cut, _)) = s.char_indices().nth(max) {
        // Keep max-1 chars and the ellipsis so the total stays within `max`.
        let keep = s.char_indices().nth(max - 1).map_or(cut, |(i, _)| i);
        s.truncate(keep);
        s.push('…');
    }
}

/// ResultsDB stores keys with `:` nowhere (400); derived keys get `_` instead.
pub fn data_key(key: &str) -> String {
    key.replace(':', "_")
}

/// A JSON value as data values: a list gives one value per element, an object (also
/// inside a list) compact JSON, any other scalar its Python `str()`.
pub fn json_data_values(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().map(json_scalar).collect(),
        other => vec![json_scalar(other)],
    }
}

fn json_scalar(v: &Value) -> String {
    match v {
        Value::Object(_) | Value::Array(_) => v.to_string(),
        other => py_str(other),
    }
}

/// A plain result with no data yet.
pub fn result(name: String, outcome: String, note: Option<String>) -> ResultInput {
    ResultInput {
        uuid: None,
        testcase: TestcaseRecord { name, ref_url: None },
        outcome,
        note,
        ref_url: None,
        groups: Vec::new(),
        data: BTreeMap::new(),
        submit_time: None,
    }
}

/// Applies the note and data-value limits in place; an empty note becomes null.
pub fn apply_limits(r: &mut ResultInput, limits: &Limits) {
    if r.note.as_deref().is_some_and(str::is_empty) {
        r.note = None;
    }
    if let Some(n) = r.note.as_mut() {
        truncate_chars(n, limits.note_chars);
    }
    for values in r.data.values_mut() {
        for v in values.iter_mut() {
            truncate_chars(v, limits.data_value_chars);
        }
    }
}

/// Counts of each outcome for `aggregate: allpass`, plus the item/type all records share.
#[derive(Default)]
struct Tally {
    counts: Vec<(String, usize)>,
    item: Option<Option<Vec<String>>>,
    kind: Option<Option<Vec<String>>>,
}

impl Tally {
    fn add(&mut self, r: &ResultInput) {
        match self.counts.iter_mut().find(|(o, _)| *o == r.outcome) {
            Some((_, n)) => *n += 1,
            None => self.counts.push((r.outcome.clone(), 1)),
        }
        agree(&mut self.item, r.data.get("item"));
        agree(&mut self.kind, r.data.get("type"));
    }
}

/// Keeps a value only while every record carries the same one.
fn agree(slot: &mut Option<Option<Vec<String>>>, v: Option<&Vec<String>>) {
    match slot {
        None => *slot = Some(v.cloned()),
        Some(Some(prev)) if Some(&*prev) != v => *slot = Some(None),
        _ => {}
    }
}

/// Where parsers put results: applies limits, aggregates when asked, counts, collects
/// warnings. Errors from the callback pass through untouched.
pub struct Sink<'a, F> {
    opts: &'a ParseOptions,
    emit: F,
    tally: Option<Tally>,
    summary: ParseSummary,
}

impl<'a, F> Sink<'a, F> {
    /// Checks the options that concern every format (aggregation needs a name).
    pub fn new(opts: &'a ParseOptions, emit: F) -> Result<Self, FormatError> {
        let tally = match opts.aggregate {
            Aggregate::None => None,
            Aggregate::AllPass => {
                if opts.testcase.as_deref().is_none_or(|t| t.trim().is_empty()) {
                    return Err(FormatError::file(
                        ErrorKind::Options,
                        "aggregate \"allpass\" needs the sidecar `testcase` to name the result",
                    ));
                }
                Some(Tally::default())
            }
        };
        Ok(Sink { opts, emit, tally, summary: ParseSummary::default() })
    }

    pub fn opts(&self) -> &'a ParseOptions {
        self.opts
    }

    /// Prefix + name: every testcase name a parser derives goes through here.
    pub fn name(&self, base: &str) -> String {
        format!("{}{}", self.opts.testcase_prefix, base)
    }

    /// Records a non-fatal problem.
    pub fn warn(&mut self, message: String) {
        if self.summary.warnings.len() < self.opts.limits.max_warnings {
            self.summary.warnings.push(message);
        } else {
            self.summary.warnings_dropped += 1;
        }
    }

    /// Hands one finished result on (or tallies it when aggregating).
    pub fn push<E>(&mut self, mut r: ResultInput) -> Result<(), E>
    where
        F: FnMut(ResultInput) -> Result<(), E>,
    {
        apply_limits(&mut r, &self.opts.limits);
        self.summary.results += 1;
        match self.tally.as_mut() {
            Some(t) => {
                t.add(&r);
                Ok(())
            }
            None => (self.emit)(r),
        }
    }

    /// Emits the aggregated result, if any, and returns the summary.
    pub fn finish<E>(mut self) -> Result<ParseSummary, E>
    where
        F: FnMut(ResultInput) -> Result<(), E>,
    {
        if let Some(t) = self.tally.take() {
            let r = self.aggregated(t);
            (self.emit)(r)?;
            self.summary.results = 1;
        }
        Ok(self.summary)
    }

    fn aggregated(&self, t: Tally) -> ResultInput {
        const BAD: [&str; 5] = ["FAILED", "ERROR", "ABORTED", "CRASHED", "NEEDS_INSPECTION"];
        let total: usize = t.counts.iter().map(|(_, n)| n).sum();
        let failed = t.counts.iter().any(|(o, _)| BAD.contains(&o.as_str()));
        // No testcase at all is suspicious rather than green.
        let outcome = if total == 0 {
            "NEEDS_INSPECTION"
        } else if failed {
            "FAILED"
        } else {
            "PASSED"
        };
        let note = if total == 0 {
            "no results in file".to_owned()
        } else {
            let parts: Vec<String> = t.counts.iter().map(|(o, n)| format!("{n} {o}")).collect();
            parts.join(", ")
        };
        let name = self.name(self.opts.testcase.as_deref().unwrap_or_default().trim());
        let mut r = result(name, outcome.to_owned(), Some(note));
        if let Some(Some(item)) = t.item {
            r.data.insert("item".to_owned(), item);
        }
        if let Some(Some(kind)) = t.kind {
            r.data.insert("type".to_owned(), kind);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truncation_keeps_char_boundaries() {
        let mut s = "héllo wörld".to_owned();
        truncate_chars(&mut s, 5);
        assert_eq!(s, "héll…");
        assert_eq!(s.chars().count(), 5);
        let mut short = "abc".to_owned();
        truncate_chars(&mut short, 3);
        assert_eq!(short, "abc");
    }

    #[test]
    fn first_non_blank_line() {
        assert_eq!(first_line("\n\n  a b \nc"), Some("a b".to_owned()));
        assert_eq!(first_line(" \r\n "), None);
    }

    #[test]
    fn outcomes_are_checked() {
        let o = Outcomes::default_set();
        assert_eq!(check_outcome(" passed", &o), Ok("PASSED".to_owned()));
        let e = check_outcome("skipped", &o).unwrap_err();
        assert!(e.contains("\"SKIPPED\" not in allowed outcomes"), "{e}");
        let strict = Outcomes::new::<&str>(&[]).unwrap();
        assert_eq!(error_outcome(&strict, Some("boom".into())), ("FAILED".into(), Some("error: boom".into())));
        assert_eq!(error_outcome(&o, None), ("ERROR".into(), None));
    }

    #[test]
    fn data_values() {
        assert_eq!(json_data_values(&json!([1, "a", {"b": 2}])), vec!["1", "a", "{\"b\":2}"]);
        assert_eq!(json_data_values(&json!({"a": 1})), vec!["{\"a\":1}"]);
        assert_eq!(json_data_values(&json!(true)), vec!["True"]);
    }

    #[test]
    fn aggregation() {
        let opts = ParseOptions {
            aggregate: Aggregate::AllPass,
            testcase: Some("dist.x".into()),
            testcase_prefix: "p.".into(),
            ..ParseOptions::default()
        };
        let mut out = Vec::new();
        let mut sink = Sink::new(&opts, |r| {
            out.push(r);
            Ok::<(), FormatError>(())
        })
        .unwrap();
        sink.push(result("a".into(), "PASSED".into(), None)).unwrap();
        sink.push(result("b".into(), "FAILED".into(), None)).unwrap();
        sink.push(result("c".into(), "PASSED".into(), None)).unwrap();
        let s = sink.finish::<FormatError>().unwrap();
        assert_eq!(s.results, 1);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].testcase.name, "p.dist.x");
        assert_eq!(out[0].outcome, "FAILED");
        assert_eq!(out[0].note.as_deref(), Some("2 PASSED, 1 FAILED"));
        let no_name = ParseOptions { aggregate: Aggregate::AllPass, ..ParseOptions::default() };
        assert!(Sink::new(&no_name, |_r: ResultInput| Ok::<(), FormatError>(())).is_err());
    }
}
