//! `POST /api/v1.0/waivers/`: create-body validation as WaiverDB's pydantic models do it,
//! legacy `result_id` resolution, and the record a validated item becomes.

use super::fields::{
    LegacySubject, at, bool_field, model_type, opt_int, opt_string, parse_legacy_subject, required_string,
};
use super::{WaiverError, WaiverRecord};
use crate::model::error::{FieldError, Loc};
use crate::model::time::{Timestamp, parse_fromisoformat};
use crate::model::{ResultRecord, canonical_uuid};
use serde_json::{Map, Value};

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

/// Pydantic field errors (reported with the other union branch) or a later, plain refusal.
enum Failure {
    Fields(Vec<FieldError>),
    Other(WaiverError),
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::NOW;
    use super::*;
    use crate::model::TestcaseRecord;
    use serde_json::json;
    use std::collections::BTreeMap;

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
}
