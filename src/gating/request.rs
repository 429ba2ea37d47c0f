//! `POST /api/v1.0/decision` request validation, in upstream's order and wording, and the
//! per-subject plan: applicable policies (404 when none) and what data to fetch.

use super::DecisionError;
use super::policy::{Policy, Rule, on_demand_policy};
use super::subject::{Subject, SubjectTypes};
use crate::model::time::parse_submit_time;
use crate::model::{DataFilter, Timestamp};
use serde_json::{Map, Value};

/// A validated decision request with the subjects to evaluate (subjects of a type with
/// `ignore_missing_policy` and no applicable policy are left out, as upstream skips them).
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRequest {
    pub product_version: String,
    /// Requested gating points (empty for on-demand requests).
    pub decision_contexts: Vec<String>,
    /// `rules` were given: no `applicable_policies` in the response.
    pub on_demand: bool,
    pub verbose: bool,
    /// Evaluate with only the results and waivers known at this instant (inclusive).
    pub when: Option<Timestamp>,
    pub ignore_results: Vec<i64>,
    pub ignore_waivers: Vec<i64>,
    pub subjects: Vec<SubjectPlan>,
}

/// One subject and the policies that apply to it, in configuration order.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectPlan {
    pub subject: Subject,
    pub policies: Vec<Policy>,
}

/// What results the engine needs for a subject: candidates matching any of `queries`
/// (each a conjunction of ResultsDB-style data filters, a value list meaning "any of"),
/// of these testcases (`None`: all), submitted at or before `until` (if set). Pass every
/// such result, not only the latest: the engine picks the latest itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultFetch {
    pub queries: Vec<Vec<DataFilter>>,
    pub testcases: Option<Vec<String>>,
    pub until: Option<Timestamp>,
}

/// What waivers the engine needs for a subject: every waiver whose `subject_type` is one
/// of `subject_types` (the type's id and aliases) and whose identifier is this one, of any
/// testcase, product version and age (obsolete ones too: they decide which waiver is current).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiverFetch {
    pub subject_types: Vec<String>,
    pub subject_identifier: String,
}

impl SubjectPlan {
    /// The results to fetch for this subject.
    pub fn result_fetch(&self, req: &DecisionRequest) -> ResultFetch {
        let rules = || self.policies.iter().flat_map(|p| p.rules.iter());
        let needs_all = req.verbose || rules().any(|r| matches!(r, Rule::Remote(_)));
        let testcases = (!needs_all).then(|| {
            let mut names: Vec<String> = rules()
                .filter_map(|r| match r {
                    Rule::PassingTestCase(p) => Some(p.test_case_name.clone()),
                    Rule::Remote(_) => None,
                })
                .collect();
            names.sort();
            names.dedup();
            names
        });
        ResultFetch { queries: self.subject.result_queries(), testcases, until: req.when }
    }

    /// The waivers to fetch for this subject.
    pub fn waiver_fetch(&self) -> WaiverFetch {
        let t = &self.subject.subject_type;
        let mut subject_types = vec![t.id.clone()];
        subject_types.extend(t.aliases.iter().cloned());
        WaiverFetch { subject_types, subject_identifier: self.subject.identifier.clone() }
    }
}

fn bad(msg: &str) -> DecisionError {
    DecisionError::BadRequest(msg.to_owned())
}

/// Python truthiness of a JSON value.
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// Validates a decision body (`None` when the request had no JSON) against the policies
/// and subject types, and plans each subject. Error order and texts are upstream's.
pub fn plan_decision(
    body: Option<&Value>,
    policies: &[Policy],
    types: &SubjectTypes,
) -> Result<DecisionRequest, DecisionError> {
    if !truthy(body) {
        return Err(DecisionError::UnsupportedMediaType("No JSON payload in request".to_owned()));
    }
    let Some(Value::Object(data)) = body else {
        return Err(bad("Invalid JSON payload, must be an object"));
    };
    let product_version = match data.get("product_version") {
        v if !truthy(v) => return Err(bad("Missing required product version")),
        Some(Value::String(s)) => s.clone(),
        _ => return Err(bad("Invalid product_version, must be a string")),
    };
    if !truthy(data.get("decision_context")) && !truthy(data.get("rules")) {
        return Err(bad("Either decision_context or rules is required."));
    }
    let on_demand = truthy(data.get("rules"));
    let context_given = match data.get("decision_context") {
        None => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    if on_demand && context_given {
        return Err(bad("Cannot have both decision_context and rules"));
    }
    let (decision_contexts, context_text) = decision_contexts(data)?;
    // Upstream builds on-demand policies (parsing every subject) before checking the flags.
    let mut parsed = None;
    let mut on_demand_policies = Vec::new();
    if on_demand {
        let subjects: Vec<Subject> = decision_subjects(data, types)?.into_iter().collect::<Result<_, _>>()?;
        for s in &subjects {
            on_demand_policies
                .push(on_demand_policy(data, &product_version, s.type_id()).map_err(DecisionError::BadRequest)?);
        }
        parsed = Some(subjects);
    }
    let verbose = match data.get("verbose") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("Invalid verbose flag, must be a bool")),
    };
    let when = parse_when(data.get("when"))?;
    let ignore_results = id_list(data, "ignore_result")?;
    let ignore_waivers = id_list(data, "ignore_waiver")?;
    let policies = if on_demand { &on_demand_policies[..] } else { policies };
    let subjects = match parsed {
        Some(s) => s.into_iter().map(Ok).collect(),
        None => decision_subjects(data, types)?,
    };
    let mut plans = Vec::with_capacity(subjects.len());
    // Subjects are parsed and checked one by one: a 404 for an earlier subject wins
    // over a bad later one.
    for subject in subjects {
        let subject = subject?;
        let applicable: Vec<Policy> = policies
            .iter()
            .filter(|p| p.applies(&decision_contexts, &product_version, &subject.subject_type))
            .cloned()
            .collect();
        if applicable.is_empty() {
            if subject.subject_type.ignore_missing_policy {
                continue;
            }
            return Err(DecisionError::NotFound(format!(
                "Found no applicable policies for {} subjects at gating point(s) {} in {}",
                subject.type_id(),
                context_text,
                product_version
            )));
        }
        plans.push(SubjectPlan { subject, policies: applicable });
    }
    Ok(DecisionRequest {
        product_version,
        decision_contexts,
        on_demand,
        verbose,
        when,
        ignore_results,
        ignore_waivers,
        subjects: plans,
    })
}

/// The requested contexts and how the 404 message names them (a list joined by spaces).
fn decision_contexts(data: &Map<String, Value>) -> Result<(Vec<String>, String), DecisionError> {
    let invalid = || bad("Invalid decision_context, must be a string or a list of strings");
    match data.get("decision_context") {
        None | Some(Value::Null) => Ok((Vec::new(), String::new())),
        Some(Value::String(s)) => Ok((vec![s.clone()], s.clone())),
        Some(Value::Array(items)) => {
            let list: Vec<String> =
                items.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Option<_>>().ok_or_else(invalid)?;
            let text = list.join(" ");
            Ok((list, text))
        }
        Some(_) => Err(invalid()),
    }
}

/// `when`: `%Y-%m-%dT%H:%M:%S.%f` exactly (fraction required, no zone); falsy is absent.
fn parse_when(v: Option<&Value>) -> Result<Option<Timestamp>, DecisionError> {
    if !truthy(v) {
        return Ok(None);
    }
    let invalid = || bad("Invalid \"when\" parameter, must be in ISO8601 format");
    let Some(Value::String(s)) = v else { return Err(invalid()) };
    let fraction_last = s.rsplit_once('.').is_some_and(|(_, f)| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    if !fraction_last {
        return Err(invalid());
    }
    parse_submit_time(s).map(Some).ok_or_else(invalid)
}

/// `ignore_result` / `ignore_waiver`: ids to disregard. Upstream compares ids with `in`,
/// so non-integer items never match; a non-list would crash it, we refuse it.
fn id_list(data: &Map<String, Value>, key: &str) -> Result<Vec<i64>, DecisionError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items
            .iter()
            .filter_map(|v| v.as_i64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)))
            .collect()),
        Some(_) => Err(DecisionError::BadRequest(format!("Invalid {key}, must be a list of ints"))),
    }
}

/// The request's subjects: the `subject` list of dicts, else `subject_type` +
/// `subject_identifier`. The list's shape is checked at once, each subject when reached.
fn decision_subjects(
    data: &Map<String, Value>,
    types: &SubjectTypes,
) -> Result<Vec<Result<Subject, DecisionError>>, DecisionError> {
    if let Some(list) = data.get("subject") {
        let dicts: Vec<&Map<String, Value>> = match list {
            Value::Array(items) if !items.is_empty() => {
                items.iter().map(Value::as_object).collect::<Option<_>>().ok_or_else(|| bad(INVALID_SUBJECT))?
            }
            _ => return Err(bad(INVALID_SUBJECT)),
        };
        return Ok(dicts.into_iter().map(|d| subject_from_dict(d, types)).collect());
    }
    let Some(t) = data.get("subject_type") else {
        return Err(bad("Missing required \"subject_type\" parameter"));
    };
    let Some(id) = data.get("subject_identifier") else {
        return Err(bad("Missing required \"subject_identifier\" parameter"));
    };
    let Value::String(t) = t else {
        return Err(bad("Invalid \"subject_type\" parameter, must be a string"));
    };
    Ok(vec![make_subject(t, id, types)])
}

const INVALID_SUBJECT: &str = "Invalid subject, must be a list of dicts";

fn make_subject(type_name: &str, item: &Value, types: &SubjectTypes) -> Result<Subject, DecisionError> {
    let Value::String(identifier) = item else {
        return Err(bad("Subject item/identificator must be a string"));
    };
    Ok(Subject { subject_type: types.resolve(type_name), identifier: identifier.clone() })
}

/// Upstream's `create_subject_from_data`: the first configured type (matching the dict's
/// `type` by id, if given) whose `item_key` is in the dict, else `type` + `item`.
fn subject_from_dict(d: &Map<String, Value>, types: &SubjectTypes) -> Result<Subject, DecisionError> {
    let type_id = d.get("type").filter(|v| truthy(Some(v)));
    for t in &types.types {
        if type_id.is_some_and(|id| id.as_str() != Some(t.id.as_str())) {
            continue;
        }
        let Some(key) = &t.item_key else { continue };
        let item = d.get(key.as_str());
        if !truthy(item) {
            continue;
        }
        let Some(Value::String(identifier)) = item else {
            return Err(bad("Subject item/identificator must be a string"));
        };
        return Ok(Subject { subject_type: t.clone(), identifier: identifier.clone() });
    }
    match (type_id, d.get("item").filter(|v| truthy(Some(v)))) {
        (Some(Value::String(t)), Some(item)) => make_subject(t, item, types),
        (Some(_), Some(_)) => Err(bad("Subject item/identificator must be a string")),
        _ => Err(bad("Could not detect subject_identifier.")),
    }
}
