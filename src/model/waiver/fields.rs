//! Pydantic's lax field readers, as WaiverDB's models apply them to JSON bodies: shared by
//! the create body and the query bodies (`+filtered`, `+by-subjects-and-testcases`).

use super::WaiverError;
use crate::model::error::{FieldError, Loc};
use crate::model::pystr::py_str;
use serde_json::{Map, Value};

pub(super) fn model_type(loc: Vec<Loc>, model: &str, input: &Value) -> FieldError {
    FieldError::new(loc, "model_type", format!("Input should be a valid dictionary or instance of {model}"), input)
}

pub(super) fn at(loc: &[Loc], field: &str) -> Vec<Loc> {
    let mut l = loc.to_vec();
    l.push(field.into());
    l
}

/// `Optional[str]`: absent or null is `None`; anything but a string is an error.
pub(super) fn opt_string(
    obj: &Map<String, Value>,
    field: &str,
    loc: &[Loc],
    errs: &mut Vec<FieldError>,
) -> Option<String> {
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
pub(super) fn required_string(
    obj: &Map<String, Value>,
    field: &str,
    loc: &[Loc],
    errs: &mut Vec<FieldError>,
) -> String {
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

pub(super) fn bool_field(
    obj: &Map<String, Value>,
    field: &str,
    default: bool,
    loc: &[Loc],
    errs: &mut Vec<FieldError>,
) -> bool {
    let Some(v) = obj.get(field) else { return default };
    lax_bool(v).unwrap_or_else(|(kind, msg)| {
        errs.push(FieldError::new(at(loc, field), kind, msg, v));
        default
    })
}

/// Pydantic's lax `Optional[int]`.
pub(super) fn opt_int(obj: &Map<String, Value>, field: &str, loc: &[Loc], errs: &mut Vec<FieldError>) -> Option<i64> {
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
pub(super) struct LegacySubject {
    subject_type: Option<String>,
    item: Option<String>,
    original_spec_nvr: Option<String>,
    compose_id: Option<String>,
}

pub(super) fn parse_legacy_subject(v: &Value, loc: &[Loc], errs: &mut Vec<FieldError>) -> Option<LegacySubject> {
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
    pub(super) fn to_type_identifier(&self) -> Result<(Option<String>, String), WaiverError> {
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
