//! Loading policies from YAML text (`--policies DIR` files, remote `gating.yaml`) with
//! Greenwave's messages, plus the file and line of each error. The caller reads the files.
//!
//! Documents are parsed with `serde_norway` into values (tags kept), then checked attribute
//! by attribute in upstream order. Syntax errors carry the parser's line; a semantic error
//! points at the line of the offending key (or list item) inside its document.

use super::policy::{
    PassingTestCaseRule, Policy, PolicyKind, RemoteRule, Rule, obsolete_rule, parse_datetime, py_repr,
};
use serde::Deserialize;
use serde_norway::{Mapping, Value};
use std::collections::BTreeSet;
use std::fmt;

/// A policy file that cannot be loaded: where and why (the message is upstream's text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct PolicyError {
    pub file: String,
    /// 1-based line of the offending document, key or list item.
    pub line: usize,
    pub message: String,
}

/// Every file's first error (each file stops at its first error, as upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for PolicyErrors {}

/// Loads a directory's policies from `(file name, text)` pairs (the caller picks the
/// `*.yaml` files). Files are taken in name order, documents in file order.
pub fn load_policies(files: &[(String, String)]) -> Result<Vec<Policy>, PolicyErrors> {
    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut policies = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in sorted {
        match parse_policies(name, text, PolicyKind::Local) {
            Ok(p) => policies.extend(p),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok(policies) } else { Err(PolicyErrors(errors)) }
}

/// Parses one YAML stream of `!Policy` documents (the tag is optional, as upstream now).
/// `kind` is `Local` for server policies or `Remote` for a `gating.yaml`.
pub fn parse_policies(file: &str, text: &str, kind: PolicyKind) -> Result<Vec<Policy>, PolicyError> {
    let lines = DocLines::new(text);
    let mut out = Vec::new();
    // A stream of only comments and blanks has no documents (the parser would give a null one).
    if lines.starts.is_empty() {
        return Ok(out);
    }
    for (i, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let (start, end) = lines.document(i);
        let value = Value::deserialize(doc).map_err(|e| PolicyError {
            file: file.to_owned(),
            line: e.location().map_or(start, |l| l.line()),
            message: format!("YAML Parser Error: {e}"),
        })?;
        let doc = Doc { lines: &lines, start, end };
        let policy = policy_from_yaml(&value, kind, &doc).map_err(|(line, message)| PolicyError {
            file: file.to_owned(),
            line,
            message,
        })?;
        out.push(policy);
    }
    Ok(out)
}

/// `POST /api/v1.0/validate-gating-yaml`: `Ok` with the 200 message (`All OK`, or the
/// missing-parent-contexts notice), `Err` with the 400 message.
pub fn validate_gating_yaml(text: &str, parents: &[Policy]) -> Result<String, String> {
    let policies = parse_policies("gating.yaml", text, PolicyKind::Remote).map_err(|e| e.message)?;
    if policies.is_empty() {
        return Err("No policies defined".to_owned());
    }
    let parent_contexts: BTreeSet<&str> = parents.iter().flat_map(|p| p.all_decision_contexts()).collect();
    let missing: BTreeSet<&str> =
        policies.iter().flat_map(|p| p.all_decision_contexts()).filter(|c| !parent_contexts.contains(c)).collect();
    if missing.is_empty() {
        return Ok("All OK".to_owned());
    }
    let list: Vec<&str> = missing.into_iter().collect();
    Ok(format!(
        "Greenwave could not find a parent policy(ies) for following decision context(s): {}. Please change your policy so that it will match a decision context in the parent policies.",
        list.join(", ")
    ))
}

// ---------------------------------------------------------------------------------------
// Line bookkeeping
// ---------------------------------------------------------------------------------------

/// The text's lines and where each document starts (1-based).
struct DocLines<'a> {
    lines: Vec<&'a str>,
    starts: Vec<usize>,
}

impl<'a> DocLines<'a> {
    fn new(text: &'a str) -> DocLines<'a> {
        let lines: Vec<&str> = text.lines().collect();
        let mut starts = Vec::new();
        let mut seen_content = false;
        for (i, line) in lines.iter().enumerate() {
            let is_marker = *line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
            if is_marker {
                starts.push(i + 1);
                seen_content = true;
                continue;
            }
            let t = line.trim();
            let is_content = !t.is_empty() && !t.starts_with('#') && !t.starts_with('%') && t != "...";
            if is_content && !seen_content {
                starts.push(i + 1);
                seen_content = true;
            }
        }
        DocLines { lines, starts }
    }

    /// First and last line (1-based, inclusive) of document `i`.
    fn document(&self, i: usize) -> (usize, usize) {
        let start = self.starts.get(i).or(self.starts.last()).copied().unwrap_or(1);
        let end = self.starts.get(i + 1).map_or(self.lines.len().max(start), |next| next.saturating_sub(1).max(start));
        (start, end)
    }
}

/// One document's line range: finds keys and list items for error lines.
struct Doc<'a> {
    lines: &'a DocLines<'a>,
    start: usize,
    end: usize,
}

impl Doc<'_> {
    fn line_text(&self, n: usize) -> &str {
        self.lines.lines.get(n.wrapping_sub(1)).copied().unwrap_or("")
    }

    /// The first line at or after `from` holding `key:` (block or flow style).
    fn key_line(&self, key: &str, from: usize) -> Option<usize> {
        (from..=self.end).find(|&n| has_key(self.line_text(n), key))
    }

    /// The line of attribute `key`, else the document's first line.
    fn attr_line(&self, key: &str) -> usize {
        self.key_line(key, self.start).unwrap_or(self.start)
    }

    /// The line of item `index` of the block list under `key` (else the key's line).
    fn item_line(&self, key: &str, index: usize) -> usize {
        let Some(k) = self.key_line(key, self.start) else { return self.start };
        (k + 1..=self.end)
            .filter(|&n| {
                let t = self.line_text(n).trim_start();
                t == "-" || t.starts_with("- ")
            })
            .nth(index)
            .unwrap_or(k)
    }
}

fn has_key(line: &str, key: &str) -> bool {
    let code = line.split(" #").next().unwrap_or(line);
    [key.to_owned(), format!("\"{key}\""), format!("'{key}'")].iter().any(|k| {
        code.match_indices(k.as_str()).any(|(i, _)| {
            let before = code[..i].chars().next_back();
            let after = code[i + k.len()..].trim_start();
            before.is_none_or(|c| matches!(c, ' ' | '\t' | '{' | ',' | '-' | '?')) && after.starts_with(':')
        })
    })
}

// ---------------------------------------------------------------------------------------
// YAML node → policy
// ---------------------------------------------------------------------------------------

/// An error: the line and upstream's message.
type Located = (usize, String);

fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => untag(&t.value),
        other => other,
    }
}

fn node_kind(v: &Value) -> &'static str {
    match untag(v) {
        Value::Sequence(_) => "sequence",
        Value::Mapping(_) => "mapping",
        _ => "scalar",
    }
}

/// `construct_scalar`: the scalar's text.
fn scalar_text(v: &Value) -> Result<String, String> {
    match untag(v) {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok(String::new()),
        _ => Err(format!("expected a scalar node, but found {}", node_kind(v))),
    }
}

fn get<'a>(m: &'a Mapping, key: &str) -> Option<&'a Value> {
    m.iter().find(|(k, _)| scalar_text(k).is_ok_and(|s| s == key)).map(|(_, v)| v)
}

/// Attribute errors, labelled as upstream: `<label>: Attribute 'x': <detail>`.
fn attr_err(label: &str, name: &str, detail: &str) -> String {
    format!("{label}: Attribute {}: {detail}", py_repr(name))
}

/// A tagged list item: the tag without `!`.
fn tag_of(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) => Some(t.tag.to_string().trim_start_matches('!').to_owned()),
        _ => None,
    }
}

/// What constructing a list item gave: a plain value or a rule.
enum Built {
    Plain(bool),
    Rule(Rule),
}

/// Constructs one sequence item as PyYAML would: known tags build rules, unknown tags fail.
fn construct_item(v: &Value) -> Result<Built, String> {
    let Some(tag) = tag_of(v) else {
        return Ok(Built::Plain(matches!(v, Value::String(_))));
    };
    if let Some(msg) = obsolete_rule(&tag) {
        return Err(msg);
    }
    match tag.as_str() {
        "PassingTestCaseRule" => passing_rule(v).map(Built::Rule),
        "RemoteRule" => remote_rule(v).map(Built::Rule),
        "Policy" => Ok(Built::Plain(false)),
        _ => Err(format!("could not determine a constructor for the tag '!{tag}'")),
    }
}

fn sequence(v: &Value) -> Result<&Vec<Value>, String> {
    match untag(v) {
        Value::Sequence(items) => Ok(items),
        _ => Err(format!("expected a sequence node, but found {}", node_kind(v))),
    }
}

fn str_list(v: &Value) -> Result<Vec<String>, String> {
    let items = sequence(v)?;
    let built: Vec<Built> = items.iter().map(construct_item).collect::<Result<_, _>>()?;
    if built.iter().any(|b| !matches!(b, Built::Plain(true))) {
        return Err("Expected list of str objects".to_owned());
    }
    Ok(items.iter().filter_map(|i| scalar_text(i).ok()).collect())
}

/// The rules list; errors carry the index of the offending item.
fn rule_list(v: &Value) -> Result<Vec<Rule>, (Option<usize>, String)> {
    let items = sequence(v).map_err(|e| (None, e))?;
    let mut built = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        built.push(construct_item(item).map_err(|e| (Some(i), e))?);
    }
    built
        .into_iter()
        .enumerate()
        .map(|(i, b)| match b {
            Built::Rule(r) => Ok(r),
            Built::Plain(_) => Err((Some(i), "Expected list of Rule objects".to_owned())),
        })
        .collect()
}

fn mapping<'a>(v: &'a Value, tag: &str) -> Result<&'a Mapping, String> {
    match untag(v) {
        Value::Mapping(m) => Ok(m),
        _ => Err(format!("expected a mapping node for {tag}, but found {}", node_kind(v))),
    }
}

fn opt_scalar(m: &Mapping, name: &str, label: &str) -> Result<Option<String>, String> {
    match get(m, name) {
        None => Ok(None),
        Some(v) if matches!(untag(v), Value::Null) => Ok(None),
        Some(v) => scalar_text(v).map(Some).map_err(|e| attr_err(label, name, &e)),
    }
}

fn passing_rule(v: &Value) -> Result<Rule, String> {
    let label = "YAML object !PassingTestCaseRule";
    let m = mapping(v, "!PassingTestCaseRule")?;
    let test_case_name = match get(m, "test_case_name") {
        None => return Err(format!("{label}: Attribute 'test_case_name' is required")),
        Some(v) => scalar_text(v).map_err(|e| attr_err(label, "test_case_name", &e))?,
    };
    let scenario = opt_scalar(m, "scenario", label)?;
    let time = |name: &str| -> Result<Option<_>, String> {
        let Some(text) = opt_scalar(m, name, label)? else { return Ok(None) };
        parse_datetime(&text)
            .map(Some)
            .ok_or_else(|| attr_err(label, name, &format!("Could not parse string as date/time, got: {text}")))
    };
    let valid_since = time("valid_since")?;
    let valid_until = time("valid_until")?;
    Ok(Rule::PassingTestCase(PassingTestCaseRule { test_case_name, scenario, valid_since, valid_until }))
}

/// PyYAML's YAML 1.1 booleans (what `yaml.safe_load` of the scalar's text gives).
fn yaml11_bool(v: &Value) -> Result<bool, String> {
    let got = match untag(v) {
        Value::Bool(b) => return Ok(*b),
        Value::String(s) => match s.as_str() {
            "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => return Ok(true),
            "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => return Ok(false),
            other => other.to_owned(),
        },
        Value::Null => "None".to_owned(),
        Value::Number(n) => n.to_string(),
        other => return Err(format!("expected a scalar node, but found {}", node_kind(other))),
    };
    Err(format!("Expected a boolean value, got: {got}"))
}

fn remote_rule(v: &Value) -> Result<Rule, String> {
    let label = "YAML object !RemoteRule";
    let m = mapping(v, "!RemoteRule")?;
    let sources = match get(m, "sources") {
        None => Vec::new(),
        Some(v) => str_list(v).map_err(|e| attr_err(label, "sources", &e))?,
    };
    let required = match get(m, "required") {
        None => false,
        Some(v) => yaml11_bool(v).map_err(|e| attr_err(label, "required", &e))?,
    };
    Ok(Rule::Remote(RemoteRule { sources, required }))
}

fn policy_from_yaml(v: &Value, kind: PolicyKind, doc: &Doc) -> Result<Policy, Located> {
    let Value::Mapping(m) = untag(v) else {
        return Err((doc.start, "Expected mapping for !Policy tagged object".to_owned()));
    };
    let mut p = Policy::empty(kind);
    if kind == PolicyKind::Remote {
        p.product_versions = vec!["*".to_owned()];
    }
    read_attributes(m, &mut p, doc)?;
    validate(&p).map_err(|e| (doc.start, format!("{}: {e}", p.label())))?;
    Ok(p)
}

/// Reads the attributes in upstream order; the first bad one stops.
fn read_attributes(m: &Mapping, p: &mut Policy, doc: &Doc) -> Result<(), Located> {
    let local = p.kind != PolicyKind::Remote;
    let required =
        |p: &Policy, name: &str| (doc.start, format!("{}: Attribute {} is required", p.label(), py_repr(name)));
    let fail = |p: &Policy, name: &str, e: String| (doc.attr_line(name), attr_err(&p.label(), name, &e));
    match get(m, "id") {
        Some(v) => p.id = Some(scalar_text(v).map_err(|e| fail(p, "id", e))?),
        None if local => return Err(required(p, "id")),
        None => {}
    }
    match get(m, "product_versions") {
        Some(v) => p.product_versions = str_list(v).map_err(|e| fail(p, "product_versions", e))?,
        None if local => return Err(required(p, "product_versions")),
        None => {}
    }
    p.decision_context =
        opt_scalar(m, "decision_context", &p.label()).map_err(|e| (doc.attr_line("decision_context"), e))?;
    if let Some(v) = get(m, "decision_contexts") {
        p.decision_contexts = str_list(v).map_err(|e| fail(p, "decision_contexts", e))?;
    }
    p.subject_type = opt_scalar(m, "subject_type", &p.label()).map_err(|e| (doc.attr_line("subject_type"), e))?;
    if let Some(v) = get(m, "subject_types") {
        p.subject_types = str_list(v).map_err(|e| fail(p, "subject_types", e))?;
    }
    match get(m, "rules") {
        Some(v) => {
            p.rules = rule_list(v).map_err(|(i, e)| {
                let line = i.map_or_else(|| doc.attr_line("rules"), |i| doc.item_line("rules", i));
                (line, attr_err(&p.label(), "rules", &e))
            })?
        }
        None => return Err(required(p, "rules")),
    }
    for name in ["excluded_packages", "packages"] {
        if let Some(v) = get(m, name) {
            let list = str_list(v).map_err(|e| fail(p, name, e))?;
            if name == "packages" { p.packages = list } else { p.excluded_packages = list }
        }
    }
    if local {
        p.relevance_key =
            opt_scalar(m, "relevance_key", &p.label()).map_err(|e| (doc.attr_line("relevance_key"), e))?;
        p.relevance_value =
            opt_scalar(m, "relevance_value", &p.label()).map_err(|e| (doc.attr_line("relevance_value"), e))?;
    }
    Ok(())
}

fn validate(p: &Policy) -> Result<(), String> {
    if p.kind == PolicyKind::Remote && p.rules.iter().any(|r| matches!(r, Rule::Remote(_))) {
        return Err("RemoteRule is not allowed in remote policies".to_owned());
    }
    let has_context = p.decision_context.as_deref().is_some_and(|c| !c.is_empty());
    if !has_context && p.decision_contexts.is_empty() {
        return Err("No decision contexts provided".to_owned());
    }
    if has_context && !p.decision_contexts.is_empty() {
        return Err("Both properties \"decision_contexts\" and \"decision_context\" were set".to_owned());
    }
    if p.kind == PolicyKind::Remote {
        return Ok(());
    }
    let has_type = p.subject_type.as_deref().is_some_and(|t| !t.is_empty());
    if !has_type && p.subject_types.is_empty() {
        return Err("No subject types provided".to_owned());
    }
    if has_type && !p.subject_types.is_empty() {
        return Err("Both properties \"subject_types\" and \"subject_type\" were set".to_owned());
    }
    Ok(())
}
