//! CTRF JSON (Common Test Report Format, spec 1.0): one result per `results.tests[]` entry.

use super::error::{ErrorKind, FormatError, Location};
use super::options::ParseOptions;
use super::record::{ParseSummary, Sink, check_outcome, data_key, first_line, json_data_values, result};
use super::text::{LineCounter, skip_utf8_bom};
use crate::model::ResultInput;
use crate::model::pystr::py_str;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::io::BufRead;

/// Test keys copied to `data` under their own name (`tags` lists give several values).
const COPIED: [&str; 7] = ["duration", "filePath", "tags", "flaky", "retries", "rawStatus", "browser"];

/// Parses a CTRF report; errors in a test name its index in `results.tests` as the record.
pub fn parse<R, E, F>(reader: R, opts: &ParseOptions, emit: F) -> Result<ParseSummary, E>
where
    R: BufRead,
    E: From<FormatError>,
    F: FnMut(ResultInput) -> Result<(), E>,
{
    let mut sink = Sink::new(opts, emit)?;
    let root = read_value(reader)?;
    let (tests, extras) = report_parts(&root)?;
    for (i, t) in tests.iter().enumerate() {
        let r = test_result(i, t, &extras, &sink)?;
        sink.push(r)?;
    }
    sink.finish()
}

fn read_value<R: BufRead>(reader: R) -> Result<Value, FormatError> {
    let mut reader = LineCounter::new(reader);
    skip_utf8_bom(&mut reader).map_err(|e| FormatError::io(&e))?;
    let mut de = serde_json::Deserializer::from_reader(&mut reader);
    let v = Value::deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    v.map_err(|e| {
        let at = Location::Line { line: e.line(), column: Some(e.column()) };
        let text = e.to_string();
        let what = text.split(" at line ").next().unwrap_or(&text).to_owned();
        FormatError::new(ErrorKind::Syntax, at, format!("JSON syntax error: {what}"))
    })
}

/// The tests array and the `extra` objects (results level, then report level) that may
/// carry `item` / `type` for every test.
/// The tests of a report and the `extra` objects that apply to all of them.
type Parts<'a> = (&'a Vec<Value>, Vec<&'a Map<String, Value>>);

fn report_parts(root: &Value) -> Result<Parts<'_>, FormatError> {
    let structure = |m: &str| FormatError::file(ErrorKind::Structure, m);
    let Value::Object(obj) = root else {
        return Err(structure("not a CTRF report: the top level is not an object"));
    };
    if obj.get("reportFormat").and_then(Value::as_str) != Some("CTRF") {
        return Err(structure("not a CTRF report: `reportFormat` is not \"CTRF\""));
    }
    let Some(Value::Object(results)) = obj.get("results") else {
        return Err(structure("CTRF `results` required (an object)"));
    };
    let Some(Value::Array(tests)) = results.get("tests") else {
        return Err(structure("CTRF `results.tests` required (an array)"));
    };
    let extras = [results.get("extra"), obj.get("extra")].into_iter().flatten().filter_map(Value::as_object).collect();
    Ok((tests, extras))
}

fn test_result<F>(
    i: usize,
    t: &Value,
    extras: &[&Map<String, Value>],
    sink: &Sink<'_, F>,
) -> Result<ResultInput, FormatError> {
    let invalid = |m: String| FormatError::at_record(ErrorKind::Invalid, i, m);
    let Value::Object(t) = t else {
        return Err(invalid("a test must be an object".into()));
    };
    let name = match t.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => n.as_str(),
        _ => return Err(invalid("test `name` required (a non-empty string)".into())),
    };
    let Some(Value::String(status)) = t.get("status") else {
        return Err(invalid("test `status` required (a string)".into()));
    };
    if !t.get("duration").is_some_and(Value::is_number) {
        return Err(invalid("test `duration` required (a number)".into()));
    }
    let mapped = match status.to_ascii_lowercase().as_str() {
        "passed" => "PASSED",
        "failed" => "FAILED",
        "skipped" | "pending" => "INFO",
        "other" => "NEEDS_INSPECTION",
        _ => return Err(invalid(format!("unknown CTRF status {status:?}"))),
    };
    let outcome = check_outcome(mapped, &sink.opts().outcomes).map_err(invalid)?;
    let note = t.get("message").and_then(Value::as_str).and_then(first_line);
    let mut r = result(sink.name(&testcase_base(t, name)), outcome, note);
    fill_data(&mut r, t, extras);
    Ok(r)
}

/// Suite path (array joined with `.`, or a pre-1.0 string) + `.` + name.
fn testcase_base(t: &Map<String, Value>, name: &str) -> String {
    let suite = match t.get("suite") {
        Some(Value::Array(parts)) => {
            let parts: Vec<String> = parts.iter().map(py_str).filter(|p| !p.is_empty()).collect();
            parts.join(".")
        }
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    if suite.is_empty() { name.to_owned() } else { format!("{suite}.{name}") }
}

fn fill_data(r: &mut ResultInput, t: &Map<String, Value>, extras: &[&Map<String, Value>]) {
    for key in COPIED {
        if let Some(v) = t.get(key).filter(|v| !v.is_null()) {
            put(r, key.to_owned(), v);
        }
    }
    if let Some(Value::Object(labels)) = t.get("labels") {
        for (k, v) in labels {
            put(r, format!("labels.{}", data_key(k)), v);
        }
    }
    let test_extra = t.get("extra").and_then(Value::as_object);
    for key in ["item", "type"] {
        let found = test_extra.into_iter().chain(extras.iter().copied()).find_map(|m| m.get(key));
        if let Some(v) = found.filter(|v| !v.is_null()) {
            put(r, key.to_owned(), v);
        }
    }
}

fn put(r: &mut ResultInput, key: String, v: &Value) {
    let values = json_data_values(v);
    if !values.is_empty() {
        r.data.insert(key, values);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> Result<Vec<ResultInput>, FormatError> {
        let mut out = Vec::new();
        parse(input.as_bytes(), &ParseOptions::default(), |r| {
            out.push(r);
            Ok::<(), FormatError>(())
        })?;
        Ok(out)
    }

    #[test]
    fn maps_tests() {
        let doc = r#"{"reportFormat":"CTRF","extra":{"item":"nvr-1"},"results":{"tests":[
            {"name":"a","status":"pending","duration":1,"suite":"S","message":"\nwhy\nmore",
             "labels":{"k:x":[1,2]},"extra":{"type":"koji_build"}}]}}"#;
        let r = run(doc).unwrap();
        assert_eq!(r[0].testcase.name, "S.a");
        assert_eq!(r[0].outcome, "INFO");
        assert_eq!(r[0].note.as_deref(), Some("why"));
        assert_eq!(r[0].data["labels.k_x"], vec!["1", "2"]);
        assert_eq!(r[0].data["item"], vec!["nvr-1"]);
        assert_eq!(r[0].data["type"], vec!["koji_build"]);
    }

    #[test]
    fn rejects() {
        let e = run(r#"{"reportFormat":"CTRF","results":{"tests":[{"name":"a","status":"meh","duration":1}]}}"#);
        assert_eq!(e.unwrap_err().to_string(), "record 0: unknown CTRF status \"meh\"");
        let e = run(r#"{"reportFormat":"CTRF","results":{"tests":[{"name":"a","status":"passed"}]}}"#);
        assert!(e.unwrap_err().message.contains("duration"));
        assert!(run("{\"reportFormat\":\"CTRF\",\n\"results\":").unwrap_err().line().is_some());
    }
}
