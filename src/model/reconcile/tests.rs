//! Table tests of reconcile's matching: which source results count as stored, and the
//! uuids missing ones get.

use super::*;
use serde_json::json;

fn claimed(testcase: &str, outcome: &str, time: i64, item: &str) -> Claimed {
    let mut data = BTreeMap::new();
    data.insert("item".to_owned(), vec![item.to_owned()]);
    Claimed {
        uuid: None,
        testcase: testcase.into(),
        outcome: outcome.into(),
        submit_time: time,
        note: None,
        ref_url: None,
        data,
        groups: vec![],
    }
}

fn with(mut c: Claimed, f: impl FnOnce(&mut Claimed)) -> Claimed {
    f(&mut c);
    c
}

#[test]
fn identity_ignores_what_is_not_content() {
    let base = claimed("t", "PASSED", 1, "a");
    let same = [
        ("a source_* key", with(base.clone(), |c| drop(c.data.insert("source_file".into(), vec!["x".into()])))),
        ("a group", with(base.clone(), |c| c.groups.push("g".into()))),
        ("a uuid", with(base.clone(), |c| c.uuid = Some("u".into()))),
        ("an empty note", with(base.clone(), |c| c.note = Some(String::new()))),
        ("an empty ref_url", with(base.clone(), |c| c.ref_url = Some(String::new()))),
        ("lower-case outcome", with(base.clone(), |c| c.outcome = "passed".into())),
        ("a key with no values", with(base.clone(), |c| drop(c.data.insert("arch".into(), vec![])))),
    ];
    for (what, c) in same {
        assert_eq!(c.identity(), base.identity(), "{what} changes the identity");
    }
    let xy = with(base.clone(), |c| drop(c.data.insert("arch".into(), vec!["x".into(), "y".into()])));
    let yx = with(base.clone(), |c| drop(c.data.insert("arch".into(), vec!["y".into(), "x".into()])));
    assert_eq!(xy.identity(), yx.identity(), "value order");
    let differ = [
        ("testcase", with(base.clone(), |c| c.testcase = "u".into())),
        ("outcome", with(base.clone(), |c| c.outcome = "FAILED".into())),
        ("submit time", with(base.clone(), |c| c.submit_time = 2)),
        ("note", with(base.clone(), |c| c.note = Some("n".into()))),
        ("ref_url", with(base.clone(), |c| c.ref_url = Some("http://x".into()))),
        ("item", with(base.clone(), |c| drop(c.data.insert("item".into(), vec!["b".into()])))),
        ("a key", with(base.clone(), |c| drop(c.data.insert("arch".into(), vec!["x".into()])))),
        ("key/value split", with(base.clone(), |c| drop(c.data.insert("ab".into(), vec!["c".into()])))),
    ];
    for (what, c) in differ {
        assert_ne!(c.identity(), base.identity(), "{what} must change the identity");
    }
}

#[test]
fn compare_table() {
    let a = claimed("t", "PASSED", 1, "a");
    let b = claimed("t", "FAILED", 2, "a");
    let twin = a.clone();
    let by_uuid = |c: &Claimed, u: &str| with(c.clone(), |c| c.uuid = Some(u.into()));
    // (what, source, stored, present, missing)
    type Case = (&'static str, Vec<Claimed>, Vec<Claimed>, u64, usize);
    let cases: Vec<Case> = vec![
        ("nothing stored", vec![a.clone(), b.clone()], vec![], 0, 2),
        ("all stored", vec![a.clone(), b.clone()], vec![b.clone(), a.clone()], 2, 0),
        ("one stored", vec![a.clone(), b.clone()], vec![a.clone()], 1, 1),
        ("twins, one stored", vec![a.clone(), twin.clone()], vec![a.clone()], 1, 1),
        ("twins, both stored", vec![a.clone(), twin.clone()], vec![a.clone(), a.clone()], 2, 0),
        ("stored under the same uuid", vec![by_uuid(&a, "u1")], vec![by_uuid(&b, "u1")], 1, 0),
        (
            "uuid match uses up its stored twin",
            vec![by_uuid(&a, "u1"), by_uuid(&a, "u2")],
            vec![by_uuid(&a, "u1")],
            1,
            1,
        ),
        ("other uuid, same content", vec![by_uuid(&a, "u1")], vec![by_uuid(&a, "u9")], 1, 0),
        ("stored conflict listed twice", vec![a.clone(), twin.clone()], vec![by_uuid(&a, "u"), by_uuid(&a, "u")], 1, 1),
        ("more stored than claimed", vec![a.clone()], vec![a.clone(), b.clone()], 1, 0),
    ];
    for (what, source, stored, present, missing) in cases {
        let mut s = Stored::default();
        for c in &stored {
            s.add(c);
        }
        let n = source.len() as u64;
        let got = compare(source, s);
        assert_eq!((got.compared, got.present, got.missing.len()), (n, present, missing), "{what}");
    }
}

#[test]
fn missing_uuids_are_stable_and_distinct() {
    let a = claimed("t", "PASSED", 1, "a");
    let first = compare(vec![a.clone(), a.clone()], Stored::default());
    let again = compare(vec![a.clone(), a.clone()], Stored::default());
    assert_eq!(first, again, "a pure function of the source");
    assert_ne!(first.missing[0].uuid, first.missing[1].uuid, "twins get distinct uuids");
    assert_eq!(first.missing[0].uuid, reconciled_uuid(&a.identity(), 0));
    // Stored back, the same source finds everything present.
    let mut stored = Stored::default();
    for m in &first.missing {
        stored.add(&Claimed::from_record(&m.claimed.clone().into_record(m.uuid.clone(), "http://src")));
    }
    let third = compare(vec![a.clone(), a], stored);
    assert_eq!((third.present, third.missing.len()), (2, 0));
}

#[test]
fn from_wire_reads_verdict_and_resultsdb() {
    let verdict = json!({"id": 3, "uuid": "0190-…", "testcase": {"name": "t", "href": "x"}, "outcome": "PASSED",
        "submit_time": "2026-01-02T03:04:05.000006", "note": null, "ref_url": "http://r", "groups": ["g1"],
        "data": {"item": ["a"], "n": [1]}});
    let c = Claimed::from_wire(&verdict).unwrap();
    assert_eq!(c.uuid.as_deref(), Some("0190-…"));
    assert_eq!((c.testcase.as_str(), c.outcome.as_str()), ("t", "PASSED"));
    assert_eq!(Timestamp(c.submit_time).to_iso(), "2026-01-02T03:04:05.000006");
    assert_eq!(c.data["n"], vec!["1"]);
    assert_eq!(c.groups, vec!["g1"]);
    // Python's isoformat() drops a zero fraction; upstream has no uuid.
    let upstream = json!({"id": 3, "testcase": {"name": "t"}, "outcome": "PASSED",
        "submit_time": "2026-01-02T03:04:05", "data": {}, "groups": []});
    let u = Claimed::from_wire(&upstream).unwrap();
    assert_eq!((u.uuid, Timestamp(u.submit_time).to_iso()), (None, "2026-01-02T03:04:05".to_owned()));
    for (bad, field) in [
        (json!({"testcase": {"name": "t"}, "outcome": "PASSED"}), "submit_time"),
        (json!({"testcase": {}, "outcome": "PASSED", "submit_time": "2026-01-02T03:04:05"}), "testcase.name"),
        (json!({"testcase": "t", "outcome": "P", "submit_time": "yesterday"}), "submit_time"),
        (json!({"testcase": "t", "outcome": "P", "submit_time": "2026-01-02T03:04:05", "data": []}), "data"),
        (json!([1]), "object"),
    ] {
        let e = Claimed::from_wire(&bad).unwrap_err();
        assert!(e.contains(field), "{bad}: {e}");
    }
}

#[test]
fn into_record_keeps_the_source_time_and_names_the_source() {
    let c = with(claimed("t", "PASSED", 42, "a"), |c| c.groups = vec!["g".into(), "g".into()]);
    let r = c.into_record("u".into(), "http://src");
    assert_eq!((r.submit_time, r.uuid.as_str()), (42, "u"));
    assert_eq!(r.data[SOURCE_KEY], vec!["http://src"]);
    assert_eq!(r.groups.len(), 1);
    let again = Claimed::from_record(&r).into_record("u".into(), "http://other");
    assert_eq!(again.data[SOURCE_KEY], vec!["http://src"], "the first source is kept");
}

#[test]
fn exit_codes() {
    let r = |missing, stored| Report { missing, stored, ..Report::default() };
    let refused = Report { refused: vec!["x".into()], ..r(0, 0) };
    for (report, code) in [(r(0, 0), 0), (r(2, 0), 1), (r(2, 1), 1), (r(2, 2), 0), (refused, 1)] {
        assert_eq!(report.exit_code(), code, "{report:?}");
    }
}
