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

mod requests;
