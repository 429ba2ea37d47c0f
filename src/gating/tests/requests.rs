//! Decision tables, continued: remote rules, fetch plans, request validation and policy
//! files (the helpers are the parent module's).

use super::*;

// -------------------------------------------------------------------------------------
// Remote rules
// -------------------------------------------------------------------------------------

struct FakeRemote(HashMap<String, RemoteFetch>);

impl RemoteRules for FakeRemote {
    fn templates(&self, _subject_type: &str) -> Option<Vec<String>> {
        Some(vec!["file:///missing/{subject_id}.yaml".into(), "file:///gating/{pkg_name}/{rev}.yaml".into()])
    }

    fn scm(&self, _identifier: &str) -> Result<Option<(String, String, String)>, String> {
        Ok(Some(("rpms".into(), "nethack".into(), "abc".into())))
    }

    fn fetch(&self, url: &str) -> RemoteFetch {
        self.0.get(url).cloned().unwrap_or(RemoteFetch::NotFound)
    }
}

fn remote_with(text: Option<&str>) -> FakeRemote {
    let mut m = HashMap::new();
    if let Some(t) = text {
        m.insert("file:///gating/nethack/abc.yaml".to_owned(), RemoteFetch::Found(t.to_owned()));
    }
    FakeRemote(m)
}

#[test]
fn remote_rules() {
    let body = request(json!({"decision_context": "remote_ctx"}));
    let results = [res(1, "remote.test", "PASSED", 1, &[])];
    let remote = remote_with(Some(&fixture("remote/gating.yaml")));
    let d = decide_with(&gate(), body.clone(), &results, &[], &remote);
    let source = "file:///gating/nethack/abc.yaml";
    assert_eq!(
        d["satisfied_requirements"],
        json!([
            {"type": "fetched-gating-yaml", "testcase": "fetched-gating-yaml", "subject_type": "koji_build",
             "subject_identifier": NVR, "source": source},
            {"type": "test-result-passed", "testcase": "remote.test", "subject_type": "koji_build",
             "subject_identifier": NVR, "source": source, "result_id": 1, "scenario": null,
             "system_architecture": null, "system_variant": null},
        ])
    );
    assert_eq!(d["summary"], json!("All required tests (1 total) have passed or been waived"));
    // Not found and required.
    let d = decide_with(&gate(), body.clone(), &results, &[], &remote_with(None));
    let missing = json!({"type": "missing-gating-yaml", "testcase": "missing-gating-yaml",
        "subject_type": "koji_build", "subject_identifier": NVR, "scenario": null,
        "sources": ["file:///missing/nethack-3.6.6-1.fc32.yaml", source]});
    assert_eq!(d["unsatisfied_requirements"], json!([missing]));
    assert_eq!(d["summary"], json!("1 error due to missing remote rule file"));
    // Waived remote-rule failures vanish.
    let w = [wv(1, "missing-gating-yaml", true, 2, "alice")];
    let d = decide_with(&gate(), body.clone(), &results, &w, &remote_with(None));
    assert_eq!(d["unsatisfied_requirements"], json!([]));
    assert_eq!(d["satisfied_requirements"], json!([]));
    // Invalid file.
    let d = decide_with(&gate(), body.clone(), &results, &[], &remote_with(Some("--- !Policy\nrules: []\n")));
    assert_eq!(types(&d["unsatisfied_requirements"]), vec!["invalid-gating-yaml"]);
    assert_eq!(d["unsatisfied_requirements"][0]["details"], json!("Policy 'untitled': No decision contexts provided"));
    assert_eq!(d["summary"], json!("1 error due to invalid remote rule file"));
    // Not configured: 502, as upstream.
    let req = gate().plan(Some(&body)).unwrap();
    let data = [SubjectData::default()];
    assert_eq!(
        gate().decide(&req, &data, NOW, &NoRemoteRules, &render),
        Err(DecisionError::BadGateway("Unexpected error while fetching remote policies".into()))
    );
    // Fetch plans ask for all testcases when a remote rule may add some.
    assert_eq!(req.subjects[0].result_fetch(&req).testcases, None);
}

// -------------------------------------------------------------------------------------
// Fetch plans
// -------------------------------------------------------------------------------------

#[test]
fn fetch_plans_name_testcases_and_queries() {
    let ctx = json!(["bodhi_update_push_stable", "bodhi_update_push_stable_critpath"]);
    let g = gate();
    let req = g.plan(Some(&request(json!({"decision_context": ctx, "when": "2021-01-01T00:00:00.5"})))).unwrap();
    let f = req.subjects[0].result_fetch(&req);
    assert_eq!(
        f.testcases,
        Some(vec!["compose.install".to_owned(), "dist.abicheck".to_owned(), "dist.rpmdeplint".to_owned()])
    );
    assert_eq!(f.queries.len(), 2);
    assert_eq!(f.until.map(|t| t.to_iso()), Some("2021-01-01T00:00:00.500000".to_owned()));
    let w = req.subjects[0].waiver_fetch();
    assert_eq!(w.subject_types, vec!["koji_build", "brew-build"]);
    assert_eq!(w.subject_identifier, NVR);
    let req = g.plan(Some(&request(json!({"verbose": true})))).unwrap();
    assert_eq!(req.subjects[0].result_fetch(&req).testcases, None);
}

// -------------------------------------------------------------------------------------
// Request validation: every message and status
// -------------------------------------------------------------------------------------

#[test]
fn validation_errors_in_upstream_order() {
    let bad = |m: &str| DecisionError::BadRequest(m.to_owned());
    assert_eq!(gate().plan(None), Err(DecisionError::UnsupportedMediaType("No JSON payload in request".into())));
    assert_eq!(plan_err(json!({})), DecisionError::UnsupportedMediaType("No JSON payload in request".into()));
    assert_eq!(plan_err(json!({"decision_context": "x"})), bad("Missing required product version"));
    assert_eq!(plan_err(json!({"product_version": ""})), bad("Missing required product version"));
    assert_eq!(plan_err(json!({"product_version": "f"})), bad("Either decision_context or rules is required."));
    assert_eq!(
        plan_err(json!({"product_version": "f", "decision_context": "x", "rules": [passing("t")]})),
        bad("Cannot have both decision_context and rules")
    );
    assert_eq!(plan_err(request(json!({"verbose": "yes"}))), bad("Invalid verbose flag, must be a bool"));
    let when = bad("Invalid \"when\" parameter, must be in ISO8601 format");
    for w in ["2021-01-01", "2021-01-01T00:00:00", "2021-01-01T00:00:00.0Z", "yesterday"] {
        assert_eq!(plan_err(request(json!({"when": w}))), when, "{w}");
    }
    assert_eq!(plan_err(request(json!({"when": 5}))), when);
    assert_eq!(plan_err(request(json!({"subject": []}))), bad("Invalid subject, must be a list of dicts"));
    assert_eq!(plan_err(request(json!({"subject": ["x"]}))), bad("Invalid subject, must be a list of dicts"));
    assert_eq!(plan_err(request(json!({"subject": [{"item": "x"}]}))), bad("Could not detect subject_identifier."));
    assert_eq!(
        plan_err(request(json!({"subject": [{"type": "koji_build", "item": 5}]}))),
        bad("Subject item/identificator must be a string")
    );
    let mut body = request(json!({}));
    body.as_object_mut().unwrap().remove("subject_type");
    assert_eq!(plan_err(body.clone()), bad("Missing required \"subject_type\" parameter"));
    body["subject_type"] = json!("koji_build");
    body.as_object_mut().unwrap().remove("subject_identifier");
    assert_eq!(plan_err(body), bad("Missing required \"subject_identifier\" parameter"));
    assert_eq!(plan_err(request(json!({"subject_identifier": 5}))), bad("Subject item/identificator must be a string"));
    assert_eq!(
        plan_err(request(json!({"subject_type": "compose", "subject_identifier": "C-1"}))),
        DecisionError::NotFound(
            "Found no applicable policies for compose subjects at gating point(s) bodhi_update_push_stable in fedora-32"
                .into()
        )
    );
    // On-demand policy errors come before the flag checks (upstream parses them first).
    assert_eq!(
        plan_err(rules(json!([{"type": "Nope"}])).merge(json!({"verbose": 1}))),
        bad("Failed to parse on demand policy: Attribute 'rules': Key 'type' for an list item is not valid: Nope")
    );
    // A 404 for an earlier subject wins over a bad later subject.
    let body = request(json!({"subject": [{"productmd.compose.id": "C-1"}, {"item": "x"}]}));
    assert!(matches!(plan_err(body), DecisionError::NotFound(_)));
    assert_eq!(plan_err(request(json!({"ignore_result": 5}))), bad("Invalid ignore_result, must be a list of ints"));
}

#[test]
fn subject_dicts_find_types_like_upstream() {
    let g = gate();
    let plan = |subject: Value, ctx: &str| {
        let body = json!({"product_version": "fedora-32", "decision_context": ctx, "subject": [subject]});
        g.plan(Some(&body)).map(|r| {
            r.subjects
                .iter()
                .map(|s| (s.subject.type_id().to_owned(), s.subject.identifier.clone()))
                .collect::<Vec<_>>()
        })
    };
    let koji = |id: &str| Ok(vec![("koji_build".to_owned(), id.to_owned())]);
    assert_eq!(plan(json!({"original_spec_nvr": NVR}), "bodhi_update_push_stable"), koji(NVR));
    assert_eq!(plan(json!({"type": "brew-build", "item": NVR}), "bodhi_update_push_stable"), koji(NVR));
    assert_eq!(plan(json!({"type": "koji_build", "item": NVR}), "bodhi_update_push_stable"), koji(NVR));
    let update = plan(json!({"type": "bodhi_update", "item": "FEDORA-1"}), "update_ctx");
    assert_eq!(update, Ok(vec![("bodhi_update".to_owned(), "FEDORA-1".to_owned())]));
}

// -------------------------------------------------------------------------------------
// Policy files: loading, errors with file and line, JSON
// -------------------------------------------------------------------------------------

fn load_error(file: &str) -> PolicyError {
    let text = fixture(&format!("bad/{file}"));
    parse_policies(file, &text, PolicyKind::Local).unwrap_err()
}

#[test]
fn policy_file_errors_name_file_line_and_reason() {
    let cases = [
        ("missing_id.yaml", 8, "Policy 'untitled': Attribute 'id' is required"),
        (
            "obsolete_rule.yaml",
            8,
            "Policy 'old': Attribute 'rules': !PackageSpecificBuild is obsolete. Please use the \"packages\" allowlist instead.",
        ),
        (
            "both_contexts.yaml",
            1,
            "Policy 'twice': Both properties \"decision_contexts\" and \"decision_context\" were set",
        ),
        (
            "bad_bool.yaml",
            7,
            "Policy 'remote': Attribute 'rules': YAML object !RemoteRule: Attribute 'required': Expected a boolean value, got: 1",
        ),
        (
            "unknown_tag.yaml",
            8,
            "Policy 'tagged': Attribute 'rules': could not determine a constructor for the tag '!NoSuchRule'",
        ),
        ("not_mapping.yaml", 1, "Expected mapping for !Policy tagged object"),
        ("no_subject_type.yaml", 1, "Policy 'typeless': No subject types provided"),
        (
            "product_versions_scalar.yaml",
            3,
            "Policy 'scalar': Attribute 'product_versions': expected a sequence node, but found scalar",
        ),
        (
            "missing_test_case_name.yaml",
            8,
            "Policy 'nameless': Attribute 'rules': YAML object !PassingTestCaseRule: Attribute 'test_case_name' is required",
        ),
    ];
    for (file, line, message) in cases {
        let e = load_error(file);
        assert_eq!((e.file.as_str(), e.line, e.message.as_str()), (file, line, message), "{file}");
    }
    let e = load_error("syntax.yaml");
    assert!(e.message.starts_with("YAML Parser Error: "), "{}", e.message);
    assert_eq!(e.line, 4, "{e}");
    assert!(e.to_string().starts_with("syntax.yaml:4: YAML Parser Error"), "{e}");
}

#[test]
fn a_directory_reports_every_bad_file() {
    let files: Vec<(String, String)> = ["syntax.yaml", "missing_id.yaml"]
        .iter()
        .map(|f| ((*f).to_owned(), fixture(&format!("bad/{f}"))))
        .chain([("good.yaml".to_owned(), fixture("gating/fedora.yaml"))])
        .collect();
    let errs = load_policies(&files).unwrap_err();
    let names: Vec<&str> = errs.0.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(names, vec!["missing_id.yaml", "syntax.yaml"]);
    assert!(errs.to_string().contains("missing_id.yaml:8: Policy 'untitled'"));
}

#[test]
fn policies_json_shape() {
    let j = gate().policies_json();
    assert_eq!(
        j["policies"][0],
        json!({"id": "lab_gate", "product_versions": ["fedora-*"], "decision_context": null,
            "decision_contexts": ["bodhi_update_push_stable"], "subject_type": "koji_build", "subject_types": [],
            "excluded_packages": ["python2-*"], "packages": [], "relevance_key": null, "relevance_value": null,
            "rules": [{"rule": "PassingTestCaseRule", "test_case_name": "dist.rpmdeplint", "scenario": null},
                      {"rule": "PassingTestCaseRule", "test_case_name": "compose.install", "scenario": "x86_64.uefi"}]})
    );
    let ids: Vec<&str> = j["policies"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        vec!["lab_gate", "critpath", "allowlist", "nothing_required", "compose_gate", "update_gate", "remote_gate"]
    );
    assert_eq!(j["policies"][5]["relevance_key"], json!("foo"));
    assert_eq!(j["policies"][6]["rules"][0], json!({"rule": "RemoteRule", "required": true, "sources": []}));
    assert_eq!(gate().subject_types_json()["subject_types"][2]["aliases"], json!(["brew-build"]));
}

#[test]
fn validate_gating_yaml_messages() {
    let parents = gate().policies;
    assert_eq!(validate_gating_yaml(&fixture("remote/gating.yaml"), &parents), Ok(
        "Greenwave could not find a parent policy(ies) for following decision context(s): some_other_ctx. Please change your policy so that it will match a decision context in the parent policies.".into()
    ));
    let ok = "--- !Policy\ndecision_context: remote_ctx\nrules: []\n";
    assert_eq!(validate_gating_yaml(ok, &parents), Ok("All OK".into()));
    assert_eq!(validate_gating_yaml("", &parents), Err("No policies defined".into()));
    assert_eq!(
        validate_gating_yaml("--- !Policy\ndecision_context: c\nrules: [!RemoteRule {}]\n", &parents),
        Err("Policy 'untitled': RemoteRule is not allowed in remote policies".into())
    );
}

#[test]
fn decisions_never_panic_on_odd_input() {
    let g = gate();
    let odd = [
        json!(null),
        json!([1]),
        json!("x"),
        json!({"product_version": 5, "decision_context": "x"}),
        json!({"product_version": "f", "decision_context": [1]}),
        json!({"product_version": "f", "rules": "abc", "subject_type": "t", "subject_identifier": "i"}),
        json!({"product_version": "f", "rules": [{}], "subject": [{}]}),
        json!({"product_version": "f[", "rules": [passing("t")], "subject_type": "t", "subject_identifier": "i"}),
        json!({"product_version": "f", "decision_context": "c", "subject_type": 1, "subject_identifier": "i"}),
    ];
    for body in odd {
        if let Ok(req) = g.plan(Some(&body)) {
            let data: Vec<SubjectData> = req.subjects.iter().map(|_| SubjectData::default()).collect();
            let _ = g.decide(&req, &data, NOW, &NoRemoteRules, &render);
        }
    }
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    /// YAML-ish fragments that reach the policy grammar's corners when shuffled together.
    const PIECES: &[&str] = &[
        "--- !Policy\n",
        "id: x\n",
        "product_versions: [fedora-*]\n",
        "decision_context: c\n",
        "subject_type: koji_build\n",
        "rules:\n",
        "  - !PassingTestCaseRule {test_case_name: t}\n",
        "  - !RemoteRule {required: yes}\n",
        "  - !Nope {}\n",
        "packages: [a\n",
        "- x\n",
        "&a [*a]\n",
        "? k\n",
        "valid_since: 2021-13-45\n",
        "  scenario: [1]\n",
        "...\n",
        "%YAML 1.1\n",
        "{]\n",
        "\t\n",
        "é: ü\n",
    ];

    proptest! {
        #[test]
        fn policy_text_never_panics(idx in proptest::collection::vec(0..PIECES.len(), 0..12), junk in ".{0,40}") {
            let mut text: String = idx.iter().map(|i| PIECES[*i]).collect();
            text.push_str(&junk);
            let _ = parse_policies("f.yaml", &text, PolicyKind::Local);
            let _ = validate_gating_yaml(&text, &[]);
        }

        #[test]
        fn times_and_globs_never_panic(s in ".{0,40}", p in "[a-z*?\\[\\]!-]{0,12}") {
            let _ = crate::model::parse_fromisoformat(&s);
            let _ = crate::model::Since::parse(&s);
            let _ = fnmatch(&s, &p);
        }

        #[test]
        fn decision_bodies_never_panic(pv in "[a-z0-9*\\[-]{0,8}", ctx in proptest::option::of("[a-z_]{0,10}"),
                                       when in ".{0,30}", sub in 0..4usize) {
            let subject = [json!({"item": "x"}), json!({"type": "koji_build", "item": NVR}), json!([1]), json!({"nvr": 5})][sub].clone();
            let body = json!({"product_version": pv, "decision_context": ctx, "when": when, "subject": [subject]});
            let g = gate();
            if let Ok(req) = g.plan(Some(&body)) {
                let data: Vec<SubjectData> = req.subjects.iter().map(|_| SubjectData::default()).collect();
                let _ = g.decide(&req, &data, NOW, &NoRemoteRules, &render);
            }
        }

        #[test]
        fn waiver_bodies_never_panic(fields in proptest::collection::vec((0..8usize, 0..6usize), 0..8)) {
            let names = ["subject_type", "subject_identifier", "testcase", "subject", "result_id", "waived", "comment", "expires_at"];
            let values = [json!(null), json!("x"), json!(1.5), json!({"item": "i"}), json!([]), json!("2030-01-01")];
            let mut obj = serde_json::Map::new();
            for (n, v) in fields {
                obj.insert(names[n].to_owned(), values[v].clone());
            }
            let body = Value::Object(obj);
            let _ = crate::model::parse_create_waivers(&body, NOW);
            let _ = crate::model::parse_create_waivers(&json!([body.clone()]), NOW);
            let _ = crate::model::FilterRequest::parse(&json!({"filters": [body]}));
        }
    }
}
