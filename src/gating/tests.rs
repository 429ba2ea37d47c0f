//! Decision tables for the gating engine: every answer type, waivers (revocation, expiry,
//! scenarios), product-version globs, packages, contexts, subjects, `when`, ignores,
//! on-demand rules, remote rules, validation errors and policy-file errors.

use super::*;
use crate::model::{ResultRecord, TestcaseRecord, WaiverRecord, WaiverView};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

const NVR: &str = "nethack-3.6.6-1.fc32";
const T0: i64 = 1_600_000_000_000_000;
const NOW: Timestamp = Timestamp(T0 + 1_000_000_000);

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(format!("{}/fixtures/policies/{rel}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn gate() -> Gate {
    let files: Vec<(String, String)> =
        ["fedora.yaml", "other.yaml"].iter().map(|f| ((*f).to_owned(), fixture(&format!("gating/{f}")))).collect();
    Gate::new(load_policies(&files).unwrap())
}

/// A result of `item` (a koji_build unless `data` says otherwise) at `T0 + secs`.
fn res(id: i64, testcase: &str, outcome: &str, secs: i64, data: &[(&str, &str)]) -> ResultView {
    let mut d: BTreeMap<String, Vec<String>> = BTreeMap::new();
    d.insert("item".into(), vec![NVR.into()]);
    d.insert("type".into(), vec!["koji_build".into()]);
    for (k, v) in data {
        d.insert((*k).into(), v.split('|').map(str::to_owned).collect());
    }
    ResultView {
        id,
        record: ResultRecord {
            data: d,
            groups: vec![],
            note: None,
            outcome: outcome.into(),
            ref_url: None,
            request: None,
            submit_time: T0 + secs * 1_000_000,
            testcase: TestcaseRecord { name: testcase.into(), ref_url: None },
            uuid: format!("00000000-0000-0000-0000-{id:012}"),
        },
        testcase_ref_url: None,
    }
}

/// A waiver of `testcase` for NVR in fedora-32 by `user` at `T0 + secs`.
fn wv(id: i64, testcase: &str, waived: bool, secs: i64, user: &str) -> WaiverView {
    WaiverView {
        id,
        record: WaiverRecord {
            comment: "because".into(),
            expires_at: None,
            product_version: "fedora-32".into(),
            proxied_by: None,
            scenario: None,
            subject_identifier: NVR.into(),
            subject_type: "koji_build".into(),
            testcase: testcase.into(),
            timestamp: T0 + secs * 1_000_000,
            username: user.into(),
            uuid: format!("10000000-0000-0000-0000-{id:012}"),
            waived,
        },
    }
}

/// `when` needs the fraction, which `to_iso` leaves out when it is zero.
fn when_at(secs: i64) -> String {
    let s = Timestamp(T0 + secs * 1_000_000).to_iso();
    if s.contains('.') { s } else { format!("{s}.000000") }
}

fn with(mut w: WaiverView, f: impl FnOnce(&mut WaiverRecord)) -> WaiverView {
    f(&mut w.record);
    w
}

fn request(extra: Value) -> Value {
    let mut body = json!({"product_version": "fedora-32", "decision_context": "bodhi_update_push_stable",
        "subject_type": "koji_build", "subject_identifier": NVR});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn render(r: &ResultView) -> Value {
    json!({"id": r.id, "outcome": r.record.outcome})
}

/// Plans and decides with the same candidates offered for every subject.
fn decide_with(
    g: &Gate,
    body: Value,
    results: &[ResultView],
    waivers: &[WaiverView],
    remote: &dyn RemoteRules,
) -> Value {
    let req = g.plan(Some(&body)).unwrap();
    let data: Vec<SubjectData> = req.subjects.iter().map(|_| SubjectData { results, waivers, created: None }).collect();
    g.decide(&req, &data, NOW, remote, &render).unwrap()
}

fn decide(body: Value, results: &[ResultView], waivers: &[WaiverView]) -> Value {
    decide_with(&gate(), body, results, waivers, &NoRemoteRules)
}

fn types(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|a| a["type"].as_str().unwrap().to_owned()).collect()
}

fn plan_err(body: Value) -> DecisionError {
    gate().plan(Some(&body)).unwrap_err()
}

fn rules(list: Value) -> Value {
    json!({"product_version": "fedora-32", "subject_type": "koji_build", "subject_identifier": NVR, "rules": list})
}

fn passing(name: &str) -> Value {
    json!({"type": "PassingTestCaseRule", "test_case_name": name})
}

// -------------------------------------------------------------------------------------
// Answer types
// -------------------------------------------------------------------------------------

#[test]
fn all_passed() {
    let results = [
        res(1, "dist.rpmdeplint", "PASSED", 1, &[]),
        res(2, "compose.install", "INFO", 2, &[("scenario", "x86_64.uefi")]),
    ];
    let d = decide(request(json!({})), &results, &[]);
    assert_eq!(d["policies_satisfied"], json!(true));
    assert_eq!(d["summary"], json!("All required tests (2 total) have passed or been waived"));
    assert_eq!(d["applicable_policies"], json!(["lab_gate"]));
    assert_eq!(d["unsatisfied_requirements"], json!([]));
    assert_eq!(
        d["satisfied_requirements"][0],
        json!({"type": "test-result-passed", "testcase": "dist.rpmdeplint", "subject_type": "koji_build",
            "subject_identifier": NVR, "source": null, "result_id": 1, "scenario": null,
            "system_architecture": null, "system_variant": null})
    );
    assert_eq!(d["satisfied_requirements"][1]["scenario"], json!("x86_64.uefi"));
    assert_eq!(d["progress"], json!({"satisfied": 2, "required": 2}));
    assert!(d.get("results").is_none() && d.get("waivers").is_none());
}

#[test]
fn missing_results_name_the_rule_scenario() {
    let d = decide(request(json!({})), &[], &[]);
    assert_eq!(d["policies_satisfied"], json!(false));
    assert_eq!(d["summary"], json!("Of 2 required tests, 2 results missing"));
    let item = json!({"type": "koji_build", "item": NVR});
    assert_eq!(
        d["unsatisfied_requirements"],
        json!([
            {"type": "test-result-missing", "testcase": "dist.rpmdeplint", "subject_type": "koji_build",
             "subject_identifier": NVR, "scenario": null, "source": null, "item": item},
            {"type": "test-result-missing", "testcase": "compose.install", "subject_type": "koji_build",
             "subject_identifier": NVR, "scenario": "x86_64.uefi", "source": null, "item": item},
        ])
    );
    assert_eq!(d["progress"], json!({"satisfied": 0, "required": 2}));
}

/// One testcase per answer type, through an on-demand policy.
fn every_type_results() -> Vec<ResultView> {
    vec![
        res(1, "t.passed", "PASSED", 1, &[("system_architecture", "x86_64")]),
        res(2, "t.failed", "FAILED", 1, &[]),
        res(3, "t.errored", "ERROR", 1, &[("error_reason", "OOM")]),
        res(4, "t.queued", "QUEUED", 1, &[]),
        res(5, "t.running", "RUNNING", 1, &[]),
        res(6, "t.inspect", "NEEDS_INSPECTION", 1, &[]),
    ]
}

fn every_type_rules() -> Value {
    let names = ["t.passed", "t.failed", "t.errored", "t.queued", "t.running", "t.inspect", "t.missing"];
    rules(Value::Array(names.iter().map(|n| passing(n)).collect()))
}

#[test]
fn every_answer_type() {
    let d = decide(every_type_rules(), &every_type_results(), &[]);
    assert!(d.get("applicable_policies").is_none(), "on-demand responses have no applicable_policies");
    assert_eq!(types(&d["satisfied_requirements"]), vec!["test-result-passed"]);
    assert_eq!(d["satisfied_requirements"][0]["system_architecture"], json!("x86_64"));
    assert_eq!(
        types(&d["unsatisfied_requirements"]),
        vec![
            "test-result-failed",
            "test-result-errored",
            "test-result-missing",
            "test-result-missing",
            "test-result-failed",
            "test-result-missing"
        ]
    );
    let u = &d["unsatisfied_requirements"];
    let item = json!({"type": "koji_build", "item": NVR});
    assert_eq!(
        u[1],
        json!({"type": "test-result-errored", "testcase": "t.errored", "subject_type": "koji_build",
            "subject_identifier": NVR, "source": null, "result_id": 3, "error_reason": "OOM", "item": item,
            "scenario": null, "system_architecture": null, "system_variant": null})
    );
    // Incomplete and missing share a type; only incomplete has a result_id.
    assert_eq!(u[2]["result_id"], json!(4));
    assert_eq!(u[3]["result_id"], json!(5));
    assert!(u[5].get("result_id").is_none());
    assert_eq!(u[0]["item"], item);
    assert_eq!(
        d["summary"],
        json!("Of 7 required tests, 1 result missing, 1 test errored, 2 tests failed, 2 tests incomplete")
    );
    assert_eq!(d["progress"], json!({"satisfied": 1, "required": 7}));
}

#[test]
fn every_unsatisfied_type_can_be_waived() {
    let waivers: Vec<WaiverView> = ["t.failed", "t.errored", "t.queued", "t.running", "t.inspect", "t.missing"]
        .iter()
        .enumerate()
        .map(|(i, t)| wv(10 + i as i64, t, true, 5, "alice"))
        .collect();
    let d = decide(every_type_rules(), &every_type_results(), &waivers);
    assert_eq!(d["policies_satisfied"], json!(true));
    assert_eq!(
        types(&d["satisfied_requirements"]),
        vec![
            "test-result-passed",
            "test-result-failed-waived",
            "test-result-errored-waived",
            "test-result-missing-waived",
            "test-result-missing-waived",
            "test-result-failed-waived",
            "test-result-missing-waived"
        ]
    );
    let s = &d["satisfied_requirements"];
    assert_eq!(
        s[6],
        json!({"type": "test-result-missing-waived", "testcase": "t.missing", "subject_type": "koji_build",
            "subject_identifier": NVR, "scenario": null, "source": null, "waiver_id": 15})
    );
    assert_eq!(s[1]["waiver_id"], json!(10));
    assert_eq!(s[1]["result_id"], json!(2));
    assert!(s.as_array().unwrap().iter().all(|a| a.get("item").is_none()), "waived answers drop item");
    assert_eq!(d["summary"], json!("All required tests (7 total) have passed or been waived"));
    assert_eq!(d["progress"], json!({"satisfied": 7, "required": 7}));
}

// -------------------------------------------------------------------------------------
// Waivers: revocation, product versions, expiry, scenarios, ignore_waiver
// -------------------------------------------------------------------------------------

fn rpmdeplint_only() -> Value {
    rules(json!([passing("dist.rpmdeplint")]))
}

fn first_type(d: &Value) -> String {
    let all: Vec<String> =
        types(&d["satisfied_requirements"]).into_iter().chain(types(&d["unsatisfied_requirements"])).collect();
    all[0].clone()
}

#[test]
fn revocation_by_another_user_unwaives() {
    let failed = [res(1, "dist.rpmdeplint", "FAILED", 1, &[])];
    let waived = [wv(1, "dist.rpmdeplint", true, 2, "alice")];
    assert_eq!(first_type(&decide(rpmdeplint_only(), &failed, &waived)), "test-result-failed-waived");
    let revoked = [waived[0].clone(), wv(2, "dist.rpmdeplint", false, 3, "bob")];
    let d = decide(rpmdeplint_only(), &failed, &revoked);
    assert_eq!(first_type(&d), "test-result-failed");
    assert_eq!(d["policies_satisfied"], json!(false));
    // Waived again after the revocation.
    let again = [revoked[0].clone(), revoked[1].clone(), wv(3, "dist.rpmdeplint", true, 4, "carol")];
    let d = decide(rpmdeplint_only(), &failed, &again);
    assert_eq!(d["satisfied_requirements"][0]["waiver_id"], json!(3));
}

#[test]
fn newest_waiver_wins_and_other_product_versions_obsolete_it() {
    let failed = [res(1, "dist.rpmdeplint", "FAILED", 1, &[])];
    // WaiverDB's +filtered groups by subject, testcase and scenario only: a newer waiver for
    // another product version makes the older one obsolete, and itself does not match.
    let other_pv = [
        wv(1, "dist.rpmdeplint", true, 2, "alice"),
        with(wv(2, "dist.rpmdeplint", true, 3, "bob"), |r| r.product_version = "fedora-33".into()),
    ];
    assert_eq!(first_type(&decide(rpmdeplint_only(), &failed, &other_pv)), "test-result-failed");
    // Waivers for another subject or testcase change nothing.
    let unrelated = [
        wv(1, "dist.rpmdeplint", true, 2, "alice"),
        with(wv(2, "dist.rpmdeplint", false, 3, "bob"), |r| r.subject_identifier = "other-1-1.fc32".into()),
        wv(3, "dist.abicheck", false, 4, "bob"),
    ];
    assert_eq!(first_type(&decide(rpmdeplint_only(), &failed, &unrelated)), "test-result-failed-waived");
    // Newest by creation time, not by local id (a replicated waiver arrives with a later id).
    let replicated = [wv(9, "dist.rpmdeplint", true, 7, "alice"), wv(10, "dist.rpmdeplint", false, 5, "bob")];
    assert_eq!(first_type(&decide(rpmdeplint_only(), &failed, &replicated)), "test-result-failed-waived");
    // brew-build is an alias of koji_build.
    let alias = [with(wv(7, "dist.rpmdeplint", true, 2, "alice"), |r| r.subject_type = "brew-build".into())];
    assert_eq!(first_type(&decide(rpmdeplint_only(), &failed, &alias)), "test-result-failed-waived");
}

#[test]
fn expired_waivers_stop_applying_and_say_so() {
    let failed = [res(1, "dist.rpmdeplint", "FAILED", 1, &[])];
    let expires = T0 + 100 * 1_000_000;
    let waivers = [with(wv(4, "dist.rpmdeplint", true, 2, "alice"), |r| r.expires_at = Some(expires))];
    let d = decide(rpmdeplint_only(), &failed, &waivers);
    assert_eq!(d["policies_satisfied"], json!(false));
    let u = &d["unsatisfied_requirements"][0];
    assert_eq!(u["type"], json!("test-result-failed"));
    assert_eq!(u["expired_waiver_id"], json!(4));
    assert_eq!(u["waiver_expired_at"], json!(Timestamp(expires).to_iso()));
    // Before it expired (`when`), it applied.
    let d = decide(rpmdeplint_only().merge(json!({"when": when_at(50)})), &failed, &waivers);
    assert_eq!(first_type(&d), "test-result-failed-waived");
    // Verbose output lists only waivers in force.
    let d = decide(rpmdeplint_only().merge(json!({"verbose": true})), &failed, &waivers);
    assert_eq!(d["waivers"], json!([]));
}

/// `json!` objects merged (test helper).
trait Merge {
    fn merge(self, other: Value) -> Value;
}

impl Merge for Value {
    fn merge(mut self, other: Value) -> Value {
        for (k, v) in other.as_object().unwrap() {
            self[k] = v.clone();
        }
        self
    }
}

#[test]
fn scenarios_latest_per_testcase_and_scenario() {
    let results = [
        res(1, "compose.install", "FAILED", 1, &[("scenario", "x86_64.uefi")]),
        res(2, "compose.install", "PASSED", 5, &[("scenario", "x86_64.uefi")]),
        res(3, "compose.install", "FAILED", 3, &[("scenario", "x86_64.bios")]),
        res(4, "dist.rpmdeplint", "FAILED", 9, &[]),
        // Same time: the higher id is the later one.
        res(5, "dist.rpmdeplint", "PASSED", 9, &[]),
    ];
    let d = decide(request(json!({})), &results, &[]);
    // The rule's scenario keeps only matching results; the newer PASSED wins.
    assert_eq!(types(&d["satisfied_requirements"]), vec!["test-result-passed", "test-result-passed"]);
    assert_eq!(d["satisfied_requirements"][0]["result_id"], json!(5));
    assert_eq!(d["satisfied_requirements"][1]["result_id"], json!(2));
    // Without a rule scenario: one answer per scenario, passed and failed at once.
    let d = decide(rules(json!([passing("compose.install")])), &results, &[]);
    assert_eq!(types(&d["satisfied_requirements"]), vec!["test-result-passed"]);
    assert_eq!(types(&d["unsatisfied_requirements"]), vec!["test-result-failed"]);
    assert_eq!(d["unsatisfied_requirements"][0]["scenario"], json!("x86_64.bios"));
    assert_eq!(d["summary"], json!("Of 2 required tests, 1 test failed"));
}

#[test]
fn scenario_waivers() {
    let results = [
        res(1, "compose.install", "FAILED", 1, &[("scenario", "a")]),
        res(2, "compose.install", "FAILED", 1, &[("scenario", "b")]),
    ];
    let one = [with(wv(1, "compose.install", true, 2, "alice"), |r| r.scenario = Some("a".into()))];
    let d = decide(rules(json!([passing("compose.install")])), &results, &one);
    assert_eq!(types(&d["satisfied_requirements"]), vec!["test-result-failed-waived"]);
    assert_eq!(d["satisfied_requirements"][0]["scenario"], json!("a"));
    assert_eq!(types(&d["unsatisfied_requirements"]), vec!["test-result-failed"]);
    // A waiver without scenario waives every scenario.
    let all = [wv(1, "compose.install", true, 2, "alice")];
    let d = decide(rules(json!([passing("compose.install")])), &results, &all);
    assert_eq!(d["policies_satisfied"], json!(true));
    // Revoking the scenario waiver does not touch the scenario-less one (another group).
    let both = [all[0].clone(), with(wv(2, "compose.install", false, 3, "bob"), |r| r.scenario = Some("a".into()))];
    let d = decide(rules(json!([passing("compose.install")])), &results, &both);
    assert_eq!(d["policies_satisfied"], json!(true));
}

#[test]
fn ignore_result_and_ignore_waiver() {
    let results = [res(1, "dist.rpmdeplint", "PASSED", 1, &[]), res(2, "dist.rpmdeplint", "FAILED", 2, &[])];
    // Ignored after the latest is picked (as upstream): the older result does not come back.
    let d = decide(rpmdeplint_only().merge(json!({"ignore_result": [2]})), &results, &[]);
    assert_eq!(first_type(&d), "test-result-missing");
    let waivers = [wv(9, "dist.rpmdeplint", true, 3, "alice")];
    let d = decide(rpmdeplint_only().merge(json!({"ignore_waiver": [9]})), &results, &waivers);
    assert_eq!(first_type(&d), "test-result-failed");
}

// -------------------------------------------------------------------------------------
// `when`: what was known then
// -------------------------------------------------------------------------------------

#[test]
fn when_uses_only_what_was_known() {
    let results = [res(1, "dist.rpmdeplint", "FAILED", 10, &[]), res(2, "dist.rpmdeplint", "PASSED", 20, &[])];
    let waivers = [wv(1, "dist.rpmdeplint", true, 12, "alice"), wv(2, "dist.rpmdeplint", false, 30, "bob")];
    let at = when_at;
    let t = |secs: i64| first_type(&decide(rpmdeplint_only().merge(json!({"when": at(secs)})), &results, &waivers));
    assert_eq!(t(5), "test-result-missing");
    assert_eq!(t(10), "test-result-failed", "the upper bound is inclusive");
    assert_eq!(t(11), "test-result-failed");
    assert_eq!(t(15), "test-result-failed-waived");
    assert_eq!(t(25), "test-result-passed");
    // Now: passed; the revocation (after the pass) has nothing left to unwaive.
    assert_eq!(first_type(&decide(rpmdeplint_only(), &results, &waivers)), "test-result-passed");
    // A later revocation does not rewrite history (upstream's obsolete filter would).
    let failed = [results[0].clone()];
    let d = decide(rpmdeplint_only().merge(json!({"when": at(15)})), &failed, &waivers);
    assert_eq!(first_type(&d), "test-result-failed-waived");
    let d = decide(rpmdeplint_only(), &failed, &waivers);
    assert_eq!(first_type(&d), "test-result-failed");
}

// -------------------------------------------------------------------------------------
// Policies: product versions, packages, contexts, subjects
// -------------------------------------------------------------------------------------

#[test]
fn product_version_globs() {
    let ctx = json!(["bodhi_update_push_stable", "bodhi_update_push_stable_critpath"]);
    let applicable = |pv: &str| {
        let d = decide(request(json!({"product_version": pv, "decision_context": ctx})), &[], &[]);
        d["applicable_policies"].clone()
    };
    assert_eq!(applicable("fedora-32"), json!(["lab_gate", "critpath"]));
    assert_eq!(applicable("fedora-rawhide"), json!(["lab_gate"]));
    let e = plan_err(request(json!({"product_version": "rhel-8", "decision_context": ctx})));
    assert_eq!(
        e,
        DecisionError::NotFound(
            "Found no applicable policies for koji_build subjects at gating point(s) bodhi_update_push_stable bodhi_update_push_stable_critpath in rhel-8"
                .into()
        )
    );
}

#[test]
fn multiple_contexts_evaluate_a_shared_rule_once() {
    let ctx = json!(["bodhi_update_push_stable", "bodhi_update_push_stable_critpath"]);
    let results = [res(1, "dist.rpmdeplint", "FAILED", 1, &[])];
    let d = decide(request(json!({"decision_context": ctx})), &results, &[]);
    let testcases: Vec<&str> =
        d["unsatisfied_requirements"].as_array().unwrap().iter().map(|a| a["testcase"].as_str().unwrap()).collect();
    assert_eq!(testcases, vec!["dist.rpmdeplint", "compose.install", "dist.abicheck"]);
    assert_eq!(d["summary"], json!("Of 3 required tests, 2 results missing, 1 test failed"));
}

#[test]
fn excluded_and_allowlisted_packages() {
    let py2 = "python2-foo-1.0-1.fc32";
    let d = decide(request(json!({"subject_identifier": py2})), &[], &[]);
    assert_eq!(
        d["satisfied_requirements"],
        json!([{"type": "excluded", "subject_identifier": py2, "policy": "lab_gate", "source": null}])
    );
    assert_eq!(d["summary"], json!("No tests are required"));
    assert_eq!(d["policies_satisfied"], json!(true));
    assert_eq!(d["progress"], json!({"satisfied": 0, "required": 0}));
    // `packages`: the policy applies (it is listed) but yields nothing for other packages.
    let d =
        decide(request(json!({"decision_context": "allowlist_ctx", "subject_identifier": "other-1-1.fc32"})), &[], &[]);
    assert_eq!(d["applicable_policies"], json!(["allowlist"]));
    assert_eq!(d["summary"], json!("No tests are required"));
    let d = decide(request(json!({"decision_context": "allowlist_ctx"})), &[], &[]);
    assert_eq!(types(&d["unsatisfied_requirements"]), vec!["test-result-missing"]);
    // On-demand excluded_packages.
    let body = rpmdeplint_only().merge(json!({"subject_identifier": py2, "excluded_packages": ["python2-*"]}));
    let d = decide(body, &[], &[]);
    assert_eq!(d["satisfied_requirements"][0]["policy"], json!("on-demand-policy"));
}

#[test]
fn empty_rules_require_nothing() {
    let d = decide(request(json!({"decision_context": "nothing_ctx"})), &[], &[]);
    assert_eq!(d["summary"], json!("No tests are required"));
    assert_eq!(d["applicable_policies"], json!(["nothing_required"]));
}

#[test]
fn multi_subject_requests() {
    let compose = "RHEL-8.4.0-20210503.1";
    let body = json!({"product_version": "rhel-8", "decision_context": "compose_ctx", "verbose": true,
        "subject": [{"productmd.compose.id": compose}, {"type": "bodhi_update", "item": "FEDORA-2021-1"}]});
    let results = [
        res(
            1,
            "compose.install",
            "PASSED",
            1,
            &[("productmd.compose.id", compose), ("item", "x"), ("type", "compose")],
        ),
        res(2, "compose.install", "FAILED", 2, &[]),
    ];
    let d = decide(body, &results, &[]);
    // The update has no policy here but its type ignores missing policies.
    assert_eq!(d["applicable_policies"], json!(["compose_gate"]));
    assert_eq!(d["satisfied_requirements"][0]["subject_type"], json!("compose"));
    assert_eq!(d["satisfied_requirements"][0]["result_id"], json!(1));
    assert_eq!(d["results"], json!([{"id": 1, "outcome": "PASSED"}]));
    // Two koji builds: answers and applicable policies per subject, in order.
    let other = "other-1.0-1.fc32";
    let body = json!({"product_version": "fedora-32", "decision_context": "bodhi_update_push_stable",
        "subject": [{"type": "koji_build", "item": NVR}, {"type": "brew-build", "item": other}]});
    let results = [res(1, "dist.rpmdeplint", "PASSED", 1, &[])];
    let d = decide(body, &results, &[]);
    assert_eq!(d["applicable_policies"], json!(["lab_gate", "lab_gate"]));
    let ids: Vec<&str> = d["unsatisfied_requirements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["subject_identifier"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![NVR, other, other]);
    assert_eq!(d["unsatisfied_requirements"][1]["subject_type"], json!("koji_build"));
    assert_eq!(d["summary"], json!("Of 4 required tests, 3 results missing"));
}

#[test]
fn koji_build_queries_are_concatenated() {
    // A result found by `original_spec_nvr` only counts too.
    let results = [res(1, "dist.rpmdeplint", "PASSED", 1, &[("original_spec_nvr", NVR), ("item", "x"), ("type", "y")])];
    let d = decide(rpmdeplint_only(), &results, &[]);
    assert_eq!(first_type(&d), "test-result-passed");
    // Results of other subjects are not candidates.
    let results = [res(1, "dist.rpmdeplint", "PASSED", 1, &[("item", "other-1-1")])];
    assert_eq!(first_type(&decide(rpmdeplint_only(), &results, &[])), "test-result-missing");
}

#[test]
fn verbose_lists_results_and_waivers() {
    let results = [
        res(1, "dist.rpmdeplint", "FAILED", 1, &[]),
        res(2, "dist.rpmdeplint", "FAILED", 2, &[]),
        res(3, "unrelated", "PASSED", 3, &[]),
    ];
    let waivers = [
        wv(1, "dist.rpmdeplint", true, 3, "alice"),
        wv(2, "unrelated", true, 4, "alice"),
        wv(3, "revoked", true, 1, "alice"),
        wv(4, "revoked", false, 2, "bob"),
    ];
    let d = decide(request(json!({"verbose": true})), &results, &waivers);
    assert_eq!(d["results"], json!([{"id": 3, "outcome": "PASSED"}, {"id": 2, "outcome": "FAILED"}]));
    let ids: Vec<i64> = d["waivers"].as_array().unwrap().iter().map(|w| w["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![2, 1]);
    assert_eq!(d["waivers"][1]["subject"], json!({"type": "koji_build", "item": NVR}));
}

#[test]
fn rule_validity_window_uses_subject_creation_time() {
    let g = Gate::new(
        parse_policies(
            "v.yaml",
            "--- !Policy\nid: v\nproduct_versions: [fedora-*]\ndecision_context: c\nsubject_type: koji_build\nrules:\n  - !PassingTestCaseRule {test_case_name: new, valid_since: 2021-10-02}\n  - !PassingTestCaseRule {test_case_name: old, valid_until: '2021-10-02T00:00:00'}\n",
            PolicyKind::Local,
        )
        .unwrap(),
    );
    let req = g.plan(Some(&request(json!({"decision_context": "c"})))).unwrap();
    let testcases = |created: &str| {
        let created = crate::model::parse_fromisoformat(created).ok();
        let data = [SubjectData { results: &[], waivers: &[], created }];
        let d = g.decide(&req, &data, NOW, &NoRemoteRules, &render).unwrap();
        d["unsatisfied_requirements"].as_array().unwrap().iter().map(|a| a["testcase"].clone()).collect::<Vec<_>>()
    };
    assert_eq!(testcases("2021-10-01T23:59:59"), vec![json!("old")]);
    assert_eq!(testcases("2021-10-02T00:00:00"), vec![json!("new")]);
}

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
