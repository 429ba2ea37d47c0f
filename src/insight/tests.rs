//! Tests for the insight module: shared builders; the tables live in `tests/`.

use super::*;
use crate::model::Timestamp;

mod compare;
mod flaky;
mod history;
mod prop;
mod signature;

const T0: i64 = 1_700_000_000_000_000;

/// Time `i` seconds after T0.
fn at(i: i64) -> Timestamp {
    Timestamp(T0 + i * 1_000_000)
}

/// A run with id `id`, on `item`, submitted `id` seconds after T0.
fn run(id: i64, item: &str, outcome: &str) -> Run {
    Run {
        id,
        uuid: format!("u{id}"),
        item: item.into(),
        item_type: "koji_build".into(),
        outcome: outcome.into(),
        submit_time: at(id),
        note: None,
        duration: None,
        error_reason: None,
    }
}

/// Runs from a pattern, oldest first: `P` PASSED, `F` FAILED, `Q` QUEUED; ids from 1, each
/// on its own item `b<id>` unless `items` names one (a char per run, `.` = own item,
/// `_` = no item).
fn runs(pattern: &str, items: &str) -> Vec<Run> {
    let mut names = items.chars();
    pattern
        .chars()
        .zip(1..)
        .map(|(c, id)| {
            let item = match names.next() {
                Some('_') => String::new(),
                Some(n) if n != '.' => n.to_string(),
                _ => format!("b{id}"),
            };
            let outcome = match c {
                'P' => "PASSED",
                'F' => "FAILED",
                _ => "QUEUED",
            };
            run(id, &item, outcome)
        })
        .collect()
}

fn key(t: &str) -> Key {
    Key { testcase: t.to_owned(), scenario: String::new(), arch: String::new() }
}

#[test]
fn outcome_classes() {
    for (o, c) in [
        ("PASSED", Class::Pass),
        ("INFO", Class::Pass),
        ("FAILED", Class::Fail),
        ("NEEDS_INSPECTION", Class::Fail),
        ("ERROR", Class::Fail),
        ("CRASHED", Class::Fail),
        ("ABORTED", Class::Fail),
        ("QUEUED", Class::Ignored),
        ("RUNNING", Class::Ignored),
        ("WEIRD", Class::Ignored),
        ("passed", Class::Ignored),
    ] {
        assert_eq!(class_of(o), c, "{o}");
    }
}

#[test]
fn package_names() {
    for (nvr, name) in [
        ("foo-1.2-3.fc40", Some("foo")),
        ("python-foo-bar-1.0-1", Some("python-foo-bar")),
        ("foo-1.2", None),
        ("foo", None),
        ("", None),
        ("-1-2", None),
        ("foo--2", None),
        ("foo-1-", None),
    ] {
        assert_eq!(package_name(nvr), name, "{nvr}");
    }
}

#[test]
fn key_and_run_from_a_stored_result() {
    use crate::model::{ResultRecord, ResultView, TestcaseRecord};
    let mut data = std::collections::BTreeMap::new();
    let mut put = |k: &str, v: &[&str]| data.insert(k.to_owned(), v.iter().map(|s| (*s).to_owned()).collect());
    put("scenario", &["fedora.x86_64", "other"]);
    put("item", &["foo-1-1"]);
    put("type", &["koji_build"]);
    put("duration", &[" 12.5 "]);
    put("error_reason", &["timeout"]);
    let record = ResultRecord {
        data,
        groups: Vec::new(),
        note: Some("n".into()),
        outcome: "FAILED".into(),
        ref_url: None,
        request: None,
        submit_time: T0,
        testcase: TestcaseRecord { name: "t.x".into(), ref_url: None },
        uuid: "u".into(),
    };
    let k = key_of(&record);
    assert_eq!(k, Key { testcase: "t.x".into(), scenario: "fedora.x86_64".into(), arch: String::new() });
    let mut view = ResultView { id: 7, record, testcase_ref_url: None };
    let r = run_of(&view);
    assert_eq!((r.id, r.uuid.as_str(), &*r.item, &*r.item_type), (7, "u", "foo-1-1", "koji_build"));
    assert_eq!((&*r.outcome, r.submit_time, r.note.as_deref()), ("FAILED", Timestamp(T0), Some("n")));
    assert_eq!((r.duration, r.error_reason.as_deref()), (Some(12.5), Some("timeout")));
    for bad in ["NaN", "inf", "12s", ""] {
        view.record.data.insert("duration".into(), vec![bad.into()]);
        assert_eq!(run_of(&view).duration, None, "{bad}");
    }
    view.record.data.clear();
    let r = run_of(&view);
    assert_eq!((&*r.item, &*r.item_type, r.error_reason), ("", "", None));
}
