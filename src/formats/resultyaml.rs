//! libtaskotron / checkb ResultYAML: a top-level `results:` list of check results.

use super::error::{ErrorKind, FormatError};
use super::options::ParseOptions;
use super::record::{ParseSummary, Sink, check_outcome, data_key, result};
use super::text::read_utf8;
use super::yaml::{data_values, key_str, load_first, yaml_str};
use crate::model::ResultInput;
use serde_norway::{Mapping, Value};
use std::io::BufRead;

/// Keys with a meaning of their own; every other key is a keyval and goes to `data`.
const RESERVED: [&str; 8] = ["item", "type", "outcome", "note", "results", "checkname", "artifact", "_internal"];

/// Parses a ResultYAML file (first YAML document only). Record errors name the index in
/// `results` (0-based).
pub fn parse<R, E, F>(reader: R, opts: &ParseOptions, emit: F) -> Result<ParseSummary, E>
where
    R: BufRead,
    E: From<FormatError>,
    F: FnMut(ResultInput) -> Result<(), E>,
{
    let mut sink = Sink::new(opts, emit)?;
    let text = read_utf8(reader)?;
    let doc = load_first(&text).map_err(|e| e.at(1, "YAML syntax error"))?;
    for (i, rec) in records(doc.as_ref())?.iter().enumerate() {
        let r = to_result(i, rec, &sink)?;
        sink.push(r)?;
    }
    sink.finish()
}

/// The `results` list; null means no results.
fn records(doc: Option<&Value>) -> Result<&[Value], FormatError> {
    let structure = |m: String| FormatError::file(ErrorKind::Structure, m);
    let Some(Value::Mapping(root)) = doc else {
        return Err(structure("ResultYAML root must be a mapping with a `results` key".into()));
    };
    match root.get("results") {
        None => Err(structure("missing `results` key".into())),
        Some(Value::Null) => Ok(&[]),
        Some(Value::Sequence(items)) => Ok(items),
        Some(other) => Err(structure(format!("`results` must be a list, not {}", kind(other)))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn to_result<F>(i: usize, rec: &Value, sink: &Sink<'_, F>) -> Result<ResultInput, FormatError> {
    let invalid = |m: String| FormatError::at_record(ErrorKind::Invalid, i, m);
    let Value::Mapping(m) = rec else {
        return Err(invalid(format!("a result must be a mapping, not {}", kind(rec))));
    };
    let opts = sink.opts();
    let outcome = match m.get("outcome") {
        None | Some(Value::Null) => "NEEDS_INSPECTION".to_owned(),
        Some(v) => check_outcome(&yaml_str(v), &opts.outcomes).map_err(invalid)?,
    };
    let name = match text_of(m, "checkname") {
        Some(c) => c,
        None => match opts.testcase.as_deref().filter(|t| !t.trim().is_empty()) {
            Some(t) => t.to_owned(),
            None => return Err(invalid("no `checkname` and no sidecar `testcase`".into())),
        },
    };
    let note = m.get("note").filter(|v| !v.is_null()).map(yaml_str);
    let mut r = result(sink.name(&name), outcome, note);
    fill_data(&mut r, m, opts);
    Ok(r)
}

/// A non-empty string value (other scalars in their Python form).
fn text_of(m: &Mapping, key: &str) -> Option<String> {
    m.get(key).filter(|v| !v.is_null()).map(yaml_str).filter(|s| !s.trim().is_empty())
}

fn fill_data(r: &mut ResultInput, m: &Mapping, opts: &ParseOptions) {
    for key in ["item", "type"] {
        if let Some(v) = m.get(key).filter(|v| !v.is_null()) {
            r.data.insert(key.to_owned(), data_values(v));
        }
    }
    if let Some(artifact) = text_of(m, "artifact") {
        match opts.artifacts_base_url.as_deref().filter(|b| !b.is_empty()) {
            Some(base) => {
                r.ref_url = Some(format!("{}/{}", base.trim_end_matches('/'), artifact.trim_start_matches('/')))
            }
            None => {
                r.data.insert("artifact".to_owned(), vec![artifact]);
            }
        }
    }
    for (k, v) in m {
        let key = key_str(k);
        if RESERVED.contains(&key.as_str()) {
            continue;
        }
        let values = data_values(v);
        if !values.is_empty() {
            r.data.insert(data_key(&key), values);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, opts: &ParseOptions) -> Result<Vec<ResultInput>, FormatError> {
        let mut out = Vec::new();
        parse(input.as_bytes(), opts, |r| {
            out.push(r);
            Ok::<(), FormatError>(())
        })?;
        Ok(out)
    }

    #[test]
    fn records_map() {
        let doc = "x: &d {arch: [a, b]}\nresults:\n- checkname: c\n  <<: *d\n  artifact: /l.log\n  n: 3\n- {outcome: info, checkname: d, note: ''}\n";
        let opts = ParseOptions { artifacts_base_url: Some("https://h/a/".into()), ..ParseOptions::default() };
        let r = run(doc, &opts).unwrap();
        assert_eq!(r[0].outcome, "NEEDS_INSPECTION");
        assert_eq!(r[0].data["arch"], vec!["a", "b"]);
        assert_eq!(r[0].data["n"], vec!["3"]);
        assert_eq!(r[0].ref_url.as_deref(), Some("https://h/a/l.log"));
        assert_eq!(r[1].outcome, "INFO");
        assert_eq!(r[1].note, None);
    }

    #[test]
    fn fallbacks_and_errors() {
        let opts = ParseOptions { testcase: Some("fallback".into()), ..ParseOptions::default() };
        assert_eq!(run("results:\n- outcome: PASSED\n", &opts).unwrap()[0].testcase.name, "fallback");
        let d = ParseOptions::default();
        assert_eq!(run("- a\n", &d).unwrap_err().kind, ErrorKind::Structure);
        assert_eq!(run("", &d).unwrap_err().kind, ErrorKind::Structure);
        assert_eq!(
            run("results:\n- 5\n", &d).unwrap_err().to_string(),
            "record 0: a result must be a mapping, not a number"
        );
        let e = run("results:\n- checkname: x\n  outcome: nope\n", &d).unwrap_err();
        assert!(e.to_string().starts_with("record 0: outcome \"NOPE\" not in allowed"), "{e}");
    }
}
