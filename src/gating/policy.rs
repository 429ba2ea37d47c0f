//! Policies and rules: the types, matching a request, the `/policies` JSON, and the
//! on-demand policy built from a decision request's `rules` (Greenwave's `from_value`).

use super::fnmatch::fnmatch;
use super::subject::SubjectType;
use crate::model::pystr::py_str;
use crate::model::time::parse_iso8601;
use crate::model::{Timestamp, parse_fromisoformat};
use serde_json::{Map, Value, json};

/// `!PassingTestCaseRule`: a passing (or waived) result of the testcase is required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassingTestCaseRule {
    pub test_case_name: String,
    /// Only results whose data `scenario` holds this value count.
    pub scenario: Option<String>,
    /// The rule applies to subjects created at or after this time.
    pub valid_since: Option<Timestamp>,
    /// The rule applies to subjects created before this time.
    pub valid_until: Option<Timestamp>,
}

/// `!RemoteRule`: policies are also read from the subject's `gating.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRule {
    /// URL templates tried in order; empty means the configured ones.
    pub sources: Vec<String>,
    /// Whether a missing `gating.yaml` is an unsatisfied requirement.
    pub required: bool,
}

/// A policy rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    PassingTestCase(PassingTestCaseRule),
    Remote(RemoteRule),
}

impl Rule {
    /// The rule's JSON (key `rule`, not `type`; `valid_*` are not shown). Two rules with the
    /// same JSON are the same rule: a subject evaluates it once per request.
    pub fn to_json(&self) -> Value {
        match self {
            Rule::PassingTestCase(r) => {
                json!({"rule": "PassingTestCaseRule", "test_case_name": r.test_case_name, "scenario": r.scenario})
            }
            Rule::Remote(r) => json!({"rule": "RemoteRule", "required": r.required, "sources": r.sources}),
        }
    }
}

/// Where a policy comes from; matching differs slightly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A server policy from the policies directory.
    Local,
    /// Built from a decision request's `rules`: matches any subject type.
    OnDemand,
    /// From a subject's `gating.yaml`.
    Remote,
}

/// A gating policy (`!Policy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub kind: PolicyKind,
    pub id: Option<String>,
    pub product_versions: Vec<String>,
    pub decision_context: Option<String>,
    pub decision_contexts: Vec<String>,
    pub subject_type: Option<String>,
    pub subject_types: Vec<String>,
    pub rules: Vec<Rule>,
    pub excluded_packages: Vec<String>,
    pub packages: Vec<String>,
    pub relevance_key: Option<String>,
    pub relevance_value: Option<String>,
    /// URL of the `gating.yaml` a remote policy came from.
    pub source: Option<String>,
}

impl Policy {
    /// A policy of `kind` with every attribute at its default.
    pub fn empty(kind: PolicyKind) -> Policy {
        Policy {
            kind,
            id: None,
            product_versions: Vec::new(),
            decision_context: None,
            decision_contexts: Vec::new(),
            subject_type: None,
            subject_types: Vec::new(),
            rules: Vec::new(),
            excluded_packages: Vec::new(),
            packages: Vec::new(),
            relevance_key: None,
            relevance_value: None,
            source: None,
        }
    }

    /// Upstream's label in error messages: `Policy 'id'` (`'untitled'` without an id).
    pub fn label(&self) -> String {
        format!("Policy {}", py_repr(self.id.as_deref().unwrap_or("untitled")))
    }

    /// `decision_contexts`, else `[decision_context]`.
    pub fn all_decision_contexts(&self) -> Vec<&str> {
        if !self.decision_contexts.is_empty() {
            return self.decision_contexts.iter().map(String::as_str).collect();
        }
        self.decision_context.iter().map(String::as_str).collect()
    }

    /// `subject_types`, else `[subject_type]` (empty: any, for remote policies).
    pub fn all_subject_types(&self) -> Vec<&str> {
        if !self.subject_types.is_empty() {
            return self.subject_types.iter().map(String::as_str).collect();
        }
        self.subject_type.iter().map(String::as_str).collect()
    }

    pub fn matches_product_version(&self, product_version: &str) -> bool {
        self.product_versions.iter().any(|p| fnmatch(product_version, p))
    }

    /// Any requested context is one of the policy's (no requested context: any).
    pub fn matches_contexts(&self, contexts: &[String]) -> bool {
        let own = self.all_decision_contexts();
        contexts.is_empty() || contexts.iter().any(|c| own.contains(&c.as_str()))
    }

    /// On-demand policies match any type; others by the type's id or aliases (`*`: any).
    pub fn matches_subject_type(&self, t: &SubjectType) -> bool {
        let names = self.all_subject_types();
        match self.kind {
            PolicyKind::OnDemand => true,
            PolicyKind::Remote if names.is_empty() => true,
            _ => names.iter().any(|n| *n == "*" || t.matches(n)),
        }
    }

    /// Whether the policy applies to a decision: context, product version (fnmatch) and
    /// subject type. Rules never exclude a policy in a decision (a `RemoteRule` "matches
    /// anything" there, a `PassingTestCaseRule` matches when no testcase is asked about).
    pub fn applies(&self, contexts: &[String], product_version: &str, subject_type: &SubjectType) -> bool {
        self.matches_contexts(contexts)
            && self.matches_product_version(product_version)
            && self.matches_subject_type(subject_type)
    }

    /// Whether a remote policy is one this (parent) policy's `RemoteRule` should use:
    /// shared decision contexts, or for on-demand parents a matching product version.
    pub fn matches_sub_policy(&self, sub: &Policy) -> bool {
        match self.kind {
            PolicyKind::OnDemand => self.product_versions.iter().any(|pv| sub.matches_product_version(pv)),
            _ => {
                let own = self.all_decision_contexts();
                sub.all_decision_contexts().iter().any(|c| own.contains(c))
            }
        }
    }

    /// The policy as `GET /api/v1.0/policies` shows it (every attribute, defaults included).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "product_versions": self.product_versions,
            "decision_context": self.decision_context,
            "decision_contexts": self.decision_contexts,
            "subject_type": self.subject_type,
            "subject_types": self.subject_types,
            "rules": self.rules.iter().map(Rule::to_json).collect::<Vec<_>>(),
            "excluded_packages": self.excluded_packages,
            "packages": self.packages,
            "relevance_key": self.relevance_key,
            "relevance_value": self.relevance_value,
        })
    }
}

/// `GET /api/v1.0/policies` body.
pub fn policies_json(policies: &[Policy]) -> Value {
    json!({"policies": policies.iter().map(Policy::to_json).collect::<Vec<_>>()})
}

/// Python's `repr()` of a string.
pub(crate) fn py_repr(s: &str) -> String {
    let list = py_str(&Value::Array(vec![Value::String(s.to_owned())]));
    list.trim_start_matches('[').trim_end_matches(']').to_owned()
}

/// Greenwave's lenient date/time (dateutil): ISO 8601 forms; naive means UTC.
pub(crate) fn parse_datetime(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    parse_fromisoformat(s).ok().or_else(|| parse_iso8601(s))
}

pub(crate) const OBSOLETE_ADVICE: &str = "Please use the \"packages\" allowlist instead.";

/// The error for an obsolete rule tag (`!PackageSpecificBuild`, `!FedoraAtomicCi`).
pub(crate) fn obsolete_rule(tag: &str) -> Option<String> {
    matches!(tag, "PackageSpecificBuild" | "FedoraAtomicCi").then(|| format!("!{tag} is obsolete. {OBSOLETE_ADVICE}"))
}

// ---------------------------------------------------------------------------------------
// On-demand policies (`from_value` over JSON)
// ---------------------------------------------------------------------------------------

/// Builds the on-demand policy of a decision request for one subject, as upstream: the
/// defaults (`id: on-demand-policy`, `product_versions: [product_version]`, context
/// `on-demand-policy`) overlaid with the request's keys. Errors are the 400 message.
pub fn on_demand_policy(
    request: &Map<String, Value>,
    product_version: &str,
    subject_type: &str,
) -> Result<Policy, String> {
    let mut data = Map::new();
    data.insert("id".into(), json!("on-demand-policy"));
    data.insert("product_versions".into(), json!([product_version]));
    data.insert("decision_context".into(), json!("on-demand-policy"));
    data.insert("subject_type".into(), json!("unused"));
    for (k, v) in request {
        if k != "subject" && k != "subject_type" {
            data.insert(k.clone(), v.clone());
        }
    }
    data.insert("subject_type".into(), json!(subject_type));
    policy_from_value(&data).map_err(|e| format!("Failed to parse on demand policy: {e}"))
}

/// `from_value`: JSON null counts as absent.
fn attr<'a>(data: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    data.get(name).filter(|v| !v.is_null())
}

fn wrap<T>(name: &str, r: Result<T, String>) -> Result<T, String> {
    r.map_err(|e| format!("Attribute {}: {e}", py_repr(name)))
}

fn required<'a>(data: &'a Map<String, Value>, name: &str) -> Result<&'a Value, String> {
    attr(data, name).ok_or_else(|| format!("Attribute {} is required", py_repr(name)))
}

fn policy_from_value(data: &Map<String, Value>) -> Result<Policy, String> {
    let mut p = Policy::empty(PolicyKind::OnDemand);
    p.id = Some(py_str(required(data, "id")?));
    p.product_versions = wrap("product_versions", str_list(required(data, "product_versions")?))?;
    p.decision_context = attr(data, "decision_context").map(py_str);
    if let Some(v) = attr(data, "decision_contexts") {
        p.decision_contexts = wrap("decision_contexts", str_list(v))?;
    }
    p.subject_type = Some(py_str(required(data, "subject_type")?));
    if let Some(v) = attr(data, "subject_types") {
        p.subject_types = wrap("subject_types", str_list(v))?;
    }
    p.rules = wrap("rules", rule_list(required(data, "rules")?))?;
    if let Some(v) = attr(data, "excluded_packages") {
        p.excluded_packages = wrap("excluded_packages", str_list(v))?;
    }
    if let Some(v) = attr(data, "packages") {
        p.packages = wrap("packages", str_list(v))?;
    }
    p.relevance_key = attr(data, "relevance_key").map(py_str);
    p.relevance_value = attr(data, "relevance_value").map(py_str);
    Ok(p)
}

/// An item of a `from_value` list: a plain value or an object built from a `type` dict.
enum Item {
    Plain(Value),
    Rule(Rule),
}

/// Python iterates a list's items, a string's characters and a dict's keys alike.
fn list_items(v: &Value, what: &str) -> Result<Vec<Item>, String> {
    let raw: Vec<Value> = match v {
        Value::Array(items) => items.clone(),
        Value::String(s) => s.chars().map(|c| Value::String(c.to_string())).collect(),
        Value::Object(m) => m.keys().map(|k| Value::String(k.clone())).collect(),
        _ => return Err(format!("Expected list of {what} objects")),
    };
    raw.into_iter()
        .map(|item| match item {
            Value::Object(m) => rule_from_typed_dict(&m).map(Item::Rule),
            other => Ok(Item::Plain(other)),
        })
        .collect()
}

fn str_list(v: &Value) -> Result<Vec<String>, String> {
    list_items(v, "str")?
        .into_iter()
        .map(|i| match i {
            Item::Plain(Value::String(s)) => Ok(s),
            _ => Err("Expected list of str objects".to_owned()),
        })
        .collect()
}

fn rule_list(v: &Value) -> Result<Vec<Rule>, String> {
    list_items(v, "Rule")?
        .into_iter()
        .map(|i| match i {
            Item::Rule(r) => Ok(r),
            Item::Plain(_) => Err("Expected list of Rule objects".to_owned()),
        })
        .collect()
}

/// A list item given as a dict with a `type`: one of the rule classes.
fn rule_from_typed_dict(m: &Map<String, Value>) -> Result<Rule, String> {
    let t = match m.get("type") {
        None | Some(Value::Null) => return Err("Key 'type' is required for each list item".to_owned()),
        Some(Value::String(s)) if s.is_empty() => return Err("Key 'type' is required for each list item".to_owned()),
        Some(Value::Bool(false)) => return Err("Key 'type' is required for each list item".to_owned()),
        Some(t) => py_str(t),
    };
    if let Some(msg) = obsolete_rule(&t) {
        return Err(msg);
    }
    match t.as_str() {
        "PassingTestCaseRule" => passing_rule_from_value(m),
        "RemoteRule" => remote_rule_from_value(m),
        _ => Err(format!("Key 'type' for an list item is not valid: {t}")),
    }
}

fn datetime_value(v: &Value) -> Result<Timestamp, String> {
    let s = py_str(v);
    parse_datetime(&s).ok_or_else(|| format!("Could not parse string as date/time, got: {s}"))
}

fn passing_rule_from_value(m: &Map<String, Value>) -> Result<Rule, String> {
    let test_case_name = py_str(required(m, "test_case_name")?);
    let scenario = attr(m, "scenario").map(py_str);
    let valid_since = attr(m, "valid_since").map(|v| wrap("valid_since", datetime_value(v))).transpose()?;
    let valid_until = attr(m, "valid_until").map(|v| wrap("valid_until", datetime_value(v))).transpose()?;
    Ok(Rule::PassingTestCase(PassingTestCaseRule { test_case_name, scenario, valid_since, valid_until }))
}

fn remote_rule_from_value(m: &Map<String, Value>) -> Result<Rule, String> {
    let sources = attr(m, "sources").map(|v| wrap("sources", str_list(v))).transpose()?.unwrap_or_default();
    let required = match attr(m, "required") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(format!("Attribute 'required': Expected a boolean value, got: {}", py_str(other)));
        }
    };
    Ok(Rule::Remote(RemoteRule { sources, required }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_demand(req: Value) -> Result<Policy, String> {
        on_demand_policy(req.as_object().unwrap(), "fedora-32", "koji_build")
    }

    #[test]
    fn on_demand_rules_parse_like_upstream() {
        let p = on_demand(json!({"rules": [{"type": "PassingTestCaseRule", "test_case_name": "t", "scenario": "s"},
            {"type": "RemoteRule", "required": true}], "excluded_packages": ["python2-*"]}))
        .unwrap();
        assert_eq!(p.id.as_deref(), Some("on-demand-policy"));
        assert_eq!(p.product_versions, vec!["fedora-32"]);
        assert_eq!(p.rules.len(), 2);
        assert_eq!(p.excluded_packages, vec!["python2-*"]);
        let errs = [
            (json!({"rules": [{"type": "X"}]}), "Attribute 'rules': Key 'type' for an list item is not valid: X"),
            (
                json!({"rules": [{"test_case_name": "t"}]}),
                "Attribute 'rules': Key 'type' is required for each list item",
            ),
            (json!({"rules": ["t"]}), "Attribute 'rules': Expected list of Rule objects"),
            (
                json!({"rules": [{"type": "PassingTestCaseRule"}]}),
                "Attribute 'rules': Attribute 'test_case_name' is required",
            ),
            (
                json!({"rules": [{"type": "RemoteRule", "required": 1}]}),
                "Attribute 'rules': Attribute 'required': Expected a boolean value, got: 1",
            ),
            (
                json!({"rules": [{"type": "PackageSpecificBuild"}]}),
                "Attribute 'rules': !PackageSpecificBuild is obsolete. Please use the \"packages\" allowlist instead.",
            ),
            (
                json!({"rules": [{"type": "PassingTestCaseRule", "test_case_name": "t", "valid_since": "soon"}]}),
                "Attribute 'rules': Attribute 'valid_since': Could not parse string as date/time, got: soon",
            ),
            (json!({"rules": [], "packages": 5}), "Attribute 'packages': Expected list of str objects"),
        ];
        for (req, want) in errs {
            assert_eq!(on_demand(req.clone()), Err(format!("Failed to parse on demand policy: {want}")), "{req}");
        }
    }

    #[test]
    fn rule_json_uses_key_rule() {
        let r = Rule::Remote(RemoteRule { sources: vec![], required: false });
        assert_eq!(r.to_json(), json!({"rule": "RemoteRule", "required": false, "sources": []}));
    }
}
