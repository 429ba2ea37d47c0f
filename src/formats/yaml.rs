//! YAML helpers shared by ResultYAML and TAP diagnostic blocks: loading one document and
//! turning YAML values into ResultsDB data strings (Python `str()` of the loaded value).

use super::error::{ErrorKind, FormatError, Location};
use crate::model::pystr::py_float;
use serde::Deserialize;
use serde_json::Value as Json;
use serde_norway::Value;

/// A YAML syntax problem with its position inside `text`, whose first line is `line0`.
#[derive(Debug)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl YamlError {
    /// As a `FormatError` at the absolute position (`line0` = line of the text's first line).
    pub fn at(self, line0: usize, what: &str) -> FormatError {
        let at = Location::Line { line: line0 + self.line.saturating_sub(1), column: Some(self.column) };
        FormatError::new(ErrorKind::Syntax, at, format!("{what}: {}", self.message))
    }
}

/// Loads the first document of `text` (later documents are ignored, as checkb does),
/// with `<<` merge keys applied. `None` for an empty stream.
pub fn load_first(text: &str) -> Result<Option<Value>, YamlError> {
    let Some(doc) = serde_norway::Deserializer::from_str(text).next() else {
        return Ok(None);
    };
    let mut v = Value::deserialize(doc).map_err(convert)?;
    v.apply_merge().map_err(convert)?;
    Ok(Some(v))
}

fn convert(e: serde_norway::Error) -> YamlError {
    let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    let text = e.to_string();
    let message = text.split(" at line ").next().unwrap_or(&text).to_owned();
    YamlError { line, column, message }
}

/// Python `str()` of a loaded scalar; collections become compact JSON.
pub fn yaml_str(v: &Value) -> String {
    match v {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => number_str(n),
        Value::String(s) => s.clone(),
        Value::Sequence(_) | Value::Mapping(_) => to_json(v).to_string(),
        Value::Tagged(t) => yaml_str(&t.value),
    }
}

fn number_str(n: &serde_norway::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        py_float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// The value as JSON (for nested data stored as compact JSON). Non-finite floats and
/// non-string keys are written as their Python `str()`.
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f).map_or_else(|| Json::String(py_float(f)), Json::Number)
            }
        }
        Value::String(s) => Json::String(s.clone()),
        Value::Sequence(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Mapping(m) => Json::Object(m.iter().map(|(k, v)| (yaml_str(k), to_json(v))).collect()),
        Value::Tagged(t) => to_json(&t.value),
    }
}

/// Data values: a list gives one value per element, anything else one value.
pub fn data_values(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(items) => items.iter().map(yaml_str).collect(),
        Value::Tagged(t) => data_values(&t.value),
        other => vec![yaml_str(other)],
    }
}

/// The string form of a mapping key.
pub fn key_str(k: &Value) -> String {
    yaml_str(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_like_python() {
        let v = load_first("a: 1.0\nb: true\nc: ~\nd: [1, x]\ne: {f: 2}\ng: .inf\n").unwrap().unwrap();
        let m = v.as_mapping().unwrap();
        let get = |k: &str| yaml_str(m.get(k).unwrap());
        assert_eq!(get("a"), "1.0");
        assert_eq!(get("b"), "True");
        assert_eq!(get("c"), "None");
        assert_eq!(get("d"), "[1,\"x\"]");
        assert_eq!(get("e"), "{\"f\":2}");
        assert_eq!(get("g"), "inf");
        assert_eq!(data_values(m.get("d").unwrap()), vec!["1", "x"]);
    }

    #[test]
    fn merge_keys_and_documents() {
        let v = load_first("base: &b {x: 1}\nr:\n  <<: *b\n  y: 2\n---\nsecond: 1\n").unwrap().unwrap();
        assert_eq!(yaml_str(v.get("r").unwrap()), "{\"x\":1,\"y\":2}");
        assert!(matches!(load_first("").unwrap(), None | Some(Value::Null)));
        let e = load_first("a: \"x\n").unwrap_err();
        assert!(e.line >= 1);
    }
}
