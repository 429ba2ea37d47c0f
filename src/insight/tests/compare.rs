//! Tables for `compare`: every bucket, flaky precedence, context annotations.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

fn side(rows: &[(&str, i64, &str)]) -> Vec<(Key, Run)> {
    rows.iter().map(|&(t, id, outcome)| (key(t), run(id, "x", outcome))).collect()
}

fn names(bucket: &[CompareEntry]) -> Vec<&str> {
    bucket.iter().map(|e| e.key.testcase.as_str()).collect()
}

#[test]
fn buckets() {
    let base = side(&[
        ("pp", 1, "PASSED"),
        ("pf", 2, "PASSED"),
        ("fp", 3, "FAILED"),
        ("ff", 4, "FAILED"),
        ("gone", 5, "PASSED"),
        ("flk", 6, "PASSED"),
        ("q", 7, "PASSED"),
        ("info", 8, "INFO"),
    ]);
    let head = side(&[
        ("pp", 11, "PASSED"),
        ("pf", 12, "NEEDS_INSPECTION"),
        ("fp", 13, "PASSED"),
        ("ff", 14, "ERROR"),
        ("new", 15, "FAILED"),
        ("flk", 16, "FAILED"),
        ("q", 17, "RUNNING"),
        ("info", 18, "PASSED"),
    ]);
    let ctx = CompareContext {
        flaky: BTreeSet::from([key("flk")]),
        failing: BTreeMap::from([(key("ff"), (at(4), 7))]),
        seen_before: BTreeMap::new(),
    };
    let c = compare(&base, &head, &ctx);
    assert_eq!(names(&c.new_failures), ["pf"]);
    assert_eq!(names(&c.fixed), ["fp"]);
    assert_eq!(names(&c.still_failing), ["ff"]);
    assert_eq!(names(&c.new_tests), ["new"]);
    assert_eq!(names(&c.missing), ["gone"]);
    assert_eq!(names(&c.flaky), ["flk"], "flaky keys go only to the flaky bucket");
    assert_eq!(names(&c.pending), ["q"]);
    assert_eq!(c.unchanged_passing, 2);

    let ff = &c.still_failing[0];
    assert_eq!((ff.base_id, ff.head_id, ff.failing_since, ff.failing_for), (Some(4), Some(14), Some(at(4)), Some(7)));
    assert_eq!((ff.base_outcome.as_deref(), ff.head_outcome.as_deref()), (Some("FAILED"), Some("ERROR")));
    assert_eq!((c.new_tests[0].base_id, c.new_tests[0].head_id), (None, Some(15)));
    assert_eq!(
        (c.missing[0].base_id, c.missing[0].head_id, c.missing[0].head_outcome.as_deref()),
        (Some(5), None, None)
    );
    assert_eq!(c.fixed[0].signature, None, "a passing head has no signature");
    assert_eq!(c.new_failures[0].failing_since, None, "failing context only for still_failing");
}

#[test]
fn signatures_and_seen_before() {
    let mut head = side(&[("a", 1, "FAILED"), ("b", 2, "FAILED"), ("c", 3, "FAILED")]);
    head[0].1.note = Some("timeout after 30s on host-12".into());
    head[1].1.note = Some("timeout after 45s on host-7".into());
    let sig = signature(&head[0].1).unwrap();
    let ctx = CompareContext { seen_before: BTreeMap::from([(sig.clone(), 3)]), ..CompareContext::default() };
    let c = compare(&[], &head, &ctx);
    let got: Vec<_> = c.new_tests.iter().map(|e| (e.signature.clone(), e.seen_before)).collect();
    assert_eq!(got, [(Some(sig.clone()), Some(3)), (Some(sig), Some(3)), (None, None)]);
}

#[test]
fn newest_result_per_key_wins() {
    let base = side(&[("a", 2, "FAILED"), ("a", 1, "PASSED")]);
    let head = side(&[("a", 3, "PASSED")]);
    let c = compare(&base, &head, &CompareContext::default());
    assert_eq!((names(&c.fixed), c.fixed[0].base_id), (vec!["a"], Some(2)));
}

#[test]
fn serializes_with_the_key_flattened() {
    let c = compare(&side(&[("a", 1, "PASSED")]), &side(&[("a", 2, "FAILED")]), &CompareContext::default());
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["new_failures"][0]["testcase"], "a");
    assert_eq!(json["new_failures"][0]["head_id"], 2);
    assert!(json["new_failures"][0]["failing_since"].is_null());
    assert_eq!(json["unchanged_passing"], 0);
}
