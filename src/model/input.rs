//! Validation of write bodies (`POST /results`, `/testcases`, `/groups`) as ResultsDB does it.

use super::error::{FieldError, Loc, ModelError};
use super::limits::{InputLimits, check_result, list_too_long};
use super::pystr::py_str;
use super::time::{Timestamp, parse_submit_time};
use super::{GroupRecord, Outcomes, TestcaseRecord, canonical_uuid};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A validated `POST /results` body, before the server assigns uuid, group uuids and time.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultInput {
    /// Client-chosen global identity (our extension): makes retries idempotent.
    pub uuid: Option<String>,
    pub testcase: TestcaseRecord,
    pub outcome: String,
    pub note: Option<String>,
    pub ref_url: Option<String>,
    pub groups: Vec<GroupInput>,
    pub data: BTreeMap<String, Vec<String>>,
    pub submit_time: Option<Timestamp>,
}

/// A group named in a result; `uuid` is `None` when the server must generate one.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupInput {
    pub uuid: Option<String>,
    pub description: Option<Option<String>>,
    pub ref_url: Option<Option<String>>,
}

/// A validated `POST /testcases` body.
#[derive(Debug, Clone, PartialEq)]
pub struct TestcaseInput {
    pub name: String,
    pub ref_url: Option<String>,
}

/// Collects field errors so one response reports all of them, as pydantic does.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }
    fn finish<T>(self, ok: T) -> Result<T, ModelError> {
        if self.0.is_empty() { Ok(ok) } else { Err(ModelError::Validation(self.0)) }
    }
}

fn model_type(model: &str, body: &Value) -> ModelError {
    ModelError::Validation(vec![FieldError::new(
        vec![],
        "model_type",
        format!("Input should be a valid dictionary or instance of {model}"),
        body,
    )])
}

/// `Optional[str]`: absent or null → `None`, string → `Some`, anything else an error.
fn opt_str(obj: &Map<String, Value>, field: &str, loc: &[Loc], errs: &mut Errors) -> Option<String> {
    match obj.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            let mut l = loc.to_vec();
            l.push(field.into());
            errs.push(FieldError::string_type(l, other));
            None
        }
    }
}

/// Like `opt_str` but keeps "absent" apart from "null" (for update-if-present fields).
fn present_str(obj: &Map<String, Value>, field: &str, loc: &[Loc], errs: &mut Errors) -> Option<Option<String>> {
    obj.get(field)?;
    Some(opt_str(obj, field, loc, errs))
}

/// Python truthiness of a JSON value (`not v` in ResultsDB's validators).
fn falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Validates a `POST /api/v2.0/results` body against the allowed outcomes and the size
/// caps (`limits`).
pub fn parse_create_result(body: &Value, outcomes: &Outcomes, limits: &InputLimits) -> Result<ResultInput, ModelError> {
    let Value::Object(obj) = body else {
        return Err(model_type("CreateResultParams", body));
    };
    let mut errs = Errors::default();
    let outcome = parse_outcome(obj, body, outcomes, &mut errs);
    let testcase = parse_testcase_field(obj, body, &mut errs);
    let groups = parse_groups(obj, &mut errs);
    let note = opt_str(obj, "note", &[], &mut errs);
    let ref_url = opt_str(obj, "ref_url", &[], &mut errs);
    let data = parse_data(obj, limits, &mut errs);
    let submit_time = parse_submit_time_field(obj, &mut errs);
    let uuid = parse_uuid_field(obj, &mut errs);
    let input = ResultInput {
        uuid,
        testcase: testcase.unwrap_or(TestcaseRecord { name: String::new(), ref_url: None }),
        outcome: outcome.unwrap_or_default(),
        note,
        ref_url,
        groups,
        data: data.unwrap_or_default(),
        submit_time,
    };
    for e in check_result(&input, limits) {
        errs.push(e);
    }
    let input = errs.finish(input)?;
    check_data_keys(input.data.keys())?;
    Ok(input)
}

/// ResultsDB refuses data keys with `:` (they would clash with the `key:like` filter syntax).
pub fn check_data_keys<'a>(keys: impl Iterator<Item = &'a String>) -> Result<(), ModelError> {
    let bad: Vec<Value> = keys.filter(|k| k.contains(':')).map(|k| Value::String(k.clone())).collect();
    if bad.is_empty() {
        return Ok(());
    }
    // The message carries Python's repr of the list of offending keys: ['a:b', 'c:d'].
    Err(ModelError::BadRequest(format!("Colon not allowed in key name: {}", py_str(&Value::Array(bad)))))
}

fn parse_outcome(obj: &Map<String, Value>, body: &Value, outcomes: &Outcomes, errs: &mut Errors) -> Option<String> {
    let loc = || vec![Loc::from("outcome")];
    match obj.get("outcome") {
        None => errs.push(FieldError::missing("outcome", body)),
        Some(Value::String(s)) => {
            let o = s.trim().to_uppercase();
            if o.is_empty() {
                errs.push(FieldError::new(
                    loc(),
                    "string_too_short",
                    "String should have at least 1 character",
                    &Value::String(s.clone()),
                ));
            } else if !outcomes.contains(&o) {
                errs.push(FieldError::value_error(loc(), &outcomes.must_be_one_of(), &Value::String(o)));
            } else {
                return Some(o);
            }
        }
        Some(other) => errs.push(FieldError::string_type(loc(), other)),
    }
    None
}

fn parse_testcase_field(obj: &Map<String, Value>, body: &Value, errs: &mut Errors) -> Option<TestcaseRecord> {
    let loc = || vec![Loc::from("testcase")];
    let Some(v) = obj.get("testcase") else {
        errs.push(FieldError::missing("testcase", body));
        return None;
    };
    let empty_name = match v {
        Value::Object(o) => o.get("name").is_none_or(falsy),
        other => falsy(other),
    };
    if empty_name {
        errs.push(FieldError::value_error(loc(), "testcase name must be non-empty", v));
        return None;
    }
    match v {
        Value::String(name) => Some(TestcaseRecord { name: name.clone(), ref_url: None }),
        Value::Object(o) => {
            let name = match o.get("name") {
                Some(Value::String(n)) => n.clone(),
                Some(other) => {
                    errs.push(FieldError::string_type(vec!["testcase".into(), "name".into()], other));
                    return None;
                }
                None => return None,
            };
            let ref_url = present_str(o, "ref_url", &loc(), errs);
            Some(TestcaseRecord { name, ref_url })
        }
        other => {
            errs.push(FieldError::new(loc(), "dict_type", "Input should be a valid dictionary", other));
            None
        }
    }
}

/// Characters of a group uuid. Upstream's API takes any string; its `group.uuid` column is
/// `VARCHAR(36)` (a UUID's text), which PostgreSQL enforces and SQLite does not. Clients
/// name groups by their own ids too: Avocado's ResultsDB plugin by its 40-digit hex job id
/// (a SHA-1), so the cap leaves room for a SHA-256 in hex.
pub const GROUP_UUID_CHARS: usize = 64;

fn parse_groups(obj: &Map<String, Value>, errs: &mut Errors) -> Vec<GroupInput> {
    let items = match obj.get("groups") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            errs.push(FieldError::new(vec!["groups".into()], "list_type", "Input should be a valid list", other));
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let loc = vec![Loc::from("groups"), Loc::Index(i)];
        match item {
            Value::String(s) if !s.is_empty() && s.chars().count() <= GROUP_UUID_CHARS => {
                out.push(GroupInput { uuid: Some(s.clone()), description: None, ref_url: None })
            }
            Value::Object(o) => {
                let uuid = match o.get("uuid") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= GROUP_UUID_CHARS => {
                        Some(s.clone())
                    }
                    Some(other) => {
                        let mut l = loc.clone();
                        l.push("uuid".into());
                        errs.push(FieldError::value_error(
                            l,
                            &format!("group uuid must be a non-empty string of at most {GROUP_UUID_CHARS} characters"),
                            other,
                        ));
                        None
                    }
                };
                let description = present_str(o, "description", &loc, errs);
                let ref_url = present_str(o, "ref_url", &loc, errs);
                out.push(GroupInput { uuid, description, ref_url });
            }
            other => errs.push(FieldError::value_error(
                loc,
                &format!(
                    "a group must be a uuid string (1-{GROUP_UUID_CHARS} characters) or an object {{uuid, description, ref_url}}"
                ),
                other,
            )),
        }
    }
    out
}

/// ResultsDB's data conversion: string → one value, list → one value per element, any
/// other value → its Python `str()`. An empty list stores nothing. A list over the
/// per-key cap is refused before it is converted (it may hold millions of items).
fn parse_data(
    obj: &Map<String, Value>,
    limits: &InputLimits,
    errs: &mut Errors,
) -> Option<BTreeMap<String, Vec<String>>> {
    let map = match obj.get("data") {
        None | Some(Value::Null) => return None,
        Some(Value::Object(m)) => m,
        Some(other) => {
            errs.push(FieldError::new(vec!["data".into()], "dict_type", "Input should be a valid dictionary", other));
            return None;
        }
    };
    let oversized = |v: &Value| matches!(v, Value::Array(items) if items.len() > limits.values_per_key);
    if !map.values().any(oversized) {
        return Some(convert_data(map));
    }
    let mut kept = Map::new();
    for (k, v) in map {
        match v {
            Value::Array(items) if oversized(v) => {
                // An over-long key is reported by the key check; do not echo it in `loc`.
                let mut loc = vec![Loc::from("data")];
                if k.chars().count() <= limits.key_chars {
                    loc.push(Loc::from(k.as_str()));
                }
                errs.push(list_too_long(loc, limits.values_per_key, items.len()));
            }
            _ => {
                kept.insert(k.clone(), v.clone());
            }
        }
    }
    Some(convert_data(&kept))
}

/// Converts a JSON data object to ResultsDB's key → values multimap.
pub fn convert_data(map: &Map<String, Value>) -> BTreeMap<String, Vec<String>> {
    let mut data = BTreeMap::new();
    for (k, v) in map {
        let values: Vec<String> = match v {
            Value::Array(items) => items.iter().map(py_str).collect(),
            other => vec![py_str(other)],
        };
        if !values.is_empty() {
            data.insert(k.clone(), values);
        }
    }
    data
}

fn parse_submit_time_field(obj: &Map<String, Value>, errs: &mut Errors) -> Option<Timestamp> {
    let v = obj.get("submit_time")?;
    let parsed = match v {
        Value::Null => return None,
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.3e18).map(|f| f as i64))
            .and_then(Timestamp::from_millis),
        Value::String(s) => parse_submit_time(s).or_else(|| parse_millis_str(s)),
        _ => None,
    };
    if parsed.is_none() {
        let repr = match v {
            Value::String(s) => format!("'{s}'"),
            other => py_str(other),
        };
        errs.push(FieldError::value_error(
            vec!["submit_time".into()],
            &format!(
                "Expected timestamp in milliseconds or datetime (in format YYYY-MM-DDTHH:MM:SS.ffffff), got {repr}"
            ),
            v,
        ));
    }
    parsed
}

/// Python `int(s)` of a millisecond string: optional sign, digits, surrounding whitespace.
fn parse_millis_str(s: &str) -> Option<Timestamp> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse::<i64>().ok().and_then(Timestamp::from_millis)
}

fn parse_uuid_field(obj: &Map<String, Value>, errs: &mut Errors) -> Option<String> {
    match obj.get("uuid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if canonical_uuid(s).is_some() => canonical_uuid(s),
        Some(other) => {
            errs.push(FieldError::value_error(vec!["uuid".into()], "uuid must be a UUID string", other));
            None
        }
    }
}

/// Pushes `string_too_long` when `s` has more than `max` characters.
fn cap(errs: &mut Errors, field: &str, s: Option<&str>, max: usize) {
    if let Some(s) = s
        && s.len() > max
        && s.chars().count() > max
    {
        errs.push(super::limits::string_too_long(vec![field.into()], max, s));
    }
}

/// Validates a `POST /api/v2.0/testcases` body (name and URL within `limits`).
pub fn parse_create_testcase(body: &Value, limits: &InputLimits) -> Result<TestcaseInput, ModelError> {
    let Value::Object(obj) = body else {
        return Err(model_type("CreateTestcaseParams", body));
    };
    let mut errs = Errors::default();
    let name = match obj.get("name") {
        None => {
            errs.push(FieldError::missing("name", body));
            String::new()
        }
        Some(Value::String(s)) if s.is_empty() => {
            errs.push(FieldError::new(
                vec!["name".into()],
                "string_too_short",
                "String should have at least 1 character",
                &Value::String(s.clone()),
            ));
            String::new()
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            errs.push(FieldError::string_type(vec!["name".into()], other));
            String::new()
        }
    };
    let ref_url = opt_str(obj, "ref_url", &[], &mut errs);
    cap(&mut errs, "name", Some(&name), limits.name_chars);
    cap(&mut errs, "ref_url", ref_url.as_deref(), limits.url_chars);
    errs.finish(TestcaseInput { name, ref_url })
}

/// Validates a `POST /api/v2.0/groups` body. Upstream overwrites `description`/`ref_url`
/// only when they are non-empty, so empty strings become "absent" here.
pub fn parse_create_group(body: &Value, limits: &InputLimits) -> Result<(Option<String>, GroupRecord), ModelError> {
    let Value::Object(obj) = body else {
        return Err(model_type("CreateGroupParams", body));
    };
    let mut errs = Errors::default();
    let uuid = opt_str(obj, "uuid", &[], &mut errs).filter(|s| !s.is_empty());
    if let Some(u) = &uuid
        && u.chars().count() > GROUP_UUID_CHARS
    {
        errs.push(FieldError::new(
            vec!["uuid".into()],
            "string_too_long",
            format!("String should have at most {GROUP_UUID_CHARS} characters"),
            &Value::String(u.clone()),
        ));
    }
    let description = opt_str(obj, "description", &[], &mut errs).filter(|s| !s.is_empty()).map(Some);
    let ref_url = opt_str(obj, "ref_url", &[], &mut errs).filter(|s| !s.is_empty()).map(Some);
    cap(&mut errs, "description", description.as_ref().and_then(|d| d.as_deref()), limits.note_chars);
    cap(&mut errs, "ref_url", ref_url.as_ref().and_then(|u| u.as_deref()), limits.url_chars);
    errs.finish((uuid, GroupRecord { description, ref_url, uuid: String::new() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outcomes() -> Outcomes {
        Outcomes::new(&["AMAZING"]).unwrap()
    }

    #[test]
    fn accepts_upstream_example() {
        let body = json!({"testcase": {"name": "dist.rpmlint", "ref_url": null}, "outcome": " passed ",
            "data": {"arch": ["x86_64", "noarch"], "item": "koschei", "n": 1.0, "b": true, "e": []},
            "groups": ["g1", {"description": "d"}], "_auth": null, "submit_time": 1661324097123u64});
        let r = parse_create_result(&body, &outcomes(), &InputLimits::default()).unwrap();
        assert_eq!(r.outcome, "PASSED");
        assert_eq!(r.testcase.ref_url, Some(None));
        assert_eq!(r.data["arch"], vec!["x86_64", "noarch"]);
        assert_eq!(r.data["n"], vec!["1.0"]);
        assert_eq!(r.data["b"], vec!["True"]);
        assert!(!r.data.contains_key("e"));
        assert_eq!(r.groups.len(), 2);
        assert_eq!(r.groups[1].uuid, None);
        assert_eq!(r.submit_time.unwrap().to_iso(), "2022-08-24T06:54:57.123000");
    }

    #[test]
    fn reports_every_bad_field() {
        let body = json!({"testcase": "", "outcome": "MEH", "submit_time": "now", "note": 5});
        let Err(ModelError::Validation(errs)) = parse_create_result(&body, &outcomes(), &InputLimits::default()) else {
            panic!()
        };
        let got: Vec<(String, &str)> = errs.iter().map(|e| (e.path(), e.kind)).collect();
        assert_eq!(
            got,
            vec![
                ("outcome".to_owned(), "value_error"),
                ("testcase".to_owned(), "value_error"),
                ("note".to_owned(), "string_type"),
                ("submit_time".to_owned(), "value_error")
            ]
        );
        assert_eq!(errs[0].msg, "Value error, must be one of: PASSED, INFO, FAILED, NEEDS_INSPECTION, AMAZING");
        assert!(errs[3].msg.ends_with("got 'now'"), "{}", errs[3].msg);
    }

    #[test]
    fn colon_keys_are_refused() {
        let body = json!({"testcase": "t", "outcome": "PASSED", "data": {"a:b": 1, "ok": 2}});
        assert_eq!(
            parse_create_result(&body, &outcomes(), &InputLimits::default()),
            Err(ModelError::BadRequest("Colon not allowed in key name: ['a:b']".into()))
        );
    }

    #[test]
    fn a_million_values_are_refused_before_conversion() {
        let arch: Vec<Value> = (0..1_000_000).map(|i| Value::String(i.to_string())).collect();
        let body = json!({"testcase": "t", "outcome": "PASSED", "data": {"arch": arch, "item": "x"}});
        let Err(ModelError::Validation(errs)) = parse_create_result(&body, &outcomes(), &InputLimits::default()) else {
            panic!()
        };
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].path(), "data.arch");
        assert_eq!(errs[0].kind, "too_long");
        assert_eq!(errs[0].msg, "List should have at most 256 items after validation, not 1000000");
    }

    #[test]
    fn testcase_and_group_bodies_have_caps_too() {
        let limits = InputLimits { name_chars: 4, note_chars: 3, ..InputLimits::default() };
        let Err(ModelError::Validation(errs)) = parse_create_testcase(&json!({"name": "abcde"}), &limits) else {
            panic!()
        };
        assert_eq!((errs[0].path(), errs[0].kind), ("name".to_owned(), "string_too_long"));
        let Err(ModelError::Validation(errs)) = parse_create_group(&json!({"description": "abcd"}), &limits) else {
            panic!()
        };
        assert_eq!(errs[0].path(), "description");
    }

    #[test]
    fn group_uuids_longer_than_a_uuid_fit_up_to_the_cap() {
        // Avocado's ResultsDB plugin names its group by the job id: 40 hex digits.
        let job = "e98b9d5711af6bc1c9e0838cbc72ff25697a0c33";
        let limits = InputLimits::default();
        let (uuid, _) = parse_create_group(&json!({"uuid": job, "description": "job-x"}), &limits).unwrap();
        assert_eq!(uuid.as_deref(), Some(job));
        let body = json!({"testcase": "t", "outcome": "PASSED", "groups": [job, {"uuid": "x".repeat(64)}]});
        let r = parse_create_result(&body, &outcomes(), &limits).unwrap();
        assert_eq!(r.groups[0].uuid.as_deref(), Some(job));
        let long = "x".repeat(GROUP_UUID_CHARS + 1);
        let Err(ModelError::Validation(errs)) = parse_create_group(&json!({"uuid": long}), &limits) else { panic!() };
        assert_eq!(
            (errs[0].kind, errs[0].msg.as_str()),
            ("string_too_long", "String should have at most 64 characters")
        );
        let body = json!({"testcase": "t", "outcome": "PASSED", "groups": [long, {"uuid": long}]});
        let Err(ModelError::Validation(errs)) = parse_create_result(&body, &outcomes(), &limits) else { panic!() };
        let got: Vec<String> = errs.iter().map(|e| e.path()).collect();
        assert_eq!(got, ["groups.0", "groups.1.uuid"]);
    }

    #[test]
    fn non_object_body() {
        let Err(ModelError::Validation(errs)) = parse_create_result(&json!(0), &outcomes(), &InputLimits::default())
        else {
            panic!()
        };
        assert_eq!(errs[0].kind, "model_type");
        assert!(errs[0].loc.is_empty());
    }
}
