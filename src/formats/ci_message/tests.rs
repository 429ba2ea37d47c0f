//! Table tests of the CI message mapping, and the golden test that maps every fixture in
//! `fixtures/ci-messages/` and compares it with its `MANIFEST.md` row.

use super::*;
use serde_json::json;

fn map(topic: &str, body: &Value) -> Result<Mapped, MapError> {
    map_message(topic, body, &Outcomes::default_set(), &InputLimits::default())
}

/// A complete 1.x koji-build message with `edit` applied to its body.
fn koji(event: &str, edit: impl FnOnce(&mut Value)) -> (String, Value) {
    let mut body = json!({
        "contact": {"name": "CI", "team": "Team", "email": "ci@example.org", "docs": "https://docs"},
        "run": {"url": "https://ci/run/1", "log": "https://ci/run/1/log"},
        "artifact": {"type": "koji-build", "id": 42, "component": "bash", "nvr": "bash-5.2-1.fc40",
                     "issuer": "me", "scratch": false},
        "pipeline": {"id": "p1", "name": "pipe"},
        "test": {"namespace": "fedora-ci.koji-build", "type": "tier0", "category": "functional", "result": "passed"},
        "system": [{"os": "fedora-40", "provider": "tf", "architecture": "aarch64"}],
        "version": "1.1.14"
    });
    edit(&mut body);
    (format!("org.centos.prod.ci.koji-build.test.{event}"), body)
}

fn one(topic: &str, body: &Value) -> ResultInput {
    let mapped = map(topic, body).unwrap_or_else(|e| panic!("{topic}: {e}"));
    assert_eq!(mapped.results.len(), 1);
    mapped.results.into_iter().next().unwrap_or_else(|| unreachable!())
}

fn err(topic: &str, body: &Value) -> String {
    match map(topic, body) {
        Ok(m) => panic!("{topic} mapped: {m:?}"),
        Err(e) => e.to_string(),
    }
}

fn d<'a>(r: &'a ResultInput, key: &str) -> Vec<&'a str> {
    r.data.get(key).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default()
}

#[test]
fn topics() {
    let cases: &[(&str, Option<(&str, Event)>)] = &[
        ("org.centos.prod.ci.koji-build.test.complete", Some(("koji-build", Event::Complete))),
        ("/topic/VirtualTopic.eng.ci.brew-build.test.error", Some(("brew-build", Event::Error))),
        ("VirtualTopic.eng.ci.osci.redhat-module.test.queued", Some(("redhat-module", Event::Queued))),
        ("org.centos.prod.ci.koji-build-group.test.running", Some(("koji-build-group", Event::Running))),
        ("koji-build.test.complete", Some(("koji-build", Event::Complete))),
        ("org.centos.prod.ci.koji-build.build.complete", None),
        ("org.centos.prod.ci.koji-build.test.done", None),
        (".test.complete", None),
        ("", None),
    ];
    for (topic, want) in cases {
        assert_eq!(parse_topic(topic), *want, "{topic}");
    }
}

#[test]
fn outcomes_per_event_and_result() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("queued", None, "QUEUED"),
        ("running", None, "RUNNING"),
        ("complete", Some("passed"), "PASSED"),
        ("complete", Some("failed"), "FAILED"),
        ("complete", Some("info"), "INFO"),
        ("complete", Some("needs_inspection"), "NEEDS_INSPECTION"),
        ("complete", Some("pass"), "PASSED"),
        ("complete", Some("FAILURE"), "FAILED"),
        ("complete", Some("fail"), "FAILED"),
    ];
    for (event, result, want) in cases {
        let (topic, body) = koji(event, |b| match result {
            Some(r) => b["test"]["result"] = json!(r),
            None => drop(b["test"].as_object_mut().and_then(|t| t.remove("result"))),
        });
        assert_eq!(one(&topic, &body).outcome, *want, "{event} {result:?}");
    }
}

#[test]
fn result_not_allowed_is_rejected_naming_the_field() {
    let (topic, body) = koji("complete", |b| b["test"]["result"] = json!("not_applicable"));
    let e = err(&topic, &body);
    assert!(e.contains("test.result \"not_applicable\" is not an allowed outcome"), "{e}");
    let (topic, body) = koji("complete", |b| b["test"]["result"] = json!("weird"));
    assert!(err(&topic, &body).starts_with("test.result \"weird\" is not an allowed outcome"));
    // An operator who allows NOT_APPLICABLE gets it.
    let extra = Outcomes::new(&["NOT_APPLICABLE"]).unwrap_or_else(|e| panic!("{e}"));
    let (topic, body) = koji("complete", |b| b["test"]["result"] = json!("not_applicable"));
    let m = map_message(&topic, &body, &extra, &InputLimits::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.results[0].outcome, "NOT_APPLICABLE");
}

#[test]
fn queued_and_error_without_their_outcomes_allowed() {
    let presets = Outcomes::new::<&str>(&[]).unwrap_or_else(|e| panic!("{e}"));
    let (topic, body) = koji("queued", |_| {});
    let e = map_message(&topic, &body, &presets, &InputLimits::default()).map(|_| ()).unwrap_err().to_string();
    assert!(e.starts_with("topic \"QUEUED\" is not an allowed outcome"), "{e}");
    // ERROR falls back to FAILED with the fact and the reason in the note.
    let (topic, body) = koji("error", |b| b["error"] = json!({"reason": "infra down"}));
    let m = map_message(&topic, &body, &presets, &InputLimits::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.results[0].outcome, "FAILED");
    assert_eq!(m.results[0].note.as_deref(), Some("error: infra down"));
}

#[test]
fn error_event_note_and_data() {
    let (topic, body) = koji("error", |b| {
        b["error"] = json!({"reason": "x".repeat(300), "issue_url": "https://issue/1"});
    });
    let r = one(&topic, &body);
    assert_eq!(r.outcome, "ERROR");
    assert_eq!(r.note.as_deref().map(str::len), Some(300));
    assert_eq!(d(&r, "error_reason")[0].chars().count(), 256);
    assert_eq!(d(&r, "issue_url"), ["https://issue/1"]);
    let (topic, body) = koji("error", |_| {});
    assert_eq!(err(&topic, &body), "error.reason is missing");
}

#[test]
fn testcase_ref_url_item_type_and_common_data() {
    let (topic, body) = koji("complete", |b| b["test"]["docs"] = json!("https://docs/test"));
    let r = one(&topic, &body);
    assert_eq!(r.testcase.name, "fedora-ci.koji-build.tier0.functional");
    assert_eq!(r.testcase.ref_url, Some(Some("https://docs/test".to_owned())));
    assert_eq!(r.ref_url.as_deref(), Some("https://ci/run/1"));
    assert_eq!(d(&r, "item"), ["bash-5.2-1.fc40"]);
    assert_eq!(d(&r, "type"), ["koji_build"]);
    assert_eq!(d(&r, "brew_task_id"), ["42"]);
    assert_eq!(d(&r, "scratch"), ["False"]);
    assert_eq!(d(&r, "system_architecture"), ["aarch64"]);
    assert_eq!(d(&r, "ci_url"), ["not available"]);
    assert_eq!(d(&r, "pipeline_id"), ["p1"]);
    let (topic, body) = koji("complete", |b| b["artifact"]["scratch"] = json!("true"));
    assert_eq!(d(&one(&topic, &body), "type"), ["koji_build_scratch"]);
}

#[test]
fn artifacts() {
    let cases: &[(&str, Value, &str, &str)] = &[
        (
            "fedora-update",
            json!({"type": "fedora-update", "id": "sha256:ab", "alias": "FEDORA-2024-1"}),
            "FEDORA-2024-1",
            "bodhi_update",
        ),
        ("fedora-update", json!({"type": "fedora-update", "id": "FEDORA-2024-2"}), "FEDORA-2024-2", "bodhi_update"),
        (
            "koji-build-group",
            json!({"type": "koji-build-group", "id": "f40-build-side-1"}),
            "f40-build-side-1",
            "koji-build-group",
        ),
        (
            "productmd-compose",
            json!({"type": "productmd-compose", "compose_id": "Fedora-40-20240301.n.0"}),
            "Fedora-40-20240301.n.0",
            "compose",
        ),
        (
            "redhat-module",
            json!({"type": "redhat-module", "nsvc": "perl:5.30-x:820:abc"}),
            "perl-5.30_x-820.abc",
            "redhat-module",
        ),
        (
            "redhat-container-image",
            json!({"type": "redhat-container-image", "id": "sha256:cd", "nvr": "img-1-1"}),
            "sha256:cd",
            "redhat-container-image",
        ),
    ];
    for (kind, artifact, item, ty) in cases {
        let mut body = koji("complete", |_| {}).1;
        body["artifact"] = artifact.clone();
        let r = one(&format!("org.centos.prod.ci.{kind}.test.complete"), &body);
        assert_eq!((d(&r, "item")[0], d(&r, "type")[0]), (*item, *ty), "{kind}");
    }
}

/// A change to a test message's body.
type Edit = fn(&mut Value);

#[test]
fn rejections_name_the_field() {
    let cases: &[(&str, Edit, &str)] = &[
        ("complete", |b| drop(b["artifact"].as_object_mut().and_then(|a| a.remove("nvr"))), "artifact.nvr is missing"),
        ("complete", |b| b["artifact"]["nvr"] = json!(["x"]), "artifact.nvr must be a string"),
        (
            "complete",
            |b| drop(b["test"].as_object_mut().and_then(|t| t.remove("namespace"))),
            "test.namespace is missing",
        ),
        ("complete", |b| drop(b["test"].as_object_mut().and_then(|t| t.remove("result"))), "test.result is missing"),
        ("complete", |b| drop(b["run"].as_object_mut().and_then(|r| r.remove("url"))), "run.url is missing"),
        ("complete", |b| drop(b["run"].as_object_mut().and_then(|r| r.remove("log"))), "run.log is missing"),
        ("complete", |b| drop(b.as_object_mut().and_then(|o| o.remove("contact"))), "contact is missing"),
        ("complete", |b| drop(b.as_object_mut().and_then(|o| o.remove("test"))), "test is missing"),
        ("complete", |b| b["artifact"]["type"] = json!("brew-build"), "artifact.type \"brew-build\" does not match"),
        ("complete", |b| b["version"] = json!("one"), "version \"one\" is not a version"),
        ("complete", |b| b["artifact"]["scratch"] = json!(1), "artifact.scratch must be a boolean"),
    ];
    for (event, edit, want) in cases {
        let (topic, body) = koji(event, edit);
        let e = err(&topic, &body);
        assert!(e.starts_with(want), "{e:?} should start with {want:?}");
    }
    assert!(
        err("org.centos.prod.ci.pull-request.test.complete", &koji("complete", |_| {}).1)
            .starts_with("artifact type \"pull-request\" is not supported")
    );
    assert!(err("org.fedoraproject.prod.bodhi.update.edit", &json!({"x": 1})).starts_with("topic "));
    assert_eq!(err("x.koji-build.test.complete", &json!([1])), "message body is not a JSON object");
    let (topic, body) = koji("complete", |b| b["artifact"]["nsvc"] = json!("a:b"));
    let mut body = body;
    body["artifact"]["type"] = json!("redhat-module");
    let e = err(&topic.replace("koji-build", "redhat-module"), &body);
    assert!(e.starts_with("artifact.nsvc \"a:b\" is not name:stream:version:context"), "{e}");
}

#[test]
fn version_0_1_layout() {
    let body = json!({
        "ci": {"name": "CI", "team": "T", "email": "e@x"},
        "run": {"url": "https://r", "log": "https://r/log"},
        "artifact": {"type": "brew-build", "nvr": "a-1-1", "component": "a"},
        "namespace": "ns", "type": "tier1", "category": "functional", "status": "FAILED",
        "recipients": ["a", "b"], "version": "0.1.0"
    });
    let r = one("/topic/VirtualTopic.eng.ci.brew-build.test.complete", &body);
    assert_eq!((r.testcase.name.as_str(), r.outcome.as_str()), ("ns.tier1.functional", "FAILED"));
    assert_eq!(d(&r, "recipients"), ["a", "b"]);
    assert_eq!(d(&r, "ci_name"), ["CI"]);
}

#[test]
fn long_values_are_cropped_and_caps_still_apply() {
    let limits = InputLimits { value_chars: 10, note_chars: 5, ..InputLimits::default() };
    let (topic, body) = koji("complete", |b| b["test"]["note"] = json!("a long note"));
    let m = map_message(&topic, &body, &Outcomes::default_set(), &limits).unwrap_or_else(|e| panic!("{e}"));
    assert!(m.results[0].data.values().flatten().all(|v| v.chars().count() <= 10));
    assert_eq!(m.results[0].note.as_deref(), Some("a lo…"));
    let limits = InputLimits { values: 3, ..InputLimits::default() };
    let e = map_message(&topic, &body, &Outcomes::default_set(), &limits).map(|_| ()).unwrap_err();
    assert!(matches!(e, MapError::Result(_)), "{e}");
}

#[test]
fn resultsdb_shaped_body_is_validated_as_post_results() {
    let body = json!({"testcase": "t", "outcome": "passed", "uuid": "0190b0a8-0000-7000-8000-000000000001",
                      "data": {"item": "x"}});
    let m = map("any.topic", &body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((m.kind, m.id.as_deref()), ("resultsdb", Some("0190b0a8-0000-7000-8000-000000000001")));
    assert_eq!(
        m.results[0],
        crate::model::parse_create_result(&body, &Outcomes::default_set(), &InputLimits::default())
            .unwrap_or_else(|e| panic!("{e}"))
    );
    let e = err("org.centos.prod.ci.koji-build.test.complete", &json!({"testcase": "t", "outcome": "WEIRD"}));
    assert!(e.starts_with("result: outcome: Value error, must be one of"), "{e}");
}

/// One row of the MANIFEST's "Mapped" table.
struct Row {
    fixture: String,
    cells: Vec<String>,
}

fn manifest_rows(section: &str) -> Vec<Row> {
    let dir = format!("{}/fixtures/ci-messages", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(format!("{dir}/MANIFEST.md")).unwrap_or_else(|e| panic!("{e}"));
    let body = text.split(&format!("## {section}")).nth(1).unwrap_or_else(|| panic!("no section {section}"));
    body.lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> =
                l.trim_matches('|').split(" | ").map(|c| c.trim().trim_matches('`').to_owned()).collect();
            Row { fixture: cells[0].clone(), cells }
        })
        .collect()
}

fn fixture(rel: &str) -> (String, Value) {
    let path = format!("{}/fixtures/ci-messages/{rel}", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    (v["topic"].as_str().unwrap_or_else(|| panic!("{path}: no topic")).to_owned(), v["body"].clone())
}

#[test]
fn golden_fixtures_match_the_manifest() {
    let rows = manifest_rows("Mapped");
    assert!(rows.len() >= 10, "{} rows", rows.len());
    for row in &rows {
        let [_, _, testcase, outcome, item, ty, ref_url, note, keys] = &row.cells[..] else {
            panic!("{}: {} cells", row.fixture, row.cells.len());
        };
        let (topic, body) = fixture(&row.fixture);
        let r = one(&topic, &body);
        let f = &row.fixture;
        assert_eq!(&r.testcase.name, testcase, "{f}");
        assert_eq!(&r.outcome, outcome, "{f}");
        assert_eq!(d(&r, "item"), [item.as_str()], "{f}");
        assert_eq!(d(&r, "type"), [ty.as_str()], "{f}");
        assert_eq!(r.ref_url.as_deref(), Some(ref_url.as_str()), "{f}");
        assert_eq!(r.note.as_deref().unwrap_or("—"), note, "{f}");
        let want: Vec<&str> = keys.split(", ").collect();
        let got: Vec<&str> = r.data.keys().map(String::as_str).collect();
        assert_eq!(got, want, "{f}");
    }
    // Every fixture on disk has a row.
    let dir = format!("{}/fixtures/ci-messages", env!("CARGO_MANIFEST_DIR"));
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")) {
        let name = e.unwrap_or_else(|e| panic!("{e}")).file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            assert!(rows.iter().any(|r| r.fixture == name), "{name} has no MANIFEST row");
        }
    }
}

#[test]
fn golden_bad_fixtures_are_rejected_with_their_reason() {
    let rows = manifest_rows("Rejected");
    assert!(!rows.is_empty());
    for row in rows {
        let (topic, body) = fixture(&row.fixture);
        let e = err(&topic, &body);
        assert!(e.contains(&row.cells[2]), "{}: {e:?} lacks {:?}", row.fixture, row.cells[2]);
    }
}
