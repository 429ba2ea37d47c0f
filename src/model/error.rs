//! Validation errors shaped like ResultsDB's (pydantic 2 `validation_error` items).

use serde_json::Value;
use std::fmt;

/// One part of an error location: a field name or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loc {
    Field(String),
    Index(usize),
}

impl From<&str> for Loc {
    fn from(s: &str) -> Self {
        Loc::Field(s.to_owned())
    }
}

impl From<usize> for Loc {
    fn from(i: usize) -> Self {
        Loc::Index(i)
    }
}

/// One invalid field: where, what was wrong (`msg`), the pydantic error `type`, and the input.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub loc: Vec<Loc>,
    pub msg: String,
    pub kind: &'static str,
    pub input: Value,
}

impl FieldError {
    pub fn new(loc: Vec<Loc>, kind: &'static str, msg: impl Into<String>, input: &Value) -> Self {
        FieldError { loc, msg: msg.into(), kind, input: input.clone() }
    }

    /// A custom validator failure: pydantic prefixes the message with `Value error, `.
    pub fn value_error(loc: Vec<Loc>, msg: &str, input: &Value) -> Self {
        Self::new(loc, "value_error", format!("Value error, {msg}"), input)
    }

    pub fn missing(field: &str, body: &Value) -> Self {
        Self::new(vec![field.into()], "missing", "Field required", body)
    }

    pub fn string_type(loc: Vec<Loc>, input: &Value) -> Self {
        Self::new(loc, "string_type", "Input should be a valid string", input)
    }

    /// Dotted location for human-readable messages (`groups.0.uuid`).
    pub fn path(&self) -> String {
        let parts: Vec<String> = self
            .loc
            .iter()
            .map(|l| match l {
                Loc::Field(f) => f.clone(),
                Loc::Index(i) => i.to_string(),
            })
            .collect();
        parts.join(".")
    }
}

/// Why an input was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// Field-level errors (HTTP 400 `{"validation_error": [...]}`).
    #[error("{}", describe(.0))]
    Validation(Vec<FieldError>),
    /// A request-level error with a plain message (HTTP 400 `{"message": ...}`).
    #[error("{0}")]
    BadRequest(String),
}

fn describe(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| if e.loc.is_empty() { e.msg.clone() } else { format!("{}: {}", e.path(), e.msg) })
        .collect();
    parts.join("; ")
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::Field(s) => f.write_str(s),
            Loc::Index(i) => write!(f, "{i}"),
        }
    }
}
