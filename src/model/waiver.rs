//! Waivers (WaiverDB API v1.0): the log record, create-body validation, the JSON shape,
//! and the list/`+filtered` queries with their obsolete-waiver rules, all pure.
//!
//! A waiver is an immutable log entry; revoking is a newer waiver with `waived: false`.
//! The local `id` is what the API shows; "newest wins" is decided by the server-assigned
//! `timestamp`, ties by `uuid` (see [`WaiverView::order_key`]), so every node holding the
//! same waivers agrees. Callers supply the authenticated user and "now".

use super::error::{FieldError, Loc};
use super::pystr::py_str;
use super::time::Timestamp;
use super::{ResultRecord, canonical_uuid};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// A waiver exactly as recorded in the log: fields alphabetical, absent optionals skipped,
/// so the JSON is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverRecord {
    pub comment: String,
    /// Our extension: microseconds since the epoch after which the waiver stops applying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    pub product_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxied_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    pub subject_identifier: String,
    pub subject_type: String,
    pub testcase: String,
    /// Server time of creation, microseconds since the epoch (naive UTC).
    pub timestamp: i64,
    pub username: String,
    /// The waiver's global identity: the same on every node that holds it.
    pub uuid: String,
    pub waived: bool,
}

/// A stored waiver: the record plus its local id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiverView {
    pub id: i64,
    pub record: WaiverRecord,
}

impl WaiverView {
    /// The "newest wins" order. WaiverDB uses the highest id, i.e. creation order on one
    /// database; ids are local here (replicated waivers get later ids than newer local
    /// ones), so we use the creation time the origin assigned, ties broken by uuid. On a
    /// single node (timestamps increase with ids) this is the same as upstream.
    pub fn order_key(&self) -> (i64, &str) {
        (self.record.timestamp, &self.record.uuid)
    }

    /// Whether the waiver has expired at `at` (it applies strictly before `expires_at`).
    pub fn expired_at(&self, at: Timestamp) -> bool {
        self.record.expires_at.is_some_and(|e| e <= at.0)
    }

    /// The waiver as WaiverDB serialises it.
    pub fn to_json(&self) -> WaiverJson<'_> {
        let r = &self.record;
        WaiverJson {
            id: self.id,
            subject_type: &r.subject_type,
            subject_identifier: &r.subject_identifier,
            subject: SubjectDict { subject_type: &r.subject_type, identifier: &r.subject_identifier },
            testcase: &r.testcase,
            username: &r.username,
            scenario: r.scenario.as_deref(),
            proxied_by: r.proxied_by.as_deref(),
            product_version: &r.product_version,
            waived: r.waived,
            comment: &r.comment,
            timestamp: Timestamp(r.timestamp).to_iso(),
            expires_at: r.expires_at.map(|e| Timestamp(e).to_iso()),
        }
    }
}

/// WaiverDB's waiver object, fields in flask-restx order (the order is observable: success
/// bodies are not key-sorted). `expires_at` is our extension, present only when set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiverJson<'a> {
    pub id: i64,
    pub subject_type: &'a str,
    pub subject_identifier: &'a str,
    pub subject: SubjectDict<'a>,
    pub testcase: &'a str,
    pub username: &'a str,
    pub scenario: Option<&'a str>,
    pub proxied_by: Option<&'a str>,
    pub product_version: &'a str,
    pub waived: bool,
    pub comment: &'a str,
    pub timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// The derived back-compat `subject`: `{"productmd.compose.id": id}` for composes, else
/// `{"type": t, "item": id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectDict<'a> {
    pub subject_type: &'a str,
    pub identifier: &'a str,
}

impl Serialize for SubjectDict<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.subject_type == "compose" {
            let mut m = s.serialize_map(Some(1))?;
            m.serialize_entry("productmd.compose.id", self.identifier)?;
            m.end()
        } else {
            let mut m = s.serialize_map(Some(2))?;
            m.serialize_entry("type", self.subject_type)?;
            m.serialize_entry("item", self.identifier)?;
            m.end()
        }
    }
}

/// Why a waiver request was refused, shaped as WaiverDB answers it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WaiverError {
    /// HTTP 400 `{"validation_error": [...]}` (pydantic).
    #[error("invalid waiver request: {}", describe(.0))]
    Validation(Vec<FieldError>),
    /// HTTP 400 `{"message": "..."}`.
    #[error("{0}")]
    BadRequest(String),
    /// HTTP 400 `{"message": {"<field>": "..."}}` (`since` errors, missing subject parts).
    #[error("{field}: {message}")]
    BadField { field: &'static str, message: String },
    /// HTTP 403 `{"message": "..."}`.
    #[error("{0}")]
    Forbidden(String),
}

fn describe(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.path(), e.msg)).collect();
    parts.join("; ")
}

// ---------------------------------------------------------------------------------------
// Create bodies
// ---------------------------------------------------------------------------------------

/// What a create item names: a subject (given directly or via the legacy `subject` dict)
/// with its testcase, or a ResultsDB result id to derive both from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaiverTarget {
    Subject {
        subject_type: String,
        subject_identifier: String,
        testcase: String,
    },
    /// Legacy `result_id`: the caller looks the result up and calls [`WaiverInput::with_result`].
    ResultId(i64),
}

/// One validated item of a `POST /api/v1.0/waivers/` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiverInput {
    pub target: WaiverTarget,
    pub scenario: Option<String>,
    pub product_version: String,
    pub comment: String,
    pub waived: bool,
    /// The user to waive on behalf of (the caller must be a superuser).
    pub username: Option<String>,
    pub expires_at: Option<Timestamp>,
}

/// A validated create body: its items and whether it was a list (the response mirrors it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateWaivers {
    pub items: Vec<WaiverInput>,
    pub is_list: bool,
}

const MODEL: &str = "CreateWaiver";
const LIST_MODEL: &str = "list[CreateWaiver]";

/// Validates a create body as WaiverDB's `RootModel[Union[CreateWaiver, List[CreateWaiver]]]`
/// does: a bad body reports the errors of both union branches. `now` bounds `expires_at`.
pub fn parse_create_waivers(body: &Value, now: Timestamp) -> Result<CreateWaivers, WaiverError> {
    match body {
        Value::Object(obj) => {
            let single = parse_item(obj, body, &[Loc::from(MODEL)], now);
            match single {
                Ok(item) => Ok(CreateWaivers { items: vec![item], is_list: false }),
                Err(Failure::Fields(mut errs)) => {
                    errs.push(FieldError::new(
                        vec![LIST_MODEL.into()],
                        "list_type",
                        "Input should be a valid list",
                        body,
                    ));
                    Err(WaiverError::Validation(errs))
                }
                Err(Failure::Other(e)) => Err(e),
            }
        }
        Value::Array(items) => parse_list(items, body, now),
        other => Err(WaiverError::Validation(vec![
            model_type(vec![MODEL.into()], MODEL, other),
            FieldError::new(vec![LIST_MODEL.into()], "list_type", "Input should be a valid list", other),
        ])),
    }
}

fn parse_list(items: &[Value], body: &Value, now: Timestamp) -> Result<CreateWaivers, WaiverError> {
    let mut errs = Vec::new();
    let mut out = Vec::with_capacity(items.len());
    let mut other = None;
    for (i, item) in items.iter().enumerate() {
        let loc = vec![Loc::from(LIST_MODEL), Loc::Index(i)];
        let Value::Object(obj) = item else {
            errs.push(model_type(loc, MODEL, item));
            continue;
        };
        match parse_item(obj, item, &loc, now) {
            Ok(w) => out.push(w),
            Err(Failure::Fields(e)) => errs.extend(e),
            Err(Failure::Other(e)) => {
                other.get_or_insert(e);
            }
        }
    }
    if !errs.is_empty() {
        let mut all = vec![model_type(vec![MODEL.into()], MODEL, body)];
        all.extend(errs);
        return Err(WaiverError::Validation(all));
    }
    match other {
        Some(e) => Err(e),
        None => Ok(CreateWaivers { items: out, is_list: true }),
    }
}

fn model_type(loc: Vec<Loc>, model: &str, input: &Value) -> FieldError {
    FieldError::new(loc, "model_type", format!("Input should be a valid dictionary or instance of {model}"), input)
}

/// Pydantic field errors (reported with the other union branch) or a later, plain refusal.
enum Failure {
    Fields(Vec<FieldError>),
    Other(WaiverError),
}

fn at(loc: &[Loc], field: &str) -> Vec<Loc> {
    let mut l = loc.to_vec();
    l.push(field.into());
    l
}

/// `Optional[str]`: absent or null is `None`; anything but a string is an error.
fn opt_string(obj: &Map<String, Value>, field: &str, loc: &[Loc], errs: &mut Vec<FieldError>) -> Option<String> {
    match obj.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            errs.push(FieldError::string_type(at(loc, field), other));
            None
        }
    }
}

/// `Annotated[str, StringConstraints(min_length=1)]`, required.
fn required_string(obj: &Map<String, Value>, field: &str, loc: &[Loc], errs: &mut Vec<FieldError>) -> String {
    match obj.get(field) {
        None => {
            let mut l = loc.to_vec();
            l.push(field.into());
            errs.push(FieldError::new(l, "missing", "Field required", &Value::Object(obj.clone())));
        }
        Some(Value::String(s)) if s.is_empty() => errs.push(FieldError::new(
            at(loc, field),
            "string_too_short",
            "String should have at least 1 character",
            &Value::String(String::new()),
        )),
        Some(Value::String(s)) => return s.clone(),
        Some(other) => errs.push(FieldError::string_type(at(loc, field), other)),
    }
    String::new()
}

/// Pydantic's lax `bool`: JSON booleans, 0/1 and the usual words.
pub fn lax_bool(v: &Value) -> Result<bool, (&'static str, &'static str)> {
    const PARSING: (&str, &str) = ("bool_parsing", "Input should be a valid boolean, unable to interpret input");
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => Ok(false),
            Some(1.0) => Ok(true),
            _ => Err(PARSING),
        },
        Value::String(s) => lax_bool_str(s).ok_or(PARSING),
        _ => Err(("bool_type", "Input should be a valid boolean")),
    }
}

/// The strings pydantic accepts as booleans (case-insensitive).
pub fn lax_bool_str(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
        "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
        _ => None,
    }
}

fn bool_field(obj: &Map<String, Value>, field: &str, default: bool, loc: &[Loc], errs: &mut Vec<FieldError>) -> bool {
    let Some(v) = obj.get(field) else { return default };
    lax_bool(v).unwrap_or_else(|(kind, msg)| {
        errs.push(FieldError::new(at(loc, field), kind, msg, v));
        default
    })
}

/// Pydantic's lax `Optional[int]`.
fn opt_int(obj: &Map<String, Value>, field: &str, loc: &[Loc], errs: &mut Vec<FieldError>) -> Option<i64> {
    let v = obj.get(field)?;
    let bad = |errs: &mut Vec<FieldError>, kind: &'static str, msg: &str| {
        errs.push(FieldError::new(at(loc, field), kind, msg, v));
        None
    };
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Some(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => Some(f as i64),
            (None, Some(f)) if f.is_finite() && f.fract() != 0.0 => {
                bad(errs, "int_from_float", "Input should be a valid integer, got a number with a fractional part")
            }
            _ => bad(errs, "int_parsing", "Input should be a valid integer, unable to parse string as an integer"),
        },
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(i) => Some(i),
            Err(_) => bad(errs, "int_parsing", "Input should be a valid integer, unable to parse string as an integer"),
        },
        _ => bad(errs, "int_type", "Input should be a valid integer"),
    }
}

/// The legacy `subject` dict (pydantic model `TestSubject`), validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct LegacySubject {
    subject_type: Option<String>,
    item: Option<String>,
    original_spec_nvr: Option<String>,
    compose_id: Option<String>,
}

fn parse_legacy_subject(v: &Value, loc: &[Loc], errs: &mut Vec<FieldError>) -> Option<LegacySubject> {
    let loc = at(loc, "subject");
    match v {
        Value::Null => None,
        Value::Object(o) => Some(LegacySubject {
            subject_type: opt_string(o, "type", &loc, errs),
            item: opt_string(o, "item", &loc, errs),
            original_spec_nvr: opt_string(o, "original_spec_nvr", &loc, errs),
            compose_id: opt_string(o, "productmd.compose.id", &loc, errs),
        }),
        other => {
            errs.push(model_type(loc, "TestSubject", other));
            None
        }
    }
}

impl LegacySubject {
    /// WaiverDB's mapping of the pre-0.11 subject dict to (type, identifier).
    fn to_type_identifier(&self) -> Result<(Option<String>, String), WaiverError> {
        let t = self.subject_type.as_deref();
        if let (Some("koji_build" | "brew-build"), Some(item)) = (t, &self.item) {
            return Ok((Some("koji_build".into()), item.clone()));
        }
        if let Some(nvr) = &self.original_spec_nvr {
            return Ok((Some("koji_build".into()), nvr.clone()));
        }
        if let Some(id) = &self.compose_id {
            return Ok((Some("compose".into()), id.clone()));
        }
        if let Some(item) = &self.item {
            return Ok((self.subject_type.clone(), item.clone()));
        }
        Err(WaiverError::BadRequest(format!(
            "Subject type should be non empty string, actual value is: {}",
            py_str(&self.as_json())
        )))
    }

    fn as_json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.to_owned(), Value::String(v.clone()));
            }
        };
        put("type", &self.subject_type);
        put("item", &self.item);
        put("original_spec_nvr", &self.original_spec_nvr);
        put("productmd.compose.id", &self.compose_id);
        Value::Object(m)
    }
}

/// Raw, type-checked fields of one create item, before the model-level rules.
struct Fields {
    subject_type: Option<String>,
    subject_identifier: Option<String>,
    testcase: Option<String>,
    subject: Option<LegacySubject>,
    subject_given: bool,
    result_id: Option<i64>,
    waived: bool,
    product_version: String,
    comment: String,
    username: Option<String>,
    scenario: Option<String>,
    expires_at: Option<Timestamp>,
}

fn parse_item(obj: &Map<String, Value>, input: &Value, loc: &[Loc], now: Timestamp) -> Result<WaiverInput, Failure> {
    let mut errs = Vec::new();
    let subject_value = obj.get("subject");
    let f = Fields {
        subject_type: opt_string(obj, "subject_type", loc, &mut errs),
        subject_identifier: opt_string(obj, "subject_identifier", loc, &mut errs),
        testcase: opt_string(obj, "testcase", loc, &mut errs),
        subject: subject_value.and_then(|v| parse_legacy_subject(v, loc, &mut errs)),
        subject_given: subject_value.is_some_and(|v| !v.is_null()),
        result_id: opt_int(obj, "result_id", loc, &mut errs),
        waived: bool_field(obj, "waived", true, loc, &mut errs),
        product_version: required_string(obj, "product_version", loc, &mut errs),
        comment: required_string(obj, "comment", loc, &mut errs),
        username: opt_string(obj, "username", loc, &mut errs),
        scenario: opt_string(obj, "scenario", loc, &mut errs),
        expires_at: parse_expires_at(obj, loc, now, &mut errs),
    };
    if !errs.is_empty() {
        return Err(Failure::Fields(errs));
    }
    if let Some(msg) = model_rule_violation(&f) {
        return Err(Failure::Fields(vec![FieldError::value_error(loc.to_vec(), msg, input)]));
    }
    build_input(f).map_err(Failure::Other)
}

/// The three `model_validator(mode='after')` rules, in upstream order.
fn model_rule_violation(f: &Fields) -> Option<&'static str> {
    let subject_given = f.subject_given;
    if f.result_id.is_none() {
        if f.testcase.is_none() {
            return Some("Argument testcase is missing");
        }
    } else if f.subject_identifier.is_some()
        || f.subject_type.is_some()
        || subject_given
        || f.testcase.is_some()
        || f.scenario.is_some()
    {
        return Some(
            "result_id argument should not be used together with arguments: subject_identifier, subject_type, subject, testcase, scenario",
        );
    }
    if subject_given && (f.subject_identifier.is_some() || f.subject_type.is_some()) {
        return Some("subject argument should not be used together with arguments: subject_identifier, subject_type");
    }
    if f.result_id.is_none() && !subject_given && (f.subject_identifier.is_none() || f.subject_type.is_none()) {
        return Some("subject must be defined using result_id or subject or both subject_identifier, subject_type");
    }
    None
}

fn build_input(f: Fields) -> Result<WaiverInput, WaiverError> {
    let target = match (f.result_id, &f.subject) {
        (Some(id), _) => WaiverTarget::ResultId(id),
        (None, Some(legacy)) => {
            let (t, i) = legacy.to_type_identifier()?;
            subject_target(t, Some(i), f.testcase.clone())?
        }
        (None, None) => subject_target(f.subject_type.clone(), f.subject_identifier.clone(), f.testcase.clone())?,
    };
    Ok(WaiverInput {
        target,
        scenario: f.scenario,
        product_version: f.product_version,
        comment: f.comment,
        waived: f.waived,
        username: f.username,
        expires_at: f.expires_at,
    })
}

/// WaiverDB's explicit checks after the legacy mapping: empty parts are "missing".
fn subject_target(t: Option<String>, i: Option<String>, testcase: Option<String>) -> Result<WaiverTarget, WaiverError> {
    let missing = |field: &'static str| WaiverError::BadField {
        field,
        message: "Missing required parameter in the JSON body".to_owned(),
    };
    let subject_type = t.filter(|s| !s.is_empty()).ok_or_else(|| missing("subject_type"))?;
    let subject_identifier = i.filter(|s| !s.is_empty()).ok_or_else(|| missing("subject_identifier"))?;
    let testcase = testcase.filter(|s| !s.is_empty()).ok_or_else(|| missing("testcase"))?;
    Ok(WaiverTarget::Subject { subject_type, subject_identifier, testcase })
}

/// Our `expires_at`: an ISO 8601 date/time (zones converted to UTC, naive means UTC) or
/// null, strictly later than now.
fn parse_expires_at(
    obj: &Map<String, Value>,
    loc: &[Loc],
    now: Timestamp,
    errs: &mut Vec<FieldError>,
) -> Option<Timestamp> {
    let v = obj.get("expires_at")?;
    let parsed = match v {
        Value::Null => return None,
        Value::String(s) => parse_fromisoformat(s),
        other => {
            errs.push(FieldError::string_type(at(loc, "expires_at"), other));
            return None;
        }
    };
    match parsed {
        Ok(t) if t > now => Some(t),
        Ok(_) => {
            errs.push(FieldError::value_error(at(loc, "expires_at"), "expires_at must be in the future", v));
            None
        }
        Err(msg) => {
            errs.push(FieldError::value_error(at(loc, "expires_at"), &msg, v));
            None
        }
    }
}

impl WaiverInput {
    /// Resolves a legacy `result_id` item from the looked-up result (`None`: not found).
    /// Subject and testcase come from the result; `scenario` from its data, if any.
    pub fn with_result(mut self, result: Option<&ResultRecord>) -> Result<WaiverInput, WaiverError> {
        let WaiverTarget::ResultId(_) = self.target else { return Ok(self) };
        let Some(r) = result else {
            return Err(WaiverError::BadRequest("Result id not found in Resultsdb".to_owned()));
        };
        let first = |k: &str| r.data.get(k).and_then(|v| v.first()).cloned();
        let (subject_type, subject_identifier) = if let Some(nvr) = first("original_spec_nvr") {
            ("koji_build".to_owned(), nvr)
        } else if let Some(t) = first("type") {
            let t = if t == "brew-build" { "koji_build".to_owned() } else { t };
            (t, first("item").unwrap_or_default())
        } else {
            return Err(WaiverError::BadRequest(
                "It is not possible to submit a waiver by id for this result. Please try again specifying a subject and a testcase."
                    .to_owned(),
            ));
        };
        self.scenario = first("scenario");
        self.target = subject_target(Some(subject_type), Some(subject_identifier), Some(r.testcase.name.clone()))?;
        Ok(self)
    }

    /// The record to store: proxying checked (`username` needs a superuser caller, who is
    /// then recorded as `proxied_by`), `brew-build` stored as `koji_build`. Authorization of
    /// the effective user for the testcase is the caller's job (see [`Self::effective_user`]).
    pub fn into_record(
        self,
        caller: &str,
        caller_is_superuser: bool,
        now: Timestamp,
        uuid: String,
    ) -> Result<WaiverRecord, WaiverError> {
        let (username, proxied_by) = self.effective_user(caller, caller_is_superuser)?;
        let WaiverTarget::Subject { subject_type, subject_identifier, testcase } = self.target else {
            return Err(WaiverError::BadRequest("result_id must be resolved before the waiver is stored".to_owned()));
        };
        let subject_type = if subject_type == "brew-build" { "koji_build".to_owned() } else { subject_type };
        Ok(WaiverRecord {
            comment: self.comment,
            expires_at: self.expires_at.map(|t| t.0),
            product_version: self.product_version,
            proxied_by,
            scenario: self.scenario,
            subject_identifier,
            subject_type,
            testcase,
            timestamp: now.0,
            username,
            uuid: canonical_uuid(&uuid).unwrap_or(uuid),
            waived: self.waived,
        })
    }

    /// (effective user, proxied_by): the proxied user when `username` is given and the
    /// caller may proxy, else the caller; 403 as WaiverDB when the caller may not.
    pub fn effective_user(
        &self,
        caller: &str,
        caller_is_superuser: bool,
    ) -> Result<(String, Option<String>), WaiverError> {
        match &self.username {
            Some(u) if !u.is_empty() => {
                if !caller_is_superuser {
                    return Err(WaiverError::Forbidden(format!("user {caller} does not have the proxyuser ability")));
                }
                Ok((u.clone(), Some(caller.to_owned())))
            }
            _ => Ok((caller.to_owned(), None)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Python's datetime.fromisoformat (WaiverDB's `since`) and `since` ranges
// ---------------------------------------------------------------------------------------

/// Python 3.11+ `datetime.fromisoformat`: `YYYY-MM-DD` or `YYYYMMDD`, then optionally any
/// one separator character and `HH[:MM[:SS[.f…]]]` (or the basic `HHMMSS` form) and a zone
/// (`Z`, `±HH[:MM[:SS[.ffffff]]]`). An aware value is converted to UTC (Postgres compares
/// it with the naive column that way). Errors carry Python's message.
pub fn parse_fromisoformat(s: &str) -> Result<Timestamp, String> {
    let invalid = || format!("Invalid isoformat string: {}", py_repr_str(s));
    let b = s.as_bytes();
    let (date, rest) = split_date(b).ok_or_else(invalid)?;
    let (time, offset) =
        if rest.is_empty() { ((0, 0, 0, 0), 0) } else { parse_time_and_zone(&rest[1..]).ok_or_else(invalid)? };
    let (y, m, d) = date;
    let ts = checked_datetime(y, m, d, time)?;
    Ok(Timestamp(ts.0 - offset))
}

/// Python's `repr()` of a string, single-quoted unless it holds `'` and no `"`.
fn py_repr_str(s: &str) -> String {
    let list = py_str(&Value::Array(vec![Value::String(s.to_owned())]));
    list.trim_start_matches('[').trim_end_matches(']').to_owned()
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u32, |acc, d| acc.checked_mul(10)?.checked_add(u32::from(d - b'0')))
}

/// A civil date: year, month, day.
type Ymd = (u32, u32, u32);

/// The date part and what follows it (separator included).
fn split_date(b: &[u8]) -> Option<(Ymd, &[u8])> {
    let (date, rest) = if b.len() >= 10 && b.get(4) == Some(&b'-') {
        let (d, r) = b.split_at(10);
        if d[7] != b'-' {
            return None;
        }
        ((digits(&d[0..4])?, digits(&d[5..7])?, digits(&d[8..10])?), r)
    } else if b.len() >= 8 {
        let (d, r) = b.split_at(8);
        ((digits(&d[0..4])?, digits(&d[4..6])?, digits(&d[6..8])?), r)
    } else {
        return None;
    };
    // A separator needs a time after it.
    if rest.len() == 1 {
        return None;
    }
    // The separator is one character, possibly multi-byte.
    let rest = match rest.first() {
        Some(c) if *c >= 0x80 => {
            let text = std::str::from_utf8(rest).ok()?;
            let ch = text.chars().next()?;
            &rest[ch.len_utf8() - 1..]
        }
        _ => rest,
    };
    Some((date, rest))
}

type Clock = (u32, u32, u32, u32);

/// `HH[:MM[:SS[.f…]]]` or `HH[MM[SS[.f…]]]`, then an optional zone; returns the offset in µs.
fn parse_time_and_zone(b: &[u8]) -> Option<(Clock, i64)> {
    let zone_at = b.iter().position(|c| matches!(c, b'Z' | b'+' | b'-')).unwrap_or(b.len());
    let (time, zone) = b.split_at(zone_at);
    let clock = parse_clock(time)?;
    let offset = match zone.split_first() {
        None => 0,
        Some((b'Z', [])) => 0,
        Some((b'Z', _)) => return None,
        Some((sign, rest)) => {
            let (h, m, s, us) = parse_clock(rest)?;
            let secs = i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s);
            let micros = secs * 1_000_000 + i64::from(us);
            if h > 23 || m > 59 || s > 59 {
                return None;
            }
            if *sign == b'-' { -micros } else { micros }
        }
    };
    Some((clock, offset))
}

fn parse_clock(b: &[u8]) -> Option<Clock> {
    let (main, frac) = match b.iter().position(|c| *c == b'.' || *c == b',') {
        Some(p) => (&b[..p], Some(&b[p + 1..])),
        None => (b, None),
    };
    let parts: Vec<&[u8]> =
        if main.contains(&b':') { main.split(|c| *c == b':').collect() } else { main.chunks(2).collect() };
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    if frac.is_some() && parts.len() != 3 {
        return None;
    }
    let h = digits(parts[0])?;
    let m = parts.get(1).map_or(Some(0), |p| digits(p))?;
    let s = parts.get(2).map_or(Some(0), |p| digits(p))?;
    let us = match frac {
        None => 0,
        Some(f) => {
            if f.is_empty() || !f.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let six: Vec<u8> = f.iter().copied().chain(std::iter::repeat(b'0')).take(6).collect();
            digits(&six)?
        }
    };
    Some((h, m, s, us))
}

/// Python's range checks, with its messages.
fn checked_datetime(y: u32, m: u32, d: u32, (hh, mm, ss, us): Clock) -> Result<Timestamp, String> {
    if y == 0 {
        return Err(format!("year {y} is out of range"));
    }
    if !(1..=12).contains(&m) {
        return Err("month must be in 1..12".to_owned());
    }
    if hh > 23 {
        return Err("hour must be in 0..23".to_owned());
    }
    if mm > 59 {
        return Err("minute must be in 0..59".to_owned());
    }
    if ss > 59 {
        return Err("second must be in 0..59".to_owned());
    }
    Timestamp::from_parts((i64::from(y), m, d), (hh, mm, ss), us)
        .ok_or_else(|| "day is out of range for month".to_owned())
}

/// A `since` value: `START` or `START,END` (split at the first comma, either part may be
/// empty), both inclusive. Errors are WaiverDB's 400 with `{"message": {"since": …}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Since {
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
}

impl Since {
    pub fn parse(raw: &str) -> Result<Since, WaiverError> {
        let (start, end) = match raw.split_once(',') {
            Some((s, e)) => (s, e),
            None => (raw, ""),
        };
        let one = |part: &str| -> Result<Option<Timestamp>, WaiverError> {
            if part.is_empty() {
                return Ok(None);
            }
            parse_fromisoformat(part).map(Some).map_err(|message| WaiverError::BadField { field: "since", message })
        };
        Ok(Since { start: one(start)?, end: one(end)? })
    }

    pub fn contains(&self, t: i64) -> bool {
        self.start.is_none_or(|s| t >= s.0) && self.end.is_none_or(|e| t <= e.0)
    }
}

// ---------------------------------------------------------------------------------------
// Queries: GET /waivers/ and POST /waivers/+filtered
// ---------------------------------------------------------------------------------------

/// Exact-match constraints shared by both queries; `None` (or empty, upstream treats any
/// falsy value so) is no constraint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaiverFilter {
    pub subject_type: Option<String>,
    pub subject_identifier: Option<String>,
    pub testcase: Option<String>,
    pub scenario: Option<String>,
    pub product_version: Option<String>,
    pub username: Option<String>,
    pub proxied_by: Option<String>,
    pub since: Since,
}

impl WaiverFilter {
    pub fn matches(&self, w: &WaiverRecord) -> bool {
        fn eq(want: &Option<String>, got: &str) -> bool {
            want.as_deref().is_none_or(|v| v.is_empty() || v == got)
        }
        fn eq_opt(want: &Option<String>, got: Option<&str>) -> bool {
            want.as_deref().is_none_or(|v| v.is_empty() || Some(v) == got)
        }
        eq(&self.subject_type, &w.subject_type)
            && eq(&self.subject_identifier, &w.subject_identifier)
            && eq(&self.testcase, &w.testcase)
            && eq_opt(&self.scenario, w.scenario.as_deref())
            && eq(&self.product_version, &w.product_version)
            && eq(&self.username, &w.username)
            && eq_opt(&self.proxied_by, w.proxied_by.as_deref())
            && self.since.contains(w.timestamp)
    }
}

/// Which fields make a waiver obsolete: the newest waiver per key wins
/// ([`WaiverView::order_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObsoleteRule {
    /// `GET /waivers/`: subject, testcase, scenario, username and product_version.
    List,
    /// `POST /waivers/+filtered` (and Greenwave): subject, testcase and scenario only.
    Filtered,
}

type ObsoleteKey<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<(&'a str, &'a str)>);

impl ObsoleteRule {
    fn key<'a>(self, w: &'a WaiverRecord) -> ObsoleteKey<'a> {
        let extra = match self {
            ObsoleteRule::List => Some((w.username.as_str(), w.product_version.as_str())),
            ObsoleteRule::Filtered => None,
        };
        (&w.subject_type, &w.subject_identifier, &w.testcase, w.scenario.as_deref(), extra)
    }

    /// The ids of the waivers that are not obsolete among `all`. `all` must hold every
    /// waiver sharing a key with any candidate (e.g. all waivers of the subjects queried).
    pub fn current_ids(self, all: &[WaiverView]) -> std::collections::HashSet<i64> {
        let mut newest: HashMap<ObsoleteKey<'_>, &WaiverView> = HashMap::new();
        for w in all {
            let e = newest.entry(self.key(&w.record)).or_insert(w);
            if w.order_key() > e.order_key() {
                *e = w;
            }
        }
        newest.into_values().map(|w| w.id).collect()
    }
}

/// Newest first: `timestamp DESC`, ties by id (newest id first).
pub fn sort_newest_first(waivers: &mut [&WaiverView]) {
    waivers.sort_by(|a, b| b.record.timestamp.cmp(&a.record.timestamp).then(b.id.cmp(&a.id)));
}

/// `POST /waivers/+filtered`: waivers matching any filter, obsolete ones dropped (unless
/// `include_obsolete`) by the global newest per (subject, testcase, scenario), newest first.
pub fn filter_waivers<'a>(all: &'a [WaiverView], req: &FilterRequest) -> Vec<&'a WaiverView> {
    let current = (!req.include_obsolete).then(|| ObsoleteRule::Filtered.current_ids(all));
    let mut out: Vec<&WaiverView> = all
        .iter()
        .filter(|w| current.as_ref().is_none_or(|c| c.contains(&w.id)))
        .filter(|w| req.filters.iter().any(|f| f.matches(&w.record)))
        .collect();
    sort_newest_first(&mut out);
    out
}

/// A validated `POST /waivers/+filtered` body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterRequest {
    pub filters: Vec<WaiverFilter>,
    pub include_obsolete: bool,
}

impl FilterRequest {
    /// Validates the body as WaiverDB's `FilterWaivers` model, then each filter's `since`.
    pub fn parse(body: &Value) -> Result<FilterRequest, WaiverError> {
        let Value::Object(obj) = body else {
            return Err(WaiverError::Validation(vec![model_type(vec![], "FilterWaivers", body)]));
        };
        let mut errs = Vec::new();
        let raw = parse_filter_list(obj, body, &mut errs);
        let include_obsolete = bool_field(obj, "include_obsolete", false, &[], &mut errs);
        if !errs.is_empty() {
            return Err(WaiverError::Validation(errs));
        }
        let mut filters = Vec::with_capacity(raw.len());
        for (mut f, since) in raw {
            if let Some(s) = since {
                f.since = Since::parse(&s)?;
            }
            filters.push(f);
        }
        Ok(FilterRequest { filters, include_obsolete })
    }
}

fn parse_filter_list(
    obj: &Map<String, Value>,
    body: &Value,
    errs: &mut Vec<FieldError>,
) -> Vec<(WaiverFilter, Option<String>)> {
    let items = match obj.get("filters") {
        None => {
            errs.push(FieldError::missing("filters", body));
            return Vec::new();
        }
        Some(Value::Array(items)) if items.is_empty() => {
            errs.push(FieldError::new(
                vec!["filters".into()],
                "too_short",
                "List should have at least 1 item after validation, not 0",
                &Value::Array(Vec::new()),
            ));
            return Vec::new();
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            errs.push(FieldError::new(vec!["filters".into()], "list_type", "Input should be a valid list", other));
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let loc = vec![Loc::from("filters"), Loc::Index(i)];
        let Value::Object(o) = item else {
            errs.push(model_type(loc, "WaiverFilter", item));
            continue;
        };
        let f = WaiverFilter {
            subject_type: opt_string(o, "subject_type", &loc, errs),
            subject_identifier: opt_string(o, "subject_identifier", &loc, errs),
            testcase: opt_string(o, "testcase", &loc, errs),
            scenario: opt_string(o, "scenario", &loc, errs),
            product_version: opt_string(o, "product_version", &loc, errs),
            username: opt_string(o, "username", &loc, errs),
            proxied_by: opt_string(o, "proxied_by", &loc, errs),
            since: Since::default(),
        };
        let since = opt_string(o, "since", &loc, errs);
        out.push((f, since));
    }
    out
}

/// One `results` item of `+by-subjects-and-testcases`: the subject as (type, identifier)
/// when it maps to one, and the testcase.
pub type SubjectTestcase = (Option<(String, String)>, String);

/// A validated `POST /waivers/+by-subjects-and-testcases` body (deprecated upstream).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BySubjectsRequest {
    /// `(subject as (type, identifier) if it maps, testcase)`, ORed; `None`: no constraint.
    pub results: Option<Vec<SubjectTestcase>>,
    /// `product_version`, `username`, `proxied_by` and `since`, ANDed.
    pub filter: WaiverFilter,
    pub include_obsolete: bool,
}

impl BySubjectsRequest {
    /// Validates the body as WaiverDB's `GetWaiversBySubjectAndTestcase` model.
    pub fn parse(body: &Value) -> Result<BySubjectsRequest, WaiverError> {
        let Value::Object(obj) = body else {
            return Err(WaiverError::Validation(vec![model_type(vec![], "GetWaiversBySubjectAndTestcase", body)]));
        };
        let mut errs = Vec::new();
        let results = match obj.get("results") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(parse_test_results(items, &mut errs)),
            Some(other) => {
                errs.push(FieldError::new(vec!["results".into()], "list_type", "Input should be a valid list", other));
                None
            }
        };
        let _ = opt_string(obj, "testcase", &[], &mut errs);
        let filter = WaiverFilter {
            product_version: opt_string(obj, "product_version", &[], &mut errs),
            username: opt_string(obj, "username", &[], &mut errs),
            proxied_by: opt_string(obj, "proxied_by", &[], &mut errs),
            ..WaiverFilter::default()
        };
        let since = opt_string(obj, "since", &[], &mut errs);
        let include_obsolete = bool_field(obj, "include_obsolete", false, &[], &mut errs);
        if !errs.is_empty() {
            return Err(WaiverError::Validation(errs));
        }
        let since = since.filter(|s| !s.is_empty()).map(|s| Since::parse(&s)).transpose()?.unwrap_or_default();
        Ok(BySubjectsRequest { results, filter: WaiverFilter { since, ..filter }, include_obsolete })
    }
}

fn parse_test_results(items: &[Value], errs: &mut Vec<FieldError>) -> Vec<SubjectTestcase> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let loc = vec![Loc::from("results"), Loc::Index(i)];
        let Value::Object(o) = item else {
            errs.push(model_type(loc, "TestResult", item));
            continue;
        };
        let testcase = match o.get("testcase") {
            None => {
                errs.push(FieldError::new(at(&loc, "testcase"), "missing", "Field required", item));
                None
            }
            Some(Value::String(t)) => Some(t.clone()),
            Some(other) => {
                errs.push(FieldError::string_type(at(&loc, "testcase"), other));
                None
            }
        };
        let subject = match o.get("subject") {
            None => {
                errs.push(FieldError::new(at(&loc, "subject"), "missing", "Field required", item));
                None
            }
            Some(v) => parse_legacy_subject(v, &loc, errs),
        };
        if let (Some(t), Some(s)) = (testcase, subject) {
            // An unmappable subject (or one without a type) matches nothing.
            let mapped = match s.to_type_identifier() {
                Ok((Some(st), id)) => Some((st, id)),
                _ => None,
            };
            out.push((mapped, t));
        }
    }
    out
}

/// `POST /waivers/+by-subjects-and-testcases`: waivers matching any (subject, testcase)
/// pair and every other constraint, obsolete ones dropped as `GET /waivers/` does, newest first.
pub fn waivers_by_subjects<'a>(all: &'a [WaiverView], req: &BySubjectsRequest) -> Vec<&'a WaiverView> {
    let current = (!req.include_obsolete).then(|| ObsoleteRule::List.current_ids(all));
    let pair_matches = |w: &WaiverRecord| match &req.results {
        Some(pairs) if !pairs.is_empty() => pairs.iter().any(|(subject, testcase)| {
            subject.as_ref().is_some_and(|(t, i)| *t == w.subject_type && *i == w.subject_identifier)
                && (testcase.is_empty() || *testcase == w.testcase)
        }),
        _ => true,
    };
    let mut out: Vec<&WaiverView> = all
        .iter()
        .filter(|w| current.as_ref().is_none_or(|c| c.contains(&w.id)))
        .filter(|w| req.filter.matches(&w.record) && pair_matches(&w.record))
        .collect();
    sort_newest_first(&mut out);
    out
}

/// Default page size of `GET /waivers/` (ResultsDB's is 20).
pub const DEFAULT_WAIVER_LIMIT: i64 = 10;

/// A validated `GET /api/v1.0/waivers/` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiverListQuery {
    pub filter: WaiverFilter,
    pub include_obsolete: bool,
    /// 1-based.
    pub page: i64,
    pub limit: i64,
}

impl WaiverListQuery {
    /// Parses the decoded query pairs (first occurrence of each name counts; unknown names
    /// are ignored). Type errors first (pydantic), then `since`.
    pub fn parse(pairs: &[(String, String)]) -> Result<WaiverListQuery, WaiverError> {
        let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut errs = Vec::new();
        let page = int_param(first("page"), "page", 1, &mut errs);
        let limit = int_param(first("limit"), "limit", DEFAULT_WAIVER_LIMIT, &mut errs);
        let include_obsolete = match first("include_obsolete") {
            None => false,
            Some(v) => lax_bool_str(&v).unwrap_or_else(|| {
                errs.push(FieldError::new(
                    vec!["include_obsolete".into()],
                    "bool_parsing",
                    "Input should be a valid boolean, unable to interpret input",
                    &Value::String(v.clone()),
                ));
                false
            }),
        };
        if !errs.is_empty() {
            return Err(WaiverError::Validation(errs));
        }
        let since = match first("since") {
            Some(s) => Since::parse(&s)?,
            None => Since::default(),
        };
        let filter = WaiverFilter {
            subject_type: first("subject_type"),
            subject_identifier: first("subject_identifier"),
            testcase: first("testcase"),
            scenario: first("scenario"),
            product_version: first("product_version"),
            username: first("username"),
            proxied_by: first("proxied_by"),
            since,
        };
        Ok(WaiverListQuery { filter, include_obsolete, page, limit })
    }
}

fn int_param(raw: Option<String>, name: &str, default: i64, errs: &mut Vec<FieldError>) -> i64 {
    let Some(raw) = raw else { return default };
    raw.trim().parse::<i64>().unwrap_or_else(|_| {
        errs.push(FieldError::new(
            vec![name.into()],
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
            &Value::String(raw.clone()),
        ));
        default
    })
}

/// One page of `GET /waivers/`: rows plus the link targets (`None` = `null`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiverPage<'a> {
    pub data: Vec<&'a WaiverView>,
    /// `None` for an out-of-range page: every link is then `null` too.
    pub links: Option<PageLinks>,
}

/// Page numbers for the links: `prev`/`next` absent when there is none; `last` is the
/// number of pages (0 when there are no rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLinks {
    pub prev: Option<i64>,
    pub next: Option<i64>,
    pub first: i64,
    pub last: i64,
}

/// `GET /waivers/`: obsolete waivers dropped (newest per subject, testcase, scenario,
/// username, product_version over all of `all`), then filtered, newest first, paginated as
/// flask-sqlalchemy does (page < 1, limit < 1, or an empty page past the first: out of range).
pub fn list_waivers<'a>(all: &'a [WaiverView], q: &WaiverListQuery) -> WaiverPage<'a> {
    let out_of_range = WaiverPage { data: Vec::new(), links: None };
    if q.page < 1 || q.limit < 1 {
        return out_of_range;
    }
    let current = (!q.include_obsolete).then(|| ObsoleteRule::List.current_ids(all));
    let mut rows: Vec<&WaiverView> = all
        .iter()
        .filter(|w| current.as_ref().is_none_or(|c| c.contains(&w.id)))
        .filter(|w| q.filter.matches(&w.record))
        .collect();
    sort_newest_first(&mut rows);
    let total = rows.len() as i64;
    let skip = usize::try_from((q.page - 1).saturating_mul(q.limit)).unwrap_or(usize::MAX);
    let take = usize::try_from(q.limit).unwrap_or(usize::MAX);
    let data: Vec<&WaiverView> = rows.into_iter().skip(skip).take(take).collect();
    if data.is_empty() && q.page != 1 {
        return out_of_range;
    }
    let pages = (total + q.limit - 1) / q.limit;
    let links = PageLinks {
        prev: (q.page > 1).then(|| q.page - 1),
        next: (q.page < pages).then(|| q.page + 1),
        first: 1,
        last: pages,
    };
    WaiverPage { data, links: Some(links) }
}

/// Characters Werkzeug leaves as they are in a query string value (space becomes `+`).
const QUERY_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b',')
    .remove(b'/')
    .remove(b':')
    .remove(b';')
    .remove(b'?')
    .remove(b'@')
    .remove(b' ');

fn quote(s: &str) -> String {
    utf8_percent_encode(s, QUERY_KEEP).to_string().replace(' ', "+")
}

/// A page link as WaiverDB builds it: `<base>?page=N` then the other query parameters in
/// their original order, first value of each. `base` is the absolute `…/waivers/` URL.
pub fn page_url(base: &str, pairs: &[(String, String)], page: i64) -> String {
    let mut url = format!("{base}?page={page}");
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in pairs {
        if k == "page" || seen.contains(&k.as_str()) {
            continue;
        }
        seen.push(k);
        url.push('&');
        url.push_str(&quote(k));
        url.push('=');
        url.push_str(&quote(v));
    }
    url
}

/// The `GET /waivers/` body, keys in WaiverDB's order: data, prev, next, first, last.
#[derive(Debug, Serialize)]
pub struct WaiverPageJson<'a> {
    pub data: Vec<WaiverJson<'a>>,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub first: Option<String>,
    pub last: Option<String>,
}

impl<'a> WaiverPage<'a> {
    /// The response body; `base` and `pairs` are the request's URL and query pairs.
    pub fn to_json(&self, base: &str, pairs: &[(String, String)]) -> WaiverPageJson<'a> {
        let data = self.data.iter().map(|w| w.to_json()).collect();
        let url = |p: Option<i64>| p.map(|p| page_url(base, pairs, p));
        match self.links {
            None => WaiverPageJson { data, prev: None, next: None, first: None, last: None },
            Some(l) => WaiverPageJson {
                data,
                prev: url(l.prev),
                next: url(l.next),
                first: url(Some(l.first)),
                last: url(Some(l.last)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TestcaseRecord;
    use serde_json::json;
    use std::collections::BTreeMap;

    const NOW: Timestamp = Timestamp(1_700_000_000_000_000);

    fn one(body: Value) -> Result<WaiverInput, WaiverError> {
        let c = parse_create_waivers(&body, NOW)?;
        assert!(!c.is_list);
        Ok(c.items.into_iter().next().unwrap())
    }

    fn errors(body: Value) -> Vec<(String, &'static str, String)> {
        match parse_create_waivers(&body, NOW) {
            Err(WaiverError::Validation(e)) => e.into_iter().map(|e| (e.path(), e.kind, e.msg)).collect(),
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    fn base() -> Value {
        json!({"subject_type": "koji_build", "subject_identifier": "n-1-1", "testcase": "t",
            "product_version": "fedora-32", "comment": "ok"})
    }

    #[test]
    fn create_defaults_and_subject_forms() {
        let w = one(base()).unwrap();
        assert!(w.waived, "waived defaults to true");
        assert_eq!(
            w.target,
            WaiverTarget::Subject {
                subject_type: "koji_build".into(),
                subject_identifier: "n-1-1".into(),
                testcase: "t".into()
            }
        );
        let legacy = |subject: Value| {
            let body = json!({"subject": subject, "testcase": "t", "product_version": "p", "comment": "c"});
            one(body).map(|w| w.target)
        };
        let target = |t: &str, i: &str| {
            Ok(WaiverTarget::Subject { subject_type: t.into(), subject_identifier: i.into(), testcase: "t".into() })
        };
        assert_eq!(legacy(json!({"type": "brew-build", "item": "n-1-1"})), target("koji_build", "n-1-1"));
        assert_eq!(legacy(json!({"original_spec_nvr": "n-1-1"})), target("koji_build", "n-1-1"));
        assert_eq!(legacy(json!({"productmd.compose.id": "C-1"})), target("compose", "C-1"));
        assert_eq!(legacy(json!({"type": "bodhi_update", "item": "F-1"})), target("bodhi_update", "F-1"));
        assert_eq!(
            legacy(json!({"item": "x"})),
            Err(WaiverError::BadField {
                field: "subject_type",
                message: "Missing required parameter in the JSON body".into()
            })
        );
        assert!(matches!(legacy(json!({})), Err(WaiverError::BadRequest(_))));
        let w = one(json!({"result_id": "12", "product_version": "p", "comment": "c", "waived": "no"})).unwrap();
        assert_eq!((w.target, w.waived), (WaiverTarget::ResultId(12), false));
    }

    #[test]
    fn a_bad_single_object_reports_both_union_branches() {
        let got =
            errors(json!({"subject_type": "koji_build", "subject_identifier": 5, "testcase": "t", "comment": ""}));
        assert_eq!(
            got,
            vec![
                ("CreateWaiver.subject_identifier".into(), "string_type", "Input should be a valid string".into()),
                ("CreateWaiver.product_version".into(), "missing", "Field required".into()),
                ("CreateWaiver.comment".into(), "string_too_short", "String should have at least 1 character".into()),
                ("list[CreateWaiver]".into(), "list_type", "Input should be a valid list".into()),
            ]
        );
        let got = errors(json!([base(), {"comment": "c", "product_version": "p", "waived": "maybe"}, 3]));
        assert_eq!(
            got[0],
            (
                "CreateWaiver".into(),
                "model_type",
                "Input should be a valid dictionary or instance of CreateWaiver".into()
            )
        );
        assert_eq!(got[1].0, "list[CreateWaiver].1.waived");
        assert_eq!(got[1].1, "bool_parsing");
        assert_eq!(
            got[2],
            (
                "list[CreateWaiver].2".into(),
                "model_type",
                "Input should be a valid dictionary or instance of CreateWaiver".into()
            )
        );
        assert_eq!(errors(json!("x")).len(), 2);
    }

    #[test]
    fn model_rules_in_upstream_order() {
        let rule = |mut body: Value, f: &dyn Fn(&mut Map<String, Value>)| {
            f(body.as_object_mut().unwrap());
            errors(body).into_iter().next()
        };
        let v = |m: &str| Some(("CreateWaiver".to_owned(), "value_error", format!("Value error, {m}")));
        assert_eq!(
            rule(base(), &|m| {
                m.remove("testcase");
            }),
            v("Argument testcase is missing")
        );
        assert_eq!(
            rule(base(), &|m| {
                m.insert("result_id".into(), json!(1));
            }),
            v(
                "result_id argument should not be used together with arguments: subject_identifier, subject_type, subject, testcase, scenario"
            )
        );
        assert_eq!(
            rule(base(), &|m| {
                m.insert("subject".into(), json!({"type": "koji_build", "item": "x"}));
            }),
            v("subject argument should not be used together with arguments: subject_identifier, subject_type")
        );
        assert_eq!(
            rule(base(), &|m| {
                m.remove("subject_type");
            }),
            v("subject must be defined using result_id or subject or both subject_identifier, subject_type")
        );
        let list = errors(json!([base(), {"testcase": "t", "product_version": "p", "comment": "c"}]));
        assert_eq!(list[1].0, "list[CreateWaiver].1");
        assert_eq!(list[1].1, "value_error");
    }

    #[test]
    fn bulk_bodies_and_records() {
        let c = parse_create_waivers(&json!([base(), base()]), NOW).unwrap();
        assert!(c.is_list);
        assert_eq!(c.items.len(), 2);
        assert_eq!(parse_create_waivers(&json!([]), NOW).unwrap().items.len(), 0);
        let mut body = base();
        body["subject_type"] = json!("brew-build");
        body["username"] = json!("alice");
        body["scenario"] = json!("s");
        let w = one(body).unwrap();
        assert_eq!(
            w.clone().into_record("bot", false, NOW, "u".into()),
            Err(WaiverError::Forbidden("user bot does not have the proxyuser ability".into()))
        );
        let r = w.into_record("bot", true, NOW, "0191E7E2-0000-7000-8000-000000000000".into()).unwrap();
        assert_eq!(
            (r.subject_type.as_str(), r.username.as_str(), r.proxied_by.as_deref()),
            ("koji_build", "alice", Some("bot"))
        );
        assert_eq!(r.uuid, "0191e7e2-0000-7000-8000-000000000000");
        assert_eq!(r.timestamp, NOW.0);
        let plain = one(base()).unwrap().into_record("bob", false, NOW, "u".into()).unwrap();
        assert_eq!((plain.username.as_str(), plain.proxied_by.as_deref()), ("bob", None));
        // Canonical JSON: alphabetical, absent optionals skipped.
        let text = serde_json::to_string(&plain).unwrap();
        assert!(text.starts_with("{\"comment\":\"ok\",\"product_version\""), "{text}");
        assert_eq!(serde_json::from_str::<WaiverRecord>(&text).unwrap(), plain);
    }

    #[test]
    fn expires_at_must_be_a_future_iso_time() {
        let mut body = base();
        body["expires_at"] = json!("2030-01-01T00:00:00+01:00");
        let w = one(body.clone()).unwrap();
        assert_eq!(w.expires_at.map(|t| t.to_iso()), Some("2029-12-31T23:00:00".into()));
        body["expires_at"] = json!("2001-01-01");
        assert_eq!(errors(body.clone())[0].2, "Value error, expires_at must be in the future");
        body["expires_at"] = json!("soon");
        assert_eq!(errors(body)[0].2, "Value error, Invalid isoformat string: 'soon'");
    }

    #[test]
    fn result_id_resolution() {
        let w = one(json!({"result_id": 3, "product_version": "p", "comment": "c"})).unwrap();
        let mut data = BTreeMap::new();
        data.insert("type".to_owned(), vec!["brew-build".to_owned()]);
        data.insert("item".to_owned(), vec!["n-1-1".to_owned()]);
        data.insert("scenario".to_owned(), vec!["s".to_owned()]);
        let rec = ResultRecord {
            data,
            groups: vec![],
            note: None,
            outcome: "FAILED".into(),
            ref_url: None,
            request: None,
            submit_time: 0,
            testcase: TestcaseRecord { name: "tc".into(), ref_url: None },
            uuid: "u".into(),
        };
        let r = w.clone().with_result(Some(&rec)).unwrap();
        assert_eq!(
            r.target,
            WaiverTarget::Subject {
                subject_type: "koji_build".into(),
                subject_identifier: "n-1-1".into(),
                testcase: "tc".into()
            }
        );
        assert_eq!(r.scenario.as_deref(), Some("s"));
        assert_eq!(
            w.clone().with_result(None),
            Err(WaiverError::BadRequest("Result id not found in Resultsdb".into()))
        );
        let mut bare = rec.clone();
        bare.data.clear();
        assert!(
            matches!(w.with_result(Some(&bare)), Err(WaiverError::BadRequest(m)) if m.starts_with("It is not possible"))
        );
    }

    #[test]
    fn fromisoformat_like_python() {
        let ok = |s: &str| parse_fromisoformat(s).map(|t| t.to_iso());
        assert_eq!(ok("2017-03-16"), Ok("2017-03-16T00:00:00".into()));
        assert_eq!(ok("20170316"), Ok("2017-03-16T00:00:00".into()));
        assert_eq!(ok("2017-03-16T17:42:04.209638"), Ok("2017-03-16T17:42:04.209638".into()));
        assert_eq!(ok("2017-03-16 17:42"), Ok("2017-03-16T17:42:00".into()));
        assert_eq!(ok("2017-03-16T17"), Ok("2017-03-16T17:00:00".into()));
        assert_eq!(ok("2017-03-16T174204,5"), Ok("2017-03-16T17:42:04.500000".into()));
        assert_eq!(ok("2017-03-16T17:42:04Z"), Ok("2017-03-16T17:42:04".into()));
        assert_eq!(ok("2017-03-16T17:42:04-02:30"), Ok("2017-03-16T20:12:04".into()));
        assert_eq!(ok("2017-03-16T17:42:04.1234567"), Ok("2017-03-16T17:42:04.123456".into()));
        assert_eq!(ok("2017-03-16é17:42"), Ok("2017-03-16T17:42:00".into()));
        assert_eq!(ok("123"), Err("Invalid isoformat string: '123'".into()));
        assert_eq!(ok("2017-03-16T"), Err("Invalid isoformat string: '2017-03-16T'".into()));
        assert_eq!(ok("2017-13-01"), Err("month must be in 1..12".into()));
        assert_eq!(ok("2017-02-30"), Err("day is out of range for month".into()));
        assert_eq!(ok("2017-02-03T25:00"), Err("hour must be in 0..23".into()));
        assert_eq!(ok("it's"), Err("Invalid isoformat string: \"it's\"".into()));
        for junk in
            ["", "2017-0a-01", "2017-03-16T17:4", "2017-03-16T17:42:04.", "2017-03-16T17:42Zx", "９９９９-01-01"]
        {
            assert!(ok(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn since_ranges() {
        assert_eq!(Since::parse(",").unwrap(), Since::default());
        let s = Since::parse("2017-01-01,2017-01-02").unwrap();
        assert!(s.contains(Timestamp::from_parts((2017, 1, 2), (0, 0, 0), 0).unwrap().0));
        assert!(!s.contains(Timestamp::from_parts((2017, 1, 2), (0, 0, 0), 1).unwrap().0));
        assert_eq!(
            Since::parse("123"),
            Err(WaiverError::BadField { field: "since", message: "Invalid isoformat string: '123'".into() })
        );
    }

    fn stored(id: i64, secs: i64, f: impl FnOnce(&mut WaiverRecord)) -> WaiverView {
        let mut record = WaiverRecord {
            comment: "c".into(),
            expires_at: None,
            product_version: "fedora-32".into(),
            proxied_by: None,
            scenario: None,
            subject_identifier: "n-1-1".into(),
            subject_type: "koji_build".into(),
            testcase: "t".into(),
            timestamp: NOW.0 + secs * 1_000_000,
            username: "alice".into(),
            uuid: format!("u{id}"),
            waived: true,
        };
        f(&mut record);
        WaiverView { id, record }
    }

    fn ids(ws: &[&WaiverView]) -> Vec<i64> {
        ws.iter().map(|w| w.id).collect()
    }

    fn table() -> Vec<WaiverView> {
        vec![
            stored(1, 1, |_| {}),
            stored(2, 2, |r| r.username = "bob".into()),
            stored(3, 3, |r| r.product_version = "fedora-33".into()),
            stored(4, 4, |r| r.scenario = Some("s".into())),
            stored(5, 5, |r| r.testcase = "other".into()),
            stored(6, 6, |r| r.waived = false),
        ]
    }

    #[test]
    fn obsolete_rules_differ_between_list_and_filtered() {
        let all = table();
        let q = WaiverListQuery::parse(&[]).unwrap();
        // GET groups by username and product version too: 6 (alice, fedora-32) obsoletes 1.
        assert_eq!(ids(&list_waivers(&all, &q).data), vec![6, 5, 4, 3, 2]);
        // +filtered groups by subject, testcase and scenario: 6 is the newest of (t, no scenario).
        let f = |filters: Value| {
            let req = FilterRequest::parse(&json!({"filters": filters})).unwrap();
            ids(&filter_waivers(&all, &req))
        };
        assert_eq!(f(json!([{}])), vec![6, 5, 4]);
        // The newest of its group is for fedora-32; a filter for fedora-33 finds nothing there.
        assert_eq!(f(json!([{"product_version": "fedora-33", "testcase": "t"}])), Vec::<i64>::new());
        assert_eq!(f(json!([{"testcase": "other"}, {"scenario": "s"}])), vec![5, 4]);
        let req = FilterRequest::parse(&json!({"filters": [{"testcase": "t"}], "include_obsolete": true})).unwrap();
        assert_eq!(ids(&filter_waivers(&all, &req)), vec![6, 4, 3, 2, 1]);
        let req = FilterRequest::parse(
            &json!({"filters": [{"since": "2023-11-14T22:13:21,2023-11-14T22:13:23"}], "include_obsolete": true}),
        )
        .unwrap();
        assert_eq!(ids(&filter_waivers(&all, &req)), vec![3, 2, 1]);
    }

    #[test]
    fn newest_is_by_creation_time_not_local_id() {
        // A replicated waiver gets a later local id than a newer local one.
        let all = vec![stored(9, 7, |_| {}), stored(10, 5, |r| r.waived = false)];
        let req = FilterRequest::parse(&json!({"filters": [{}]})).unwrap();
        assert_eq!(ids(&filter_waivers(&all, &req)), vec![9]);
        // Same time: the uuid decides, the same way on every node.
        let tied = vec![stored(1, 7, |r| r.uuid = "b".into()), stored(2, 7, |r| r.uuid = "a".into())];
        assert_eq!(ids(&filter_waivers(&tied, &req)), vec![1]);
    }

    #[test]
    fn filtered_body_errors() {
        let kinds = |body: Value| match FilterRequest::parse(&body) {
            Err(WaiverError::Validation(e)) => e.into_iter().map(|e| (e.path(), e.kind)).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(kinds(json!({})), vec![("filters".into(), "missing")]);
        assert_eq!(kinds(json!({"filters": []})), vec![("filters".into(), "too_short")]);
        assert_eq!(
            kinds(json!({"filters": [1, {"testcase": 2}]})),
            vec![("filters.0".into(), "model_type"), ("filters.1.testcase".into(), "string_type")]
        );
        assert_eq!(kinds(json!([])), vec![("".into(), "model_type")]);
        assert!(matches!(
            FilterRequest::parse(&json!({"filters": [{"since": "x"}]})),
            Err(WaiverError::BadField { field: "since", .. })
        ));
    }

    #[test]
    fn by_subjects_and_testcases() {
        let all = table();
        let req = BySubjectsRequest::parse(&json!({"results": [
            {"subject": {"type": "brew-build", "item": "n-1-1"}, "testcase": "other"},
            {"subject": {"nonsense": "x"}, "testcase": "t"}]}))
        .unwrap();
        assert_eq!(ids(&waivers_by_subjects(&all, &req)), vec![5]);
        let req = BySubjectsRequest::parse(&json!({"product_version": "fedora-32"})).unwrap();
        assert_eq!(ids(&waivers_by_subjects(&all, &req)), vec![6, 5, 4, 2]);
        let Err(WaiverError::Validation(e)) = BySubjectsRequest::parse(&json!({"results": [{"testcase": "t"}, 3]}))
        else {
            panic!()
        };
        assert_eq!(e.iter().map(|e| e.path()).collect::<Vec<_>>(), vec!["results.0.subject", "results.1"]);
    }

    fn pairs(q: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }

    #[test]
    fn pagination_and_links() {
        let all: Vec<WaiverView> = (1..=25).map(|i| stored(i, i, |r| r.testcase = format!("t{i}"))).collect();
        let base = "http://h/api/v1.0/waivers/";
        let p = pairs("limit=10&page=2&testcase:like=x&since=2000-01-01T00:00:00,&limit=99");
        let q = WaiverListQuery::parse(&p).unwrap();
        let page = list_waivers(&all, &q);
        assert_eq!(ids(&page.data), (6..=15).rev().collect::<Vec<_>>());
        let j = serde_json::to_value(page.to_json(base, &p)).unwrap();
        assert_eq!(
            j["prev"],
            json!("http://h/api/v1.0/waivers/?page=1&limit=10&testcase:like=x&since=2000-01-01T00:00:00,")
        );
        assert_eq!(
            j["last"],
            json!("http://h/api/v1.0/waivers/?page=3&limit=10&testcase:like=x&since=2000-01-01T00:00:00,")
        );
        assert!(j["next"].as_str().unwrap().contains("page=3"));
        let keys: Vec<String> = serde_json::to_string(&page.to_json(base, &p))
            .unwrap()
            .split("\":")
            .map(|k| k.rsplit('"').next().unwrap().to_owned())
            .take(1)
            .collect();
        assert_eq!(keys, vec!["data"]);
        // Out of range: everything null.
        for bad in ["page=0", "page=4", "limit=0", "limit=-1"] {
            let q = WaiverListQuery::parse(&pairs(bad)).unwrap();
            let j = serde_json::to_value(list_waivers(&all, &q).to_json(base, &[])).unwrap();
            assert_eq!(j, json!({"data": [], "prev": null, "next": null, "first": null, "last": null}), "{bad}");
        }
        // No rows at all: page 1 is fine and `last` is page 0.
        let j =
            serde_json::to_value(list_waivers(&[], &WaiverListQuery::parse(&[]).unwrap()).to_json(base, &[])).unwrap();
        assert_eq!(j["last"], json!("http://h/api/v1.0/waivers/?page=0"));
        assert_eq!(j["first"], json!("http://h/api/v1.0/waivers/?page=1"));
        let e = WaiverListQuery::parse(&pairs("page=x&include_obsolete=maybe")).unwrap_err();
        let WaiverError::Validation(e) = e else { panic!() };
        assert_eq!(e.iter().map(|e| e.kind).collect::<Vec<_>>(), vec!["int_parsing", "bool_parsing"]);
        assert!(matches!(
            WaiverListQuery::parse(&pairs("since=nope")),
            Err(WaiverError::BadField { field: "since", .. })
        ));
    }

    #[test]
    fn waiver_json_in_restx_order() {
        let w = stored(7, 0, |r| {
            r.subject_type = "compose".into();
            r.timestamp = 1_489_686_124_209_638;
        });
        let text = serde_json::to_string(&w.to_json()).unwrap();
        assert_eq!(
            text,
            "{\"id\":7,\"subject_type\":\"compose\",\"subject_identifier\":\"n-1-1\",\"subject\":{\"productmd.compose.id\":\"n-1-1\"},\"testcase\":\"t\",\"username\":\"alice\",\"scenario\":null,\"proxied_by\":null,\"product_version\":\"fedora-32\",\"waived\":true,\"comment\":\"c\",\"timestamp\":\"2017-03-16T17:42:04.209638\"}"
        );
        let k = stored(8, 0, |r| r.expires_at = Some(0));
        let j = serde_json::to_value(k.to_json()).unwrap();
        assert_eq!(j["subject"], json!({"type": "koji_build", "item": "n-1-1"}));
        assert_eq!(j["expires_at"], json!("1970-01-01T00:00:00"));
        assert!(k.expired_at(Timestamp(0)) && !k.expired_at(Timestamp(-1)));
    }
}
