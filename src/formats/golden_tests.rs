//! Golden tests: every fixture listed in `fixtures/MANIFEST.md` that exists on disk, with
//! the exact counts and the facts its MANIFEST row states.

use super::*;
use crate::model::Outcomes;
use std::collections::BTreeMap;

fn path(rel: &str) -> String {
    format!("{}/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn bytes(rel: &str) -> Vec<u8> {
    std::fs::read(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn base_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// Detects and parses a fixture as the spool would (options from the file name).
fn parse_with(rel: &str, opts: ParseOptions) -> Result<Vec<ResultInput>, FormatError> {
    let data = bytes(rel);
    let format = detect(base_name(rel), &data)?;
    parse_to_vec(format, &data, &opts)
}

fn parse_fixture(rel: &str) -> Result<Vec<ResultInput>, FormatError> {
    parse_with(rel, ParseOptions::for_file(base_name(rel)))
}

fn ok(rel: &str) -> Vec<ResultInput> {
    parse_fixture(rel).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn outcome_counts(rs: &[ResultInput]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in rs {
        *m.entry(r.outcome.clone()).or_insert(0) += 1;
    }
    m
}

fn named<'a>(rs: &'a [ResultInput], name: &str) -> &'a ResultInput {
    let names: Vec<&str> = rs.iter().map(|r| r.testcase.name.as_str()).collect();
    rs.iter().find(|r| r.testcase.name == name).unwrap_or_else(|| panic!("no result {name:?} in {names:?}"))
}

fn data<'a>(r: &'a ResultInput, key: &str) -> Vec<&'a str> {
    r.data.get(key).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default()
}

const P: &str = "PASSED";
const F: &str = "FAILED";
const E: &str = "ERROR";
const I: &str = "INFO";
const N: &str = "NEEDS_INSPECTION";

/// (fixture, result count, outcome counts) — the MANIFEST tables.
type Golden = (&'static str, usize, &'static [(&'static str, usize)]);

const GOLDEN: &[Golden] = &[
    ("resultsdb-json/single-result.json", 1, &[(P, 1)]),
    ("resultsdb-json/single-result-objects.json", 1, &[(F, 1)]),
    ("resultsdb-json/array-of-results.json", 4, &[(P, 1), (F, 1), (I, 1), (N, 1)]),
    ("resultsdb-json/results.jsonl", 4, &[(P, 2), (F, 1), (I, 1)]),
    ("resultsdb-json/no-item-needs-sidecar.json", 1, &[(P, 1)]),
    ("tap/taskotron-rpmlint-v13.tap", 3, &[(P, 1), (F, 1), (I, 1)]),
    ("tap/taskotron-depcheck-v13.tap", 4, &[(P, 1), (F, 1), (N, 1), (I, 1)]),
    ("tap/pytest-tap-v12.tap", 11, &[(P, 6), (F, 3), (I, 2)]),
    ("tap/perl-test-more-v12.tap", 8, &[(P, 4), (F, 1), (I, 3)]),
    ("tap/perl-bail-out.tap", 3, &[(P, 2), (E, 1)]),
    ("tap/node-test-runner-v13-subtests.tap", 7, &[(P, 3), (F, 2), (I, 2)]),
    ("resultyaml/checkb-export.yaml", 3, &[(P, 1), (F, 1), (N, 1)]),
    ("resultyaml/python-versions-multi.yaml", 3, &[(P, 1), (F, 1), (I, 1)]),
    ("resultyaml/empty-results.yaml", 0, &[]),
    ("resultyaml/aborted-crashed.yaml", 3, &[("ABORTED", 1), ("CRASHED", 1), (P, 1)]),
    ("junit/testmo-junit-complete.xml", 8, &[(P, 5), (F, 1), (E, 1), (I, 1)]),
    ("junit/pytest-xunit2.xml", 11, &[(P, 6), (F, 2), (E, 1), (I, 2)]),
    ("junit/pytest-xunit1-junit_logging-all.xml", 11, &[(P, 6), (F, 2), (E, 1), (I, 2)]),
    ("junit/pytest-horovod-fail.xml", 5, &[(P, 3), (F, 1), (I, 1)]),
    ("junit/surefire-TEST-StringUtilsTest.xml", 5, &[(P, 2), (F, 2), (I, 1)]),
    ("junit/surefire-flakyFailure.xml", 1, &[(P, 1)]),
    ("junit/go-junit-report-001-pass-fail-skip.xml", 5, &[(P, 2), (F, 1), (I, 2)]),
    ("junit/go-junit-report-012-subtests.xml", 11, &[(P, 6), (F, 4), (I, 1)]),
    ("junit/go-junit-report-014-panic.xml", 2, &[(E, 2)]),
    ("junit/gotestsum-report.xml", 60, &[(P, 42), (F, 13), (I, 5)]),
    ("junit/gotestsum-testcase-properties.xml", 1, &[(P, 1)]),
    ("junit/jest-junit-dorny.xml", 6, &[(P, 1), (F, 4), (I, 1)]),
    ("junit/node-test-runner-junit.xml", 7, &[(P, 3), (F, 3), (I, 1)]),
    ("junit/ctest-output-junit.xml", 6, &[(P, 2), (F, 2), (I, 2)]),
    ("junit/gitlab-attachments.xml", 4, &[(P, 2), (F, 1), (I, 1)]),
    ("junit/nested-testsuite-in-testsuite.xml", 5, &[(P, 5)]),
    ("junit/testsuite-root-element.xml", 1, &[(P, 1)]),
    ("junit/no-cases.xml", 0, &[]),
    ("junit/minimal-attributes.xml", 4, &[(P, 1), (F, 1), (E, 1), (I, 1)]),
    ("junit/no-attributes.xml", 4, &[(P, 1), (F, 1), (E, 1), (I, 1)]),
    ("junit/multiresult.xml", 4, &[(P, 1), (F, 1), (E, 1), (I, 1)]),
    ("junit/xml-entities.xml", 4, &[(F, 1), (E, 1), (I, 2)]),
    ("junit/unicode-astral.xml", 7, &[(P, 1), (F, 2), (E, 2), (I, 2)]),
    ("junit/bazel-suite-logs-cdata.xml", 1, &[(E, 1)]),
    ("junit/catch2-report.xml", 1, &[(F, 1)]),
    ("junit/nextest-basic.xml", 3, &[(P, 2), (F, 1)]),
    ("ctrf/ctrf-minimal.json", 1, &[(P, 1)]),
    ("ctrf/ctrf-with-retries.json", 2, &[(P, 2)]),
    ("ctrf/ctrf-comprehensive.json", 3, &[(P, 2), (F, 1)]),
    ("subunit/rig-v2.subunit", 5, &[(P, 1), (F, 2), (I, 2)]),
];

/// (bad fixture, substrings the error message must contain) — the MANIFEST `bad/` table.
const BAD: &[(&str, &[&str])] = &[
    ("bad/empty.xml", &["empty file"]),
    ("bad/junit-not-xml.xml", &["line 1", "XML parse error", "not XML"]),
    ("bad/junit-truncated.xml", &["premature end of data", "unclosed <skipped>"]),
    ("bad/junit-wrong-root.xml", &["not a JUnit document: root element <suites>"]),
    ("bad/junit-xxe-doctype.xml", &["DOCTYPE", "refused"]),
    ("bad/resultsdb-missing-outcome.json", &["record 0", "`outcome` required"]),
    ("bad/resultsdb-unknown-outcome.json", &["record 0", "outcome \"SKIPPED\" not in allowed outcomes"]),
    ("bad/resultsdb-colon-in-data-key.json", &["record 0", "colon not allowed in data key \"scm:url\""]),
    ("bad/resultsdb-empty-testcase.json", &["record 0", "testcase name must be non-empty"]),
    ("bad/resultsdb-bad-submit-time.json", &["record 0", "submit_time", "YYYY-MM-DDTHH:MM:SS.ffffff"]),
    ("bad/resultsdb-jsonl-truncated-line.jsonl", &["line 2", "JSON syntax error"]),
    ("bad/tap-two-version-headers.tap", &["line 9", "second TAP version line"]),
    ("bad/tap-two-plans.tap", &["line 4", "second plan line"]),
    ("bad/tap-unterminated-yaml.tap", &["YAML block opened at line 4 never closed with `...`"]),
    ("bad/tap-invalid-yaml.tap", &["YAML parse error in block of test 1"]),
    ("bad/tap-taskotron-bad-outcome.tap", &["test 1", "outcome \"MOSTLY_OK\" not in allowed outcomes"]),
    ("bad/tap-no-test-points.tap", &["no plan and no test points: not TAP"]),
    ("bad/resultyaml-results-not-a-list.yaml", &["`results` must be a list"]),
    ("bad/resultyaml-missing-results-key.yaml", &["missing `results` key"]),
    ("bad/resultyaml-missing-checkname.yaml", &["record 0", "no `checkname` and no sidecar `testcase`"]),
    ("bad/resultyaml-syntax-error.yaml", &["YAML syntax error", "line"]),
    ("bad/ctrf-missing-tests.json", &["CTRF `results.tests` required"]),
    ("bad/subunit-bad-crc.subunit", &["packet 1", "CRC32 mismatch"]),
];

#[test]
fn counts_and_outcomes_match_the_manifest() {
    for (rel, count, outcomes) in GOLDEN {
        let rs = ok(rel);
        assert_eq!(rs.len(), *count, "{rel}: result count");
        let want: BTreeMap<String, usize> = outcomes.iter().map(|(o, n)| ((*o).to_owned(), *n)).collect();
        assert_eq!(outcome_counts(&rs), want, "{rel}: outcomes");
        for r in &rs {
            assert!(!r.testcase.name.trim().is_empty(), "{rel}: empty testcase name");
            assert!(r.note.as_deref().is_none_or(|n| !n.is_empty() && n.chars().count() <= 1024), "{rel}: note");
        }
    }
}

#[test]
fn bad_files_are_rejected_with_the_key_fact() {
    for (rel, needles) in BAD {
        let err = match parse_fixture(rel) {
            Ok(rs) => panic!("{rel}: accepted with {} results", rs.len()),
            Err(e) => e.to_string(),
        };
        for n in *needles {
            assert!(err.contains(n), "{rel}: error {err:?} lacks {n:?}");
        }
    }
}

#[test]
fn every_fixture_on_disk_is_covered() {
    let mut on_disk = Vec::new();
    for dir in ["resultsdb-json", "tap", "resultyaml", "junit", "ctrf", "subunit", "bad"] {
        for entry in std::fs::read_dir(path(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !is_ignored_name(&name) {
                on_disk.push(format!("{dir}/{name}"));
            }
        }
    }
    let covered: Vec<&str> = GOLDEN.iter().map(|g| g.0).chain(BAD.iter().map(|b| b.0)).collect();
    for f in &on_disk {
        assert!(covered.contains(&f.as_str()), "{f} has no golden test");
    }
    let manifest = String::from_utf8(bytes("MANIFEST.md")).unwrap();
    for c in &covered {
        assert!(manifest.contains(base_name(c)), "{c} is not in MANIFEST.md");
    }
}

#[test]
fn resultsdb_json_facts() {
    let r = &ok("resultsdb-json/single-result.json")[0];
    assert_eq!(r.testcase.name, "dist.rpmlint");
    assert_eq!(data(r, "item"), ["koschei-1.7.2-1.fc24"]);
    assert_eq!(data(r, "type"), ["koji_build"]);
    assert_eq!(data(r, "arch"), ["x86_64", "noarch"]);
    assert_eq!(r.groups.len(), 1);
    assert!(!r.data.contains_key("_auth"));

    let r = &ok("resultsdb-json/single-result-objects.json")[0];
    assert_eq!(r.outcome, "FAILED");
    assert_eq!(r.submit_time.map(|t| t.to_iso()).as_deref(), Some("2024-05-01T12:34:56.123456"));
    assert_eq!(data(r, "retries"), ["2"]);
    assert_eq!(data(r, "gating"), ["True"]);
    assert_eq!(r.testcase.ref_url, Some(Some("https://fedoraproject.org/wiki/Taskotron/Tasks/dist.rpmdeplint".into())));
    assert_eq!(r.groups[0].description, Some(Some("rig-07 nightly run".into())));

    let rs = ok("resultsdb-json/array-of-results.json");
    assert_eq!(rs[3].submit_time.map(|t| t.to_iso()).as_deref(), Some("2024-05-01T12:34:56"));
    assert_eq!(rs[1].note.as_deref(), Some("anaconda crashed"));

    let rs = ok("resultsdb-json/results.jsonl");
    assert_eq!(data(&rs[3], "metric"), ["getpid_ns=52", "open_ns=1410"]);

    // The sidecar is merged by the spool, not the parser: item/type/ref_url stay absent.
    let r = &ok("resultsdb-json/no-item-needs-sidecar.json")[0];
    assert!(!r.data.contains_key("item") && r.ref_url.is_none());
    let prefixed = parse_with(
        "resultsdb-json/no-item-needs-sidecar.json",
        ParseOptions { testcase_prefix: "fedora-ci.".into(), ..ParseOptions::default() },
    )
    .unwrap();
    assert_eq!(prefixed[0].testcase.name, "fedora-ci.rig.smoke.network");
}

#[test]
fn tap_taskotron_facts() {
    let rs = ok("tap/taskotron-rpmlint-v13.tap");
    assert!(rs.iter().all(|r| r.testcase.name == "dist.rpmlint"));
    let items: Vec<Vec<&str>> = rs.iter().map(|r| data(r, "item")).collect();
    assert_eq!(items, [["xchat-2.8.8-21.fc20"], ["xchat-tcl-2.8.8-21.fc20"], ["xchat-python-2.8.8-21.fc20"]]);
    let notes: Vec<Option<&str>> = rs.iter().map(|r| r.note.as_deref()).collect();
    assert_eq!(
        notes,
        [
            Some("RPMLINT PASSED for xchat-2.8.8-21.fc20"),
            Some("RPMLINT FAILED for xchat-tcl-2.8.8-21.fc20"),
            Some("0 errors, 7 warnings")
        ]
    );
    assert_eq!(data(&rs[2], "arch"), ["x86_64", "i686"]);
    assert!(
        rs.iter().all(|r| !r.data.contains_key("details") && r.data.values().flatten().all(|v| !v.contains("W: ")))
    );
    assert!(rs.iter().all(|r| data(r, "type") == ["koji_build"]));

    let rs = ok("tap/taskotron-depcheck-v13.tap");
    assert_eq!(rs[2].outcome, "NEEDS_INSPECTION");
    assert_eq!(rs[2].note.as_deref(), Some("repo metadata unreadable: can't decide"));
    assert_eq!(rs[3].testcase.name, "dist.depcheck for Koji build finch-2.10.9-1.fc20");
    assert_eq!((rs[3].outcome.as_str(), rs[3].note.as_deref()), ("INFO", Some("skipped: noarch-only update")));
    assert!(!rs[3].data.contains_key("item"));
    assert_eq!(data(&rs[1], "arch"), ["x86_64"]);
}

#[test]
fn tap_generic_facts() {
    let rs = ok("tap/pytest-tap-v12.tap");
    let by_number: Vec<&str> = rs.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(by_number, [P, F, P, I, I, P, F, P, F, P, P]);
    assert_eq!(rs[0].testcase.name, "tests/test_demo.py::test_pass");
    assert_eq!(rs[9].testcase.name, "tests/test_demo.py::test_param[\\xfc/\\xdf]");
    assert_eq!(rs[4].note.as_deref(), Some("todo: expected failure: known bug #123"));
    assert_eq!(rs[5].note.as_deref(), Some("todo (unexpectedly passed): unexpected success: should fail but passes"));
    assert_eq!(data(&rs[10], "tap_number"), ["11"]);

    let rs = ok("tap/perl-test-more-v12.tap");
    let got: Vec<(&str, &str)> = rs.iter().map(|r| (r.testcase.name.as_str(), r.outcome.as_str())).collect();
    assert_eq!(
        got,
        [
            ("rpm installs cleanly", P),
            ("service starts on port 3", F),
            ("perl-test-more-v12.3", I),
            ("perl-test-more-v12.4", I),
            ("selinux denials == 0", I),
            ("post-install checks/binary present", P),
            ("post-install checks/man page present", P),
            ("uninstall", P),
        ]
    );
    assert_eq!(data(&rs[5], "tap_number"), ["6"]);

    let rs = ok("tap/perl-bail-out.tap");
    let bail = named(&rs, "perl-bail-out.bail_out");
    assert_eq!((bail.outcome.as_str(), bail.note.as_deref()), (E, Some("kernel panic during boot: cannot continue")));

    let rs = ok("tap/node-test-runner-v13-subtests.tap");
    for leaf in [
        "install suite/installs package",
        "install suite/removes package",
        "install suite/upgrade/upgrades from previous release",
    ] {
        named(&rs, leaf);
    }
    assert!(rs.iter().all(|r| r.testcase.name != "install suite"));
    assert_eq!(named(&rs, "skipped on aarch64").outcome, I);
    let todo = named(&rs, "todo: flaky network");
    assert_eq!((todo.outcome.as_str(), todo.note.as_deref()), (I, Some("todo: fix #42")));
    let failed = named(&rs, "string compare fails");
    assert_eq!(failed.note.as_deref(), Some("Expected values to be strictly equal:"));
    assert_eq!(data(failed, "duration_ms"), ["2.004068"]);
    assert_eq!(named(&rs, "install suite/removes package").note.as_deref(), Some("rpm -e returned 1"));
}

#[test]
fn resultyaml_facts() {
    let rs = ok("resultyaml/checkb-export.yaml");
    assert_eq!(rs[0].testcase.name, "dist.rpmlint");
    assert_eq!(rs[2].testcase.name, "dist.upgradepath");
    assert_eq!(data(&rs[0], "artifact"), ["xchat-2.8.8-21.fc20.x86_64.log"]);
    assert_eq!(data(&rs[1], "arch"), ["x86_64", "i686"]);
    assert_eq!(data(&rs[2], "attempts"), ["3"]);
    assert_eq!(data(&rs[2], "scratch"), ["False"]);
    assert_eq!(data(&rs[2], "koji_tag"), ["f20-updates-pending"]);
    assert_eq!(data(&rs[2], "item"), ["FEDORA-2014-3309"]);
    assert_eq!(data(&rs[2], "type"), ["bodhi_update"]);
    let with_base = ParseOptions { artifacts_base_url: Some("https://rig/a".into()), ..ParseOptions::default() };
    let rs = parse_with("resultyaml/checkb-export.yaml", with_base).unwrap();
    assert_eq!(rs[0].ref_url.as_deref(), Some("https://rig/a/xchat-2.8.8-21.fc20.x86_64.log"));
    assert!(!rs[0].data.contains_key("artifact"));

    let rs = ok("resultyaml/python-versions-multi.yaml");
    assert_eq!(rs[0].note, None);
    assert_eq!(
        rs[2].note.as_deref(),
        Some("/usr/bin/peak uses unversioned python shebang\nconsider python2 or python3\n")
    );
    assert!(rs.iter().all(|r| !r.data.contains_key("_internal")));
    assert_eq!(data(&rs[1], "artifact"), ["artifacts/output.log"]);

    let strict = ParseOptions { outcomes: Outcomes::new::<&str>(&[]).unwrap(), ..ParseOptions::default() };
    let e = parse_with("resultyaml/aborted-crashed.yaml", strict).unwrap_err();
    assert!(e.to_string().starts_with("record 0: outcome \"ABORTED\" not in allowed outcomes"), "{e}");
}

#[test]
fn junit_naming_facts() {
    let rs = ok("junit/pytest-xunit2.xml");
    named(&rs, "tests.test_demo.test_param[\\xfc/\\xdf]");
    assert_eq!(named(&rs, "tests.test_demo.test_xfail").outcome, I);
    assert_eq!(named(&rs, "tests.test_demo.test_xpass").outcome, P);
    assert_eq!(named(&rs, "tests.test_demo.test_fail").note.as_deref(), Some("AssertionError: lists differ"));
    assert_eq!(named(&rs, "tests.test_demo.TestGroup.test_method").outcome, P);

    let rs = ok("junit/go-junit-report-001-pass-fail-skip.xml");
    assert_eq!(data(named(&rs, "package/pass.TestPass"), "go.version"), ["1.0"]);
    let rs = ok("junit/go-junit-report-012-subtests.xml");
    assert_eq!(named(&rs, "package/subtests.TestSubtests/Subtest#01").outcome, F);
    let rs = ok("junit/go-junit-report-014-panic.xml");
    assert_eq!(named(&rs, "package/panic.Failure").note.as_deref(), Some("Runtime error"));
    named(&rs, "package/panic2.Failure");
    let rs = ok("junit/gotestsum-report.xml");
    assert_eq!(rs[0].testcase.name, "gotest.tools/gotestsum/testjson/internal/badmain.TestMain");
    assert_eq!(data(&rs[0], "timestamp"), ["0001-01-01T00:00:00Z"]);
    let rs = ok("junit/jest-junit-dorny.xml");
    named(&rs, "Test 1 › Test 1.1.Failing test");
    assert_eq!(named(&rs, "__tests__\\second.test.js.Timeout test").outcome, F);
    let rs = ok("junit/ctest-output-junit.xml");
    assert_eq!(data(named(&rs, "smoke_pass"), "junit_status"), ["run"]);
    assert_eq!(data(named(&rs, "slow_timeout"), "cmake_labels"), ["network;slow"]);
    assert_eq!(named(&rs, "missing_binary").outcome, I);
    let rs = ok("junit/no-attributes.xml");
    let names: Vec<&str> = rs.iter().map(|r| r.testcase.name.as_str()).collect();
    assert_eq!(names, ["__unnamed_1", "__unnamed_2", "__unnamed_3", "__unnamed_4"]);
    let rs = ok("junit/xml-entities.xml");
    named(&rs, "Test with \"quotes\" in the test name");
    named(&rs, "Test with 'apostrophe' in the test name");
    assert_eq!(named(&rs, "Test with & in the test name").note.as_deref(), Some("A message with &"));
    assert_eq!(
        named(&rs, "Test with < and > in the test name").note.as_deref(),
        Some("skipped: A message with < and >")
    );
    let rs = ok("junit/unicode-astral.xml");
    named(&rs, "pytest.test 1 헴䜝헱홐㣇㿷䔭𒍺𡓿𠄉㦓");
    assert_eq!(
        named(&rs, "pytest.test 2").note.as_deref(),
        Some("skipped: Some unsupported unicode characters: 헴䜝헱홐㣇㿷䔭𒍺𡓿𠄉㦓")
    );
    let rs = ok("junit/nested-testsuite-in-testsuite.xml");
    assert_eq!(data(named(&rs, "someName.TestCase3"), "suite"), ["Project Test Suite / TestSuite2 / TestSuite2.1"]);
    let rs = ok("junit/nextest-basic.xml");
    let t = named(&rs, "oxidized_navigation::parry3d.test_failure");
    assert_eq!(data(t, "timestamp"), ["2024-12-02T20:06:10.513+00:00"]);
    assert_eq!(data(t, "classname"), ["oxidized_navigation::parry3d"]);
    assert_eq!(t.note.as_deref(), Some("thread 'test_failure' panicked at tests/parry3d.rs:154:5:"));
}

#[test]
fn junit_outcome_and_data_facts() {
    let rs = ok("junit/testmo-junit-complete.xml");
    let t8 = named(&rs, "Tests.Registration.testCase8");
    assert_eq!(data(t8, "attachment"), ["screenshots/dashboard.png", "screenshots/users.png"]);
    assert_eq!(data(t8, "priority"), ["high"]);
    for r in &rs {
        assert_eq!(data(r, "version"), ["1.774"]);
        assert_eq!(data(r, "commit"), ["ef7bebf"]);
        assert_eq!(data(r, "browser"), ["Google Chrome"]);
        assert_eq!(data(r, "ci"), ["https://github.com/actions/runs/1234"]);
        assert!(data(r, "config")[0].contains("Config line #2"));
    }
    assert_eq!(named(&rs, "Tests.Registration.testCase6").note.as_deref(), Some("Division by zero."));
    assert_eq!(named(&rs, "Tests.Registration.testCase4").note.as_deref(), Some("skipped: Test was skipped."));

    let rs = ok("junit/pytest-xunit1-junit_logging-all.xml");
    let t = named(&rs, "tests.test_demo.test_output_and_property");
    assert_eq!(data(t, "rpm_nvr"), ["xchat-2.8.8-21.fc20"]);
    assert_eq!((data(t, "file"), data(t, "line")), (vec!["tests/test_demo.py"], vec!["9"]));
    assert_eq!(
        named(&rs, "tests.test_demo.test_setup_error").note.as_deref(),
        Some("failed on setup with \"RuntimeError: fixture setup exploded\"")
    );

    let rs = ok("junit/pytest-horovod-fail.xml");
    let t = named(&rs, "test.test_spark.SparkTests.test_rsh_events");
    assert_eq!(t.note.as_deref(), Some("self = <test_spark.SparkTests testMethod=test_rsh_events>"));

    let rs = ok("junit/surefire-TEST-StringUtilsTest.xml");
    let t = named(&rs, "action.surefire.report.calc.StringUtilsTest.require_fail");
    assert_eq!(
        t.note.as_deref(),
        Some(
            "Expected: (an instance of java.lang.IllegalArgumentException and exception with message a string containing \"This is unexpected\")"
        )
    );
    assert_eq!(
        named(&rs, "action.surefire.report.calc.StringUtilsTest.require").note.as_deref(),
        Some("java.lang.AssertionError")
    );

    let rs = ok("junit/surefire-flakyFailure.xml");
    assert_eq!((rs[0].outcome.as_str(), data(&rs[0], "flaky")), (P, vec!["true"]));
    assert_eq!(rs[0].note, None);

    let rs = ok("junit/gotestsum-testcase-properties.xml");
    assert_eq!((data(&rs[0], "hello"), data(&rs[0], "other")), (vec!["world"], vec!["side"]));

    let rs = ok("junit/node-test-runner-junit.xml");
    assert_eq!(named(&rs, "test.todo: flaky network").outcome, F);
    assert_eq!(named(&rs, "test.upgrades from previous release").outcome, P);
    assert_eq!(data(named(&rs, "test.removes package"), "suite"), ["install suite"]);

    let rs = ok("junit/gitlab-attachments.xml");
    for r in &rs {
        assert_eq!((data(r, "item"), data(r, "type")), (vec!["anaconda-40.22.3-1.fc40"], vec!["koji_build"]));
    }
    let failing = rs.iter().find(|r| r.outcome == F).unwrap();
    assert_eq!(
        data(failing, "attachment"),
        ["tmp/capybara/disk_page_failure.png", "tmp/capybara/disk_page_failure.html"]
    );
    assert_eq!(rs[3].ref_url.as_deref(), Some("https://gitlab.example.com/qa/rig/-/jobs/771201"));
    assert_eq!(data(&rs[0], "file"), ["./spec/installer/language_spec.rb"]);

    let rs = ok("junit/minimal-attributes.xml");
    assert!(rs.iter().all(|r| r.note.is_none()));
    let rs = ok("junit/multiresult.xml");
    assert_eq!((rs[0].outcome.as_str(), rs[0].note.as_deref()), (E, Some("test teardown failure")));
    let rs = ok("junit/bazel-suite-logs-cdata.xml");
    assert_eq!(rs[0].note.as_deref(), Some("exited with error code 1"));
    let rs = ok("junit/catch2-report.xml");
    assert_eq!(data(&rs[0], "filters"), ["is constant evaluated"]);
    assert_eq!(rs[0].note.as_deref(), Some("REQUIRE(v == 1) expands to 0 == 10"));
    let rs = ok("junit/testsuite-root-element.xml");
    assert_eq!(rs[0].testcase.name, "Suite.test");
}

#[test]
fn ctrf_facts() {
    let rs = ok("ctrf/ctrf-with-retries.json");
    let flaky = named(&rs, "flaky test");
    assert_eq!((data(flaky, "flaky"), data(flaky, "retries")), (vec!["True"], vec!["2"]));
    let rs = ok("ctrf/ctrf-comprehensive.json");
    named(&rs, "Authentication.Login.user can login");
    let failed = named(&rs, "Admin.Dashboard.admin dashboard loads");
    assert_eq!(failed.note.as_deref(), Some("Element not found: .dashboard-metrics"));
    assert_eq!(data(failed, "tags"), ["regression"]);
    assert_eq!(data(named(&rs, "Authentication.Login.user can login"), "labels.owners"), ["qa", "platform"]);
}

#[test]
fn subunit_facts() {
    let rs = ok("subunit/rig-v2.subunit");
    let t = |n: &str| named(&rs, &format!("rig.tests.TestStorage.{n}"));
    assert_eq!(t("test_pass").outcome, P);
    assert_eq!(data(t("test_pass"), "tags"), ["worker-0"]);
    assert_eq!(t("test_fail").note.as_deref(), Some("AssertionError: 'ext4' != 'xfs'"));
    assert_eq!(
        (t("test_skip").outcome.as_str(), t("test_skip").note.as_deref()),
        (I, Some("skipped: reason: requires UEFI"))
    );
    assert_eq!(t("test_xfail").outcome, I);
    assert_eq!(t("test_uxsuccess").outcome, F);
    assert!(rs.iter().all(|r| !r.testcase.name.ends_with("test_exists_only")));
}

#[test]
fn jsonl_error_stops_before_later_lines() {
    // The spool discards the file on error; the parser must not reach line 3.
    let data = bytes("bad/resultsdb-jsonl-truncated-line.jsonl");
    let mut seen = Vec::new();
    let r = parse(Format::JsonLines, &data[..], &ParseOptions::default(), |r| {
        seen.push(r.testcase.name);
        Ok::<(), FormatError>(())
    });
    assert_eq!(r.unwrap_err().line(), Some(2));
    assert_eq!(seen, ["rig.a"]);
}
