//! The decision: the latest results of each subject, rule answers, waivers (with our
//! expiry), Greenwave's summary wording and the response JSON (plus our `progress`).

use super::fnmatch::fnmatch;
use super::load::parse_policies;
use super::policy::{PassingTestCaseRule, Policy, PolicyKind, RemoteRule, Rule};
use super::quarantine::QuarantineData;
use super::request::DecisionRequest;
use super::subject::Subject;
use super::{DecisionError, Gate};
use crate::model::{DataFilter, ResultView, Timestamp, WaiverView, cartesian};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What the caller fetched for one planned subject (see `SubjectPlan::result_fetch` and
/// `SubjectPlan::waiver_fetch`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SubjectData<'a> {
    /// Candidate results: every result matching the fetch, not only the latest.
    pub results: &'a [ResultView],
    /// Every waiver of the subject (all testcases, product versions, obsolete ones too).
    pub waivers: &'a [WaiverView],
    /// When the subject was created (e.g. a Koji build's creation time), for rules with
    /// `valid_since`/`valid_until`; `None` uses `when`, else now.
    pub created: Option<Timestamp>,
}

/// The outcome of fetching a remote rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteFetch {
    Found(String),
    NotFound,
    /// Any other failure: the decision fails with 502, as upstream.
    Failed(String),
}

/// Access to remote rule files (`gating.yaml`) for `RemoteRule`. The engine stays pure:
/// whatever I/O this does is the caller's.
pub trait RemoteRules {
    /// URL templates for a subject type (`REMOTE_RULE_POLICIES[type]`, `["*"]` or
    /// `DIST_GIT_URL_TEMPLATE`); `None` when not configured (a decision then fails with 502).
    fn templates(&self, subject_type: &str) -> Option<Vec<String>>;

    /// `(namespace, name, rev)` of a build's SCM URL for `{pkg_namespace}`, `{pkg_name}`
    /// and `{rev}`. `Ok(None)`: no source, the template is skipped; `Err(message)`: the rule
    /// answers `failed-fetch-gating-yaml` with that error.
    fn scm(&self, _identifier: &str) -> Result<Option<(String, String, String)>, String> {
        Ok(None)
    }

    /// Fetches one URL.
    fn fetch(&self, url: &str) -> RemoteFetch;
}

/// No remote rule files configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRemoteRules;

impl RemoteRules for NoRemoteRules {
    fn templates(&self, _subject_type: &str) -> Option<Vec<String>> {
        None
    }

    fn fetch(&self, _url: &str) -> RemoteFetch {
        RemoteFetch::NotFound
    }
}

/// ResultsDB data keys whose combination makes results distinct (upstream's
/// `DISTINCT_LATEST_RESULTS_ON`): one answer per latest result of each combination.
const DISTINCT_ON: [&str; 3] = ["scenario", "system_architecture", "system_variant"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Passed,
    Missing,
    Incomplete,
    Failed,
    Errored(Option<String>),
    InvalidYaml(String),
    MissingYaml(Vec<String>),
    FailedFetch(Vec<String>, String),
    Fetched,
    Excluded(Option<String>),
}

/// One answer of a rule for a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    kind: Kind,
    subject: usize,
    testcase: String,
    source: Option<String>,
    result_id: Option<i64>,
    /// First values of the distinct keys, for result-based answers.
    distinct: Option<[Option<String>; 3]>,
    /// The scenario a waiver must name (or leave empty) to waive this answer.
    scenario: Option<String>,
    waiver_id: Option<i64>,
    /// Our extension: a waiver that would have applied had it not expired (id, expires_at).
    expired_waiver: Option<(i64, i64)>,
    /// Our extension: the quarantine rule covering it (id, reason).
    quarantine: Option<(String, String)>,
}

impl Answer {
    fn new(kind: Kind, subject: usize, testcase: &str, source: &Option<String>) -> Answer {
        Answer {
            kind,
            subject,
            testcase: testcase.to_owned(),
            source: source.clone(),
            result_id: None,
            distinct: None,
            scenario: None,
            waiver_id: None,
            expired_waiver: None,
            quarantine: None,
        }
    }

    fn is_satisfied(&self) -> bool {
        self.waiver_id.is_some()
            || self.quarantine.is_some()
            || matches!(self.kind, Kind::Passed | Kind::Fetched | Kind::Excluded(_))
    }

    fn is_test_result(&self) -> bool {
        matches!(self.kind, Kind::Passed | Kind::Missing | Kind::Incomplete | Kind::Failed | Kind::Errored(_))
    }

    /// Remote-rule failures vanish when waived instead of turning into `-waived`.
    fn vanishes_when_waived(&self) -> bool {
        matches!(self.kind, Kind::InvalidYaml(_) | Kind::MissingYaml(_) | Kind::FailedFetch(..))
    }

    /// The summary phrase of an unsatisfied answer; `{s}` pluralises. Test phrases first.
    fn phrase(&self) -> Option<(bool, &'static str)> {
        Some(match self.kind {
            Kind::Missing => (true, "result{s} missing"),
            Kind::Incomplete => (true, "test{s} incomplete"),
            Kind::Failed => (true, "test{s} failed"),
            Kind::Errored(_) => (true, "test{s} errored"),
            Kind::InvalidYaml(_) => (false, "error{s} due to invalid remote rule file"),
            Kind::MissingYaml(_) => (false, "error{s} due to missing remote rule file"),
            Kind::FailedFetch(..) => (false, "error{s} while trying to fetch remote rule file"),
            Kind::Passed | Kind::Fetched | Kind::Excluded(_) => return None,
        })
    }
}

pub(super) fn decide(
    gate: &Gate,
    req: &DecisionRequest,
    data: &[SubjectData<'_>],
    now: Timestamp,
    remote: &dyn RemoteRules,
    render: &dyn Fn(&ResultView) -> Value,
    quarantines: Option<QuarantineData<'_>>,
) -> Result<Value, DecisionError> {
    let at = req.when.unwrap_or(now);
    let empty = SubjectData::default();
    let mut answers = Vec::new();
    let mut verbose_results: Vec<&ResultView> = Vec::new();
    let mut candidates: Vec<Vec<&WaiverView>> = Vec::with_capacity(req.subjects.len());
    for (i, plan) in req.subjects.iter().enumerate() {
        let d = data.get(i).unwrap_or(&empty);
        let latest = latest_results(&plan.subject, d.results, req.when, &req.ignore_results);
        if req.verbose {
            verbose_results.extend(latest.iter().copied());
        }
        let mut eval = Eval {
            gate,
            req,
            index: i,
            subject: &plan.subject,
            latest: &latest,
            created: d.created.unwrap_or(at),
            remote,
            verified: Vec::new(),
        };
        for policy in &plan.policies {
            answers.extend(eval.check_policy(policy)?);
        }
        candidates.push(current_waivers(&plan.subject, d.waivers, req));
    }
    let mut answers = waive(answers, &candidates, at);
    if let Some(q) = quarantines {
        quarantine(&mut answers, req, q, at);
    }
    Ok(response(req, &answers, &verbose_results, &candidates, at, render))
}

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

/// Whether a result satisfies every data filter of a query.
fn query_matches(query: &[DataFilter], r: &ResultView) -> bool {
    query.iter().all(|f| r.record.data.get(&f.key).is_some_and(|vs| vs.iter().any(|v| f.values.contains(v))))
}

/// Every combination of the distinct keys' values (a missing key is its own group).
fn combinations(r: &ResultView) -> Vec<Vec<Option<&str>>> {
    let lists: Vec<Vec<Option<&str>>> = DISTINCT_ON
        .iter()
        .map(|key| match r.record.data.get(*key) {
            Some(vs) if !vs.is_empty() => vs.iter().map(|v| Some(v.as_str())).collect(),
            _ => vec![None],
        })
        .collect();
    cartesian(&lists)
}

/// What Greenwave gets from ResultsDB for a subject: per query of the subject type, the
/// latest result of each (testcase, scenario, architecture, variant) among results
/// submitted by `when`, newest first; queries concatenated; ignored ids dropped last.
/// The latest is the greatest `submit_time`, ties broken by the greater id.
fn latest_results<'a>(
    subject: &Subject,
    results: &'a [ResultView],
    when: Option<Timestamp>,
    ignore: &[i64],
) -> Vec<&'a ResultView> {
    let mut seen_ids = HashSet::new();
    let mut sorted: Vec<&ResultView> = results
        .iter()
        .filter(|r| seen_ids.insert(r.id))
        .filter(|r| when.is_none_or(|w| r.record.submit_time <= w.0))
        .collect();
    sorted.sort_by(|a, b| b.record.submit_time.cmp(&a.record.submit_time).then(b.id.cmp(&a.id)));
    let mut out = Vec::new();
    for query in subject.result_queries() {
        let mut seen: HashSet<(&str, Vec<Option<&str>>)> = HashSet::new();
        for r in sorted.iter().copied().filter(|r| query_matches(&query, r)) {
            for combo in combinations(r) {
                if seen.insert((r.record.testcase.name.as_str(), combo)) {
                    out.push(r);
                }
            }
        }
    }
    out.retain(|r| !ignore.contains(&r.id));
    out
}

// ---------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------

/// Evaluation state for one subject: rules already evaluated are skipped (by JSON), even
/// across policies.
struct Eval<'a> {
    gate: &'a Gate,
    req: &'a DecisionRequest,
    index: usize,
    subject: &'a Subject,
    latest: &'a [&'a ResultView],
    created: Timestamp,
    remote: &'a dyn RemoteRules,
    verified: Vec<Value>,
}

impl Eval<'_> {
    fn check_policy(&mut self, policy: &Policy) -> Result<Vec<Answer>, DecisionError> {
        if let Some(name) = self.subject.package_name() {
            if policy.excluded_packages.iter().any(|p| fnmatch(name, p)) {
                let mut a = Answer::new(Kind::Excluded(policy.id.clone()), self.index, "", &policy.source);
                a.testcase = String::new();
                return Ok(vec![a]);
            }
            if !policy.packages.is_empty() && !policy.packages.iter().any(|p| fnmatch(name, p)) {
                return Ok(Vec::new());
            }
        }
        let mut answers = Vec::new();
        for rule in &policy.rules {
            let key = rule.to_json();
            if self.verified.contains(&key) {
                continue;
            }
            self.verified.push(key);
            match rule {
                Rule::PassingTestCase(r) => answers.extend(self.passing(policy, r)),
                Rule::Remote(r) => answers.extend(self.remote_rule(policy, r)?),
            }
        }
        Ok(answers)
    }

    fn passing(&self, policy: &Policy, rule: &PassingTestCaseRule) -> Vec<Answer> {
        if rule.valid_since.is_some_and(|s| self.created < s) || rule.valid_until.is_some_and(|u| u <= self.created) {
            return Vec::new();
        }
        let matching: Vec<&ResultView> = self
            .latest
            .iter()
            .copied()
            .filter(|r| r.record.testcase.name == rule.test_case_name)
            .filter(|r| {
                rule.scenario.as_ref().is_none_or(|s| r.record.data.get("scenario").is_some_and(|v| v.contains(s)))
            })
            .collect();
        if matching.is_empty() {
            let mut a = Answer::new(Kind::Missing, self.index, &rule.test_case_name, &policy.source);
            a.scenario = rule.scenario.clone();
            return vec![a];
        }
        matching.into_iter().map(|r| self.answer_for_result(policy, rule, r)).collect()
    }

    fn answer_for_result(&self, policy: &Policy, rule: &PassingTestCaseRule, r: &ResultView) -> Answer {
        let outcomes = &self.gate.outcomes;
        let first = |k: &str| r.record.data.get(k).and_then(|v| v.first()).cloned();
        let outcome = &r.record.outcome;
        let kind = if outcomes.passed.contains(outcome) {
            Kind::Passed
        } else if outcomes.incomplete.contains(outcome) {
            Kind::Incomplete
        } else if outcomes.error.contains(outcome) {
            // Upstream reads a top-level `error_reason` ResultsDB never sends; we use the data.
            Kind::Errored(first("error_reason"))
        } else {
            Kind::Failed
        };
        let mut a = Answer::new(kind, self.index, &rule.test_case_name, &policy.source);
        a.result_id = Some(r.id);
        a.distinct = Some(DISTINCT_ON.map(first));
        a.scenario = first("scenario");
        a
    }

    fn remote_rule(&mut self, parent: &Policy, rule: &RemoteRule) -> Result<Vec<Answer>, DecisionError> {
        if !self.subject.subject_type.supports_remote_rule {
            return Ok(Vec::new());
        }
        let unexpected = || DecisionError::BadGateway("Unexpected error while fetching remote policies".to_owned());
        let templates = if rule.sources.is_empty() {
            self.remote.templates(self.subject.type_id()).ok_or_else(unexpected)?
        } else {
            rule.sources.clone()
        };
        let mut tried = Vec::new();
        let mut found = None;
        for template in &templates {
            let url = match self.expand(template) {
                Ok(Some(url)) => url,
                Ok(None) => continue,
                Err(error) => return Ok(vec![self.remote_answer(Kind::FailedFetch(tried, error), None)]),
            };
            tried.push(url.clone());
            match self.remote.fetch(&url) {
                RemoteFetch::Found(text) => {
                    found = Some((url, text));
                    break;
                }
                RemoteFetch::NotFound => {}
                RemoteFetch::Failed(_) => return Err(unexpected()),
            }
        }
        let Some((url, text)) = found else {
            let missing = rule.required.then(|| self.remote_answer(Kind::MissingYaml(tried), None));
            return Ok(missing.into_iter().collect());
        };
        let mut answers = vec![self.remote_answer(Kind::Fetched, Some(url.clone()))];
        let subs = match parse_policies(&url, &text, PolicyKind::Remote) {
            Ok(subs) => subs,
            Err(e) => {
                answers.push(self.remote_answer(Kind::InvalidYaml(e.message), Some(url.clone())));
                Vec::new()
            }
        };
        for mut sub in subs {
            sub.source = Some(url.clone());
            let applies = parent.matches_sub_policy(&sub)
                && sub.applies(&self.req.decision_contexts, &self.req.product_version, &self.subject.subject_type);
            if applies {
                answers.extend(self.check_policy(&sub)?);
            }
        }
        Ok(answers)
    }

    fn remote_answer(&self, kind: Kind, source: Option<String>) -> Answer {
        let testcase = match kind {
            Kind::InvalidYaml(_) => "invalid-gating-yaml",
            Kind::MissingYaml(_) => "missing-gating-yaml",
            Kind::FailedFetch(..) => "failed-fetch-gating-yaml",
            _ => "fetched-gating-yaml",
        };
        Answer::new(kind, self.index, testcase, &source)
    }

    /// Fills a URL template; `Ok(None)` skips it (no SCM source known).
    fn expand(&self, template: &str) -> Result<Option<String>, String> {
        let mut url = template.to_owned();
        if ["{pkg_name}", "{pkg_namespace}", "{rev}"].iter().any(|p| url.contains(p)) {
            let Some((namespace, name, rev)) = self.remote.scm(&self.subject.identifier)? else {
                return Ok(None);
            };
            // Containers' dist-git names lack the `-container` suffix of their builds.
            let name = if namespace == "containers" { name.trim_end_matches("-container").to_owned() } else { name };
            let namespace = if namespace.is_empty() { namespace } else { format!("{namespace}/") };
            url = url.replace("{pkg_namespace}", &namespace).replace("{pkg_name}", &name).replace("{rev}", &rev);
        }
        let id = &self.subject.identifier;
        url = url.replace("{subject_id}", id.strip_prefix("sha256:").unwrap_or(id));
        Ok(Some(url))
    }
}

// ---------------------------------------------------------------------------------------
// Waivers
// ---------------------------------------------------------------------------------------

/// The waivers that can waive a subject's answers, newest first: those known by `when`,
/// not obsolete among them (the newest per subject, testcase and scenario wins, as in
/// WaiverDB's `+filtered`; newest by `WaiverView::order_key`), for this product version, `waived: true`, not ignored.
/// Expired ones are kept here (they are reported, not applied).
fn current_waivers<'a>(subject: &Subject, waivers: &'a [WaiverView], req: &DecisionRequest) -> Vec<&'a WaiverView> {
    let t = &subject.subject_type;
    let mut seen = HashSet::new();
    let known: Vec<&WaiverView> = waivers
        .iter()
        .filter(|w| seen.insert(w.id))
        .filter(|w| t.matches(&w.record.subject_type) && w.record.subject_identifier == subject.identifier)
        .filter(|w| req.when.is_none_or(|when| w.record.timestamp <= when.0))
        .collect();
    let mut newest: HashMap<(&str, &str, Option<&str>), &WaiverView> = HashMap::new();
    for w in &known {
        let r = &w.record;
        let e = newest.entry((r.subject_type.as_str(), r.testcase.as_str(), r.scenario.as_deref())).or_insert(w);
        if w.order_key() > e.order_key() {
            *e = w;
        }
    }
    let mut out: Vec<&WaiverView> = known
        .iter()
        .copied()
        .filter(|w| {
            let r = &w.record;
            newest.get(&(r.subject_type.as_str(), r.testcase.as_str(), r.scenario.as_deref())).map(|n| n.id)
                == Some(w.id)
        })
        .filter(|w| w.record.product_version == req.product_version && w.record.waived)
        .filter(|w| !req.ignore_waivers.contains(&w.id))
        .collect();
    out.sort_by(|a, b| b.record.timestamp.cmp(&a.record.timestamp).then(b.id.cmp(&a.id)));
    out
}

fn waiver_matches(w: &WaiverView, a: &Answer) -> bool {
    let scenario = w.record.scenario.as_deref().filter(|s| !s.is_empty());
    w.record.testcase == a.testcase && scenario.is_none_or(|s| Some(s) == a.scenario.as_deref())
}

/// Waives each unsatisfied answer with the first matching unexpired waiver; notes an
/// expired one that would have matched; drops waived remote-rule failures.
fn waive(mut answers: Vec<Answer>, candidates: &[Vec<&WaiverView>], at: Timestamp) -> Vec<Answer> {
    for a in answers.iter_mut().filter(|a| !a.is_satisfied()) {
        let Some(ws) = candidates.get(a.subject) else { continue };
        if let Some(w) = ws.iter().find(|w| !w.expired_at(at) && waiver_matches(w, a)) {
            a.waiver_id = Some(w.id);
        } else if let Some(w) = ws.iter().find(|w| w.expired_at(at) && waiver_matches(w, a)) {
            a.expired_waiver = w.record.expires_at.map(|e| (w.id, e));
        }
    }
    answers.retain(|a| !(a.waiver_id.is_some() && a.vanishes_when_waived()));
    answers
}

/// Covers each test requirement still unsatisfied after waivers (failed, errored, missing
/// or incomplete) with the oldest standing quarantine rule that matches it and has not
/// released its result's key.
fn quarantine(answers: &mut [Answer], req: &DecisionRequest, q: QuarantineData<'_>, at: Timestamp) {
    if q.rules.is_empty() {
        return;
    }
    for a in answers.iter_mut().filter(|a| !a.is_satisfied() && a.is_test_result()) {
        let Some(plan) = req.subjects.get(a.subject) else { continue };
        let scenario = a.scenario.as_deref();
        let rule = q.covering(&a.testcase, scenario, &plan.subject, &req.product_version, at, a.result_id);
        a.quarantine = rule.map(|r| (r.rule.uuid.clone(), r.rule.reason.clone()));
    }
}

// ---------------------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------------------

fn answer_json(a: &Answer, s: &Subject) -> Value {
    let mut m = Map::new();
    if let Kind::Excluded(policy) = &a.kind {
        m.insert("type".into(), json!("excluded"));
        m.insert("subject_identifier".into(), json!(s.identifier));
        m.insert("policy".into(), json!(policy));
        m.insert("source".into(), json!(a.source));
        return Value::Object(m);
    }
    m.insert("testcase".into(), json!(a.testcase));
    m.insert("subject_type".into(), json!(s.type_id()));
    m.insert("subject_identifier".into(), json!(s.identifier));
    let (type_name, item) = match &a.kind {
        Kind::Passed => ("test-result-passed", false),
        Kind::Missing => ("test-result-missing", true),
        Kind::Incomplete => ("test-result-missing", true),
        Kind::Failed => ("test-result-failed", true),
        Kind::Errored(_) => ("test-result-errored", true),
        Kind::InvalidYaml(_) => ("invalid-gating-yaml", false),
        Kind::MissingYaml(_) => ("missing-gating-yaml", false),
        Kind::FailedFetch(..) => ("failed-fetch-gating-yaml", false),
        Kind::Fetched | Kind::Excluded(_) => ("fetched-gating-yaml", false),
    };
    match &a.kind {
        Kind::Missing => {
            m.insert("scenario".into(), json!(a.scenario));
        }
        Kind::InvalidYaml(details) => {
            m.insert("scenario".into(), Value::Null);
            m.insert("details".into(), json!(details));
        }
        Kind::MissingYaml(sources) => {
            m.insert("scenario".into(), Value::Null);
            m.insert("sources".into(), json!(sources));
        }
        Kind::FailedFetch(sources, error) => {
            m.insert("scenario".into(), Value::Null);
            m.insert("sources".into(), json!(sources));
            m.insert("error".into(), json!(error));
        }
        Kind::Errored(reason) => {
            m.insert("error_reason".into(), json!(reason));
        }
        _ => {}
    }
    if !matches!(a.kind, Kind::MissingYaml(_) | Kind::FailedFetch(..)) {
        m.insert("source".into(), json!(a.source));
    }
    if let Some(id) = a.result_id {
        m.insert("result_id".into(), json!(id));
    }
    if let Some(d) = &a.distinct {
        for (k, v) in DISTINCT_ON.iter().zip(d) {
            m.insert((*k).into(), json!(v));
        }
    }
    match (a.waiver_id, &a.quarantine) {
        (Some(id), _) => {
            m.insert("type".into(), json!(format!("{type_name}-waived")));
            m.insert("waiver_id".into(), json!(id));
        }
        // Greenwave's clients know the `-waived` types: a quarantined requirement reads as
        // waived, with the rule instead of a waiver id.
        (None, Some((id, reason))) => {
            m.insert("type".into(), json!(format!("{type_name}-waived")));
            m.insert("quarantine_id".into(), json!(id));
            m.insert("quarantine_reason".into(), json!(reason));
        }
        (None, None) => {
            m.insert("type".into(), json!(type_name));
            if item {
                m.insert("item".into(), s.item_json());
            }
        }
    }
    if let Some((id, expires)) = a.expired_waiver {
        m.insert("expired_waiver_id".into(), json!(id));
        m.insert("waiver_expired_at".into(), json!(Timestamp(expires).to_iso()));
    }
    Value::Object(m)
}

fn plural(count: usize, phrase: &str) -> String {
    format!("{count} {}", phrase.replace("{s}", if count == 1 { "" } else { "s" }))
}

/// Greenwave's one-line summary.
fn summarize(answers: &[Answer]) -> String {
    let total = answers.iter().filter(|a| a.is_test_result()).count();
    let mut tests: BTreeMap<&str, usize> = BTreeMap::new();
    let mut errors: BTreeMap<&str, usize> = BTreeMap::new();
    for a in answers.iter().filter(|a| !a.is_satisfied()) {
        if let Some((is_test, phrase)) = a.phrase() {
            *(if is_test { &mut tests } else { &mut errors }).entry(phrase).or_default() += 1;
        }
    }
    if tests.is_empty() && errors.is_empty() {
        return if total > 0 {
            format!("All required tests ({total} total) have passed or been waived")
        } else {
            "No tests are required".to_owned()
        };
    }
    let join = |m: &BTreeMap<&str, usize>| m.iter().map(|(p, c)| plural(*c, p)).collect::<Vec<_>>().join(", ");
    let mut parts = Vec::new();
    if !errors.is_empty() {
        parts.push(join(&errors));
    }
    if !tests.is_empty() {
        parts.push(format!("Of {}, {}", plural(total, "required test{s}"), join(&tests)));
    }
    parts.join(". ")
}

fn response(
    req: &DecisionRequest,
    answers: &[Answer],
    verbose_results: &[&ResultView],
    candidates: &[Vec<&WaiverView>],
    at: Timestamp,
    render: &dyn Fn(&ResultView) -> Value,
) -> Value {
    let subject = |a: &Answer| req.subjects.get(a.subject).map(|p| &p.subject);
    let render_answers = |satisfied: bool| -> Vec<Value> {
        answers
            .iter()
            .filter(|a| a.is_satisfied() == satisfied)
            .filter_map(|a| subject(a).map(|s| answer_json(a, s)))
            .collect()
    };
    let required = answers.iter().filter(|a| a.is_test_result() || !a.is_satisfied()).count();
    let satisfied = answers.iter().filter(|a| a.is_test_result() && a.is_satisfied()).count();
    let mut m = Map::new();
    m.insert("policies_satisfied".into(), json!(answers.iter().all(Answer::is_satisfied)));
    m.insert("summary".into(), json!(summarize(answers)));
    m.insert("satisfied_requirements".into(), Value::Array(render_answers(true)));
    m.insert("unsatisfied_requirements".into(), Value::Array(render_answers(false)));
    m.insert("progress".into(), json!({"satisfied": satisfied, "required": required}));
    if !req.on_demand {
        let ids: Vec<Value> = req.subjects.iter().flat_map(|p| p.policies.iter().map(|pol| json!(pol.id))).collect();
        m.insert("applicable_policies".into(), Value::Array(ids));
    }
    if req.verbose {
        let mut seen = HashSet::new();
        let results: Vec<Value> = verbose_results.iter().filter(|r| seen.insert(r.id)).map(|r| render(r)).collect();
        let mut waivers: Vec<&WaiverView> =
            candidates.iter().flatten().copied().filter(|w| !w.expired_at(at)).collect();
        waivers.sort_by(|a, b| b.record.timestamp.cmp(&a.record.timestamp).then(b.id.cmp(&a.id)));
        let mut seen = HashSet::new();
        let waivers: Vec<Value> = waivers
            .into_iter()
            .filter(|w| seen.insert(w.id))
            .map(|w| serde_json::to_value(w.to_json()).unwrap_or(Value::Null))
            .collect();
        m.insert("results".into(), Value::Array(results));
        m.insert("waivers".into(), Value::Array(waivers));
    }
    Value::Object(m)
}
