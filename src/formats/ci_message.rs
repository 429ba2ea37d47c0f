//! Fedora/CentOS CI bus messages (and ResultsDB-shaped ones) mapped to results — pure.
//!
//! A CI message (the `ci-messages` spec, versions 0.1 to 1.x) announces one test of one
//! artifact: `<prefix>.<artifact>.test.<event>` with `event` one of queued, running,
//! complete or error. It becomes one [`ResultInput`] the way ResultsDB's listener
//! (`resultsdb-updater`, `resultsdbupdater/utils.py::handle_ci_umb`) builds it: testcase
//! `namespace.type.category`, outcome from the event or `test.result`, `ref_url` from
//! `run.url`, item and type from the artifact, contact, logs and system in `data`. The
//! table, and where it differs from upstream, is in `docs/ci-messages.md`.
//!
//! A body with `testcase` and `outcome` at its top level is a ResultsDB result as
//! `POST /results` takes it, and is validated by the same function.
//!
//! Nothing is dropped silently: a message that cannot be mapped is an `Err` naming the
//! field at fault, for the consumer to reject (dead-letter) with that reason.

mod artifact;
#[cfg(test)]
mod tests;

use super::record::{check_outcome, error_outcome, json_data_values, truncate_chars};
use crate::model::{InputLimits, ModelError, Outcomes, ResultInput, TestcaseRecord, check_data_keys, check_result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One message from the bus, mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The results to store, all or none (today always one).
    pub results: Vec<ResultInput>,
    /// `"ci-message"` or `"resultsdb"`: which mapping was used.
    pub kind: &'static str,
    /// The body's own id: a ResultsDB result's `uuid`, or a CI message's `msg_id` when a
    /// bridge put one in the body (CI message bodies have none; it travels in the headers).
    pub id: Option<String>,
}

/// Why a message cannot be mapped; the message names the field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MapError {
    /// The body is not a JSON object.
    #[error("message body is not a JSON object")]
    NotAnObject,
    /// Neither a CI test topic nor a ResultsDB-shaped body.
    #[error(
        "topic {0:?} is not a CI test topic (<artifact>.test.queued|running|complete|error) and the body has no top-level testcase and outcome"
    )]
    UnknownTopic(String),
    /// The topic's artifact is not one this mapping knows.
    #[error("artifact type {0:?} is not supported (known: {known})", known = artifact::KNOWN.join(", "))]
    UnknownArtifact(String),
    /// A required field is absent (or null).
    #[error("{0} is missing")]
    Missing(String),
    /// A field has the wrong JSON type.
    #[error("{field} must be {expected}")]
    WrongType { field: String, expected: &'static str },
    /// A field holds a value the mapping cannot use.
    #[error("{field} {value:?} {reason}")]
    Invalid { field: String, value: String, reason: String },
    /// The mapped outcome is not allowed on this server.
    #[error("{field} {value:?} is not an allowed outcome: {reason}")]
    Outcome { field: String, value: String, reason: String },
    /// The mapped result (or the ResultsDB-shaped body) fails `POST /results` validation.
    #[error("result: {0}")]
    Result(#[from] ModelError),
}

/// The event a CI test topic ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Queued,
    Running,
    Complete,
    Error,
}

/// Maps one bus message: a CI test message by its topic, or a ResultsDB-shaped body.
pub fn map_message(topic: &str, body: &Value, outcomes: &Outcomes, limits: &InputLimits) -> Result<Mapped, MapError> {
    let Value::Object(obj) = body else {
        return Err(MapError::NotAnObject);
    };
    if obj.contains_key("testcase") && obj.contains_key("outcome") {
        let result = crate::model::parse_create_result(body, outcomes, limits)?;
        let id = result.uuid.clone();
        return Ok(Mapped { results: vec![result], kind: "resultsdb", id });
    }
    let (artifact_type, event) = parse_topic(topic).ok_or_else(|| MapError::UnknownTopic(topic.to_owned()))?;
    let result = map_ci(artifact_type, event, obj, outcomes, limits)?;
    let id = obj.get("msg_id").and_then(Value::as_str).map(str::to_owned);
    Ok(Mapped { results: vec![result], kind: "ci-message", id })
}

/// `<anything>.<artifact>.test.<event>` → (artifact, event). Prefixes differ by bus
/// (`org.centos.prod.ci.`, `/topic/VirtualTopic.eng.ci.`, with or without a namespace).
pub fn parse_topic(topic: &str) -> Option<(&str, Event)> {
    let mut parts = topic.rsplit('.');
    let event = match parts.next()? {
        "queued" => Event::Queued,
        "running" => Event::Running,
        "complete" => Event::Complete,
        "error" => Event::Error,
        _ => return None,
    };
    if parts.next()? != "test" {
        return None;
    }
    let artifact = parts.next()?;
    (!artifact.is_empty()).then_some((artifact, event))
}

/// The message's layout version: `version`, default 0.1.0 as upstream; only major and
/// minor matter (0.1: test fields at the top level and `ci`; 0.2.0: a `test` section;
/// 0.2.1 and 1.x: `contact` instead of `ci`).
fn version(obj: &Map<String, Value>) -> Result<(u64, u64, u64), MapError> {
    let raw = match obj.get("version") {
        None | Some(Value::Null) => return Ok((0, 1, 0)),
        Some(Value::String(s)) => s,
        Some(_) => return Err(wrong("version", "a string")),
    };
    let mut nums = raw.trim().split('.').map(|p| p.parse::<u64>());
    match (nums.next(), nums.next(), nums.next().unwrap_or(Ok(0))) {
        (Some(Ok(a)), Some(Ok(b)), Ok(c)) => Ok((a, b, c)),
        _ => Err(MapError::Invalid {
            field: "version".into(),
            value: raw.clone(),
            reason: "is not a version (MAJOR.MINOR[.PATCH])".into(),
        }),
    }
}

/// A view of the body that names fields by their dotted path in errors.
pub(crate) struct Body<'a> {
    obj: &'a Map<String, Value>,
    /// Where the test fields live: `"test"` (0.2 and later) or `""` (0.1, top level).
    test_at: &'static str,
    /// Where the contact fields live: `"contact"` or `"ci"`.
    contact_at: &'static str,
}

impl<'a> Body<'a> {
    /// The value at a dotted path (`"artifact.nvr"`); `None` when absent or null.
    pub(crate) fn get(&self, path: &str) -> Option<&'a Value> {
        let mut cur: Option<&Value> = None;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            cur = match cur {
                None => self.obj.get(part),
                Some(Value::Object(m)) => m.get(part),
                // Lists are indexed by number (`system.0.os`).
                Some(Value::Array(items)) => items.get(part.parse::<usize>().ok()?),
                Some(_) => None,
            };
            cur?;
        }
        cur.filter(|v| !v.is_null())
    }

    /// A string (a number is taken as its text, as upstream's `str.format` does).
    pub(crate) fn opt_str(&self, path: &str) -> Result<Option<String>, MapError> {
        match self.get(path) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(wrong(path, "a string")),
        }
    }

    pub(crate) fn str(&self, path: &str) -> Result<String, MapError> {
        match self.opt_str(path)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(MapError::Invalid { field: path.into(), value: String::new(), reason: "is empty".into() }),
            None => Err(MapError::Missing(path.into())),
        }
    }

    /// A test field (`test.<name>`, or `<name>` in 0.1 messages).
    pub(crate) fn test_path(&self, name: &str) -> String {
        if self.test_at.is_empty() { name.to_owned() } else { format!("{}.{name}", self.test_at) }
    }

    pub(crate) fn contact_path(&self, name: &str) -> String {
        format!("{}.{name}", self.contact_at)
    }

    /// The first `system` entry: upstream accepts an object or a list of them.
    pub(crate) fn system(&self, name: &str) -> Result<Option<String>, MapError> {
        match self.get("system") {
            Some(Value::Array(items)) if items.is_empty() => Ok(None),
            Some(Value::Array(_)) => self.opt_str(&format!("system.0.{name}")),
            Some(Value::Object(_)) => self.opt_str(&format!("system.{name}")),
            None => Ok(None),
            Some(_) => Err(wrong("system", "an object or a list of objects")),
        }
    }
}

fn wrong(field: &str, expected: &'static str) -> MapError {
    MapError::WrongType { field: field.to_owned(), expected }
}

/// Data being collected: values as ResultsDB stores them (strings; lists one per item).
#[derive(Default)]
pub(crate) struct DataOut(BTreeMap<String, Vec<String>>);

impl DataOut {
    pub(crate) fn put(&mut self, key: &str, value: impl Into<String>) {
        self.0.insert(key.to_owned(), vec![value.into()]);
    }

    pub(crate) fn put_opt(&mut self, key: &str, value: Option<String>) {
        if let Some(v) = value {
            self.put(key, v);
        }
    }

    /// A JSON value as upstream sends it (bool → `True`, objects in lists as JSON).
    pub(crate) fn put_json(&mut self, key: &str, value: Option<&Value>) {
        if let Some(v) = value.filter(|v| !v.is_null()) {
            let values = json_data_values(v);
            if !values.is_empty() {
                self.0.insert(key.to_owned(), values);
            }
        }
    }
}

fn map_ci(
    artifact_type: &str,
    event: Event,
    obj: &Map<String, Value>,
    outcomes: &Outcomes,
    limits: &InputLimits,
) -> Result<ResultInput, MapError> {
    let (major, minor, patch) = version(obj)?;
    let test_at = if (major, minor) >= (0, 2) { "test" } else { "" };
    let contact_at = if (major, minor, patch) >= (0, 2, 1) || obj.contains_key("contact") { "contact" } else { "ci" };
    let body = Body { obj, test_at, contact_at };
    if !test_at.is_empty() && !matches!(obj.get("test"), Some(Value::Object(_))) {
        return Err(if obj.contains_key("test") {
            wrong("test", "an object")
        } else {
            MapError::Missing("test".into())
        });
    }

    let name = ["namespace", "type", "category"]
        .iter()
        .map(|f| body.str(&body.test_path(f)))
        .collect::<Result<Vec<_>, _>>()?
        .join(".");
    let ref_url = body.str("run.url")?;
    let mut data = DataOut::default();
    artifact::map(artifact_type, &body, &mut data)?;
    common_data(&body, &mut data)?;

    let note = body.opt_str(&body.test_path("note"))?;
    let (outcome, note) = match event {
        Event::Queued => (allowed("QUEUED", outcomes, "topic")?, note),
        Event::Running => (allowed("RUNNING", outcomes, "topic")?, note),
        Event::Complete => (complete_outcome(&body, outcomes)?, note),
        Event::Error => {
            let reason_at = if test_at.is_empty() { "reason" } else { "error.reason" };
            let reason = body.str(reason_at)?;
            let mut cut = reason.clone();
            // Upstream keeps 256 characters of the reason in `error_reason`.
            truncate_chars(&mut cut, 256);
            data.put("error_reason", cut);
            data.put_opt("issue_url", body.opt_str("error.issue_url")?);
            error_outcome(outcomes, note.or(Some(reason)))
        }
    };
    let testcase_ref = match body.get(&body.test_path("docs")) {
        Some(Value::String(s)) => Some(Some(s.clone())),
        _ => None,
    };
    let mut values = data.0;
    for v in values.values_mut().flatten() {
        // Upstream crops long values instead of refusing the message.
        truncate_chars(v, limits.value_chars);
    }
    let mut note = note.filter(|n| !n.is_empty());
    if let Some(n) = note.as_mut() {
        truncate_chars(n, limits.note_chars);
    }
    let input = ResultInput {
        uuid: None,
        testcase: TestcaseRecord { name, ref_url: testcase_ref },
        outcome,
        note,
        ref_url: Some(ref_url),
        groups: Vec::new(),
        data: values,
        submit_time: None,
    };
    let errs = check_result(&input, limits);
    if !errs.is_empty() {
        return Err(ModelError::Validation(errs).into());
    }
    check_data_keys(input.data.keys())?;
    Ok(input)
}

fn allowed(outcome: &str, outcomes: &Outcomes, field: &str) -> Result<String, MapError> {
    check_outcome(outcome, outcomes).map_err(|reason| MapError::Outcome {
        field: field.into(),
        value: outcome.into(),
        reason,
    })
}

/// `test.result` (0.1: `status`) of a complete message: passed, failed, info,
/// needs_inspection, not_applicable in the spec; upstream also takes pass/fail/failure
/// and upper-cases anything else.
fn complete_outcome(body: &Body, outcomes: &Outcomes) -> Result<String, MapError> {
    let field = if body.test_at.is_empty() { "status".to_owned() } else { body.test_path("result") };
    let raw = body.str(&field)?;
    let mapped = match raw.trim().to_lowercase().as_str() {
        "pass" => "PASSED".to_owned(),
        "fail" | "failure" => "FAILED".to_owned(),
        other => other.to_uppercase(),
    };
    check_outcome(&mapped, outcomes).map_err(|reason| MapError::Outcome { field, value: raw, reason })
}

/// What every artifact's result carries: category, logs, contact, recipients,
/// scenario, system and pipeline.
fn common_data(body: &Body, data: &mut DataOut) -> Result<(), MapError> {
    data.put("category", body.str(&body.test_path("category"))?);
    data.put("log", body.str("run.log")?);
    for key in ["log_raw", "log_stream", "rebuild"] {
        data.put_opt(key, body.opt_str(&format!("run.{key}"))?);
    }
    data.put_opt("xunit", body.opt_str(&body.test_path("xunit"))?);
    data.put_json("xunit_urls", body.get(&body.test_path("xunit_urls")));
    data.put_opt("scenario", body.opt_str(&body.test_path("scenario"))?);
    if !matches!(body.get(body.contact_at), Some(Value::Object(_))) {
        return Err(MapError::Missing(body.contact_at.into()));
    }
    data.put("ci_name", body.str(&body.contact_path("name"))?);
    data.put("ci_team", body.str(&body.contact_path("team"))?);
    data.put("ci_email", body.str(&body.contact_path("email"))?);
    // Upstream writes "not available" for an absent url or irc.
    for key in ["url", "irc"] {
        let v = body.opt_str(&body.contact_path(key))?.unwrap_or_else(|| "not available".to_owned());
        data.put(&format!("ci_{key}"), v);
    }
    data.put_opt("ci_docs", body.opt_str(&body.contact_path("docs"))?);
    let recipients = if body.test_at.is_empty() { "recipients" } else { "notification.recipients" };
    data.put_json("recipients", body.get(recipients));
    data.put_opt("system_os", body.system("os")?);
    data.put_opt("system_provider", body.system("provider")?);
    data.put_opt("system_architecture", body.system("architecture")?);
    data.put_opt("pipeline_id", body.opt_str("pipeline.id")?);
    data.put_opt("pipeline_name", body.opt_str("pipeline.name")?);
    Ok(())
}
