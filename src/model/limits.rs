//! Size caps on a result's parts: list lengths, key, value, name and note lengths, values
//! per result. Upstream ResultsDB has none; without them one result of a million strings
//! renders to megabytes on every read, and a few clients that request it and never read
//! pin gigabytes. Every cap is configurable (`serve`, `submit` and `ingest` flags).

use super::error::{FieldError, Loc};
use super::input::ResultInput;
use serde_json::Value;
use std::collections::BTreeMap;

/// The caps a result must fit in; a result over any of them is refused with a
/// `validation_error` naming the field and the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputLimits {
    /// Values one data key may hold (`data.arch` lists of tens are real; thousands are not).
    pub values_per_key: usize,
    /// Data values of one result, all keys together.
    pub values: usize,
    /// Bytes (UTF-8) of one result's data keys and values together.
    pub data_bytes: usize,
    /// Characters of one data key.
    pub key_chars: usize,
    /// Characters of one data value (the spool cuts values to 8192 too).
    pub value_chars: usize,
    /// Characters of a testcase name.
    pub name_chars: usize,
    /// Characters of a note or a group description.
    pub note_chars: usize,
    /// Characters of any `ref_url`.
    pub url_chars: usize,
    /// Groups one result may name.
    pub groups: usize,
}

impl Default for InputLimits {
    fn default() -> Self {
        InputLimits {
            values_per_key: 256,
            values: 1024,
            data_bytes: 128 * 1024,
            key_chars: 256,
            value_chars: 8192,
            name_chars: 1024,
            note_chars: 8192,
            url_chars: 8192,
            groups: 64,
        }
    }
}

impl InputLimits {
    /// No caps at all (for parsers whose caller checks the finished record).
    pub const fn unlimited() -> Self {
        InputLimits {
            values_per_key: usize::MAX,
            values: usize::MAX,
            data_bytes: usize::MAX,
            key_chars: usize::MAX,
            value_chars: usize::MAX,
            name_chars: usize::MAX,
            note_chars: usize::MAX,
            url_chars: usize::MAX,
            groups: usize::MAX,
        }
    }
}

/// Fields of a waiver over the caps (its `comment` as a note; the names as a testcase
/// name), as `validation_error` items under `loc` (the waiver's place in the request).
pub fn check_waiver(w: &super::WaiverRecord, limits: &InputLimits, loc: &[Loc]) -> Vec<FieldError> {
    let at = |field: &str| {
        let mut l = loc.to_vec();
        l.push(Loc::from(field));
        l
    };
    let mut errs = Vec::new();
    let names = [
        ("subject_type", Some(&w.subject_type)),
        ("subject_identifier", Some(&w.subject_identifier)),
        ("testcase", Some(&w.testcase)),
        ("product_version", Some(&w.product_version)),
        ("scenario", w.scenario.as_ref()),
    ];
    for (field, value) in names {
        if let Some(v) = value.filter(|v| v.chars().count() > limits.name_chars) {
            errs.push(string_too_long(at(field), limits.name_chars, v));
        }
    }
    if w.comment.chars().count() > limits.note_chars {
        errs.push(string_too_long(at("comment"), limits.note_chars, &w.comment));
    }
    errs
}

/// At most this many characters of an over-long input are echoed back in an error, so
/// refusing a huge value never answers with a huge body.
const ECHO_CHARS: usize = 64;

fn abbreviated(s: &str) -> Value {
    match s.char_indices().nth(ECHO_CHARS) {
        Some((cut, _)) => Value::String(format!("{}…", &s[..cut])),
        None => Value::String(s.to_owned()),
    }
}

/// pydantic's error for a string over `max` characters (`string_too_long`).
pub fn string_too_long(loc: Vec<Loc>, max: usize, s: &str) -> FieldError {
    FieldError::new(loc, "string_too_long", format!("String should have at most {max} characters"), &abbreviated(s))
}

/// pydantic's error for a list over `max` items (`too_long`); the input is summarised.
pub fn list_too_long(loc: Vec<Loc>, max: usize, len: usize) -> FieldError {
    FieldError::new(
        loc,
        "too_long",
        format!("List should have at most {max} items after validation, not {len}"),
        &Value::String(format!("<list of {len} items>")),
    )
}

fn check_chars(loc: impl FnOnce() -> Vec<Loc>, s: Option<&str>, max: usize, errs: &mut Vec<FieldError>) {
    // A byte length within the cap is within it in characters too: skip the count.
    if let Some(s) = s
        && s.len() > max
        && s.chars().count() > max
    {
        errs.push(string_too_long(loc(), max, s));
    }
}

/// Every cap a validated result breaks, in field order (empty when it fits).
pub fn check_result(r: &ResultInput, limits: &InputLimits) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let field = |f: &str| vec![Loc::from(f)];
    check_chars(|| vec!["testcase".into(), "name".into()], Some(&r.testcase.name), limits.name_chars, &mut errs);
    let tc_url = r.testcase.ref_url.as_ref().and_then(|u| u.as_deref());
    check_chars(|| vec!["testcase".into(), "ref_url".into()], tc_url, limits.url_chars, &mut errs);
    check_chars(|| field("note"), r.note.as_deref(), limits.note_chars, &mut errs);
    check_chars(|| field("ref_url"), r.ref_url.as_deref(), limits.url_chars, &mut errs);
    if r.groups.len() > limits.groups {
        errs.push(list_too_long(field("groups"), limits.groups, r.groups.len()));
    } else {
        for (i, g) in r.groups.iter().enumerate() {
            let at = |f: &str| vec![Loc::from("groups"), Loc::Index(i), Loc::from(f)];
            let desc = g.description.as_ref().and_then(|d| d.as_deref());
            check_chars(|| at("description"), desc, limits.note_chars, &mut errs);
            check_chars(|| at("ref_url"), g.ref_url.as_ref().and_then(|u| u.as_deref()), limits.url_chars, &mut errs);
        }
    }
    check_data(&r.data, limits, &mut errs);
    errs
}

/// The data caps: per key (key length, values per key, value length), then the totals.
pub fn check_data(data: &BTreeMap<String, Vec<String>>, limits: &InputLimits, errs: &mut Vec<FieldError>) {
    let (mut values, mut bytes) = (0usize, 0usize);
    for (key, vals) in data {
        values = values.saturating_add(vals.len());
        bytes = vals.iter().fold(bytes.saturating_add(key.len()), |b, v| b.saturating_add(v.len()));
        if key.len() > limits.key_chars && key.chars().count() > limits.key_chars {
            // The key itself is the problem: name `data`, echo the key abbreviated.
            let mut e = string_too_long(vec!["data".into()], limits.key_chars, key);
            e.msg = format!("Data keys should have at most {} characters", limits.key_chars);
            errs.push(e);
            continue;
        }
        let at = || vec![Loc::from("data"), Loc::from(key.as_str())];
        if vals.len() > limits.values_per_key {
            errs.push(list_too_long(at(), limits.values_per_key, vals.len()));
            continue;
        }
        // One error per key is enough to say what is wrong.
        if let Some((i, v)) = vals
            .iter()
            .enumerate()
            .find(|(_, v)| v.len() > limits.value_chars && v.chars().count() > limits.value_chars)
        {
            let mut loc = at();
            loc.push(Loc::Index(i));
            errs.push(string_too_long(loc, limits.value_chars, v));
        }
    }
    if values > limits.values {
        errs.push(FieldError::new(
            vec!["data".into()],
            "too_long",
            format!("Data should have at most {} values in total, not {values}", limits.values),
            &Value::String(format!("<data of {values} values>")),
        ));
    }
    if bytes > limits.data_bytes {
        errs.push(FieldError::new(
            vec!["data".into()],
            "too_long",
            format!("Data keys and values should have at most {} bytes in total, not {bytes}", limits.data_bytes),
            &Value::String(format!("<data of {bytes} bytes>")),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TestcaseRecord;

    fn result(data: &[(&str, Vec<String>)]) -> ResultInput {
        ResultInput {
            uuid: None,
            testcase: TestcaseRecord { name: "t".into(), ref_url: None },
            outcome: "PASSED".into(),
            note: None,
            ref_url: None,
            groups: Vec::new(),
            data: data.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
            submit_time: None,
        }
    }

    fn small() -> InputLimits {
        InputLimits { values_per_key: 3, values: 4, data_bytes: 40, key_chars: 5, value_chars: 6, ..Default::default() }
    }

    #[test]
    fn a_result_within_the_caps_passes() {
        let r = result(&[("arch", vec!["x86_64".into(), "noarch".into()]), ("item", vec!["é".repeat(6)])]);
        assert!(check_result(&r, &small()).is_empty());
    }

    #[test]
    fn each_cap_names_its_field_and_limit() {
        let r = result(&[
            ("arch", vec!["a".into(); 4]),
            ("longkey", vec!["v".into()]),
            ("item", vec!["ok".into(), "toolong".into()]),
        ]);
        let errs = check_result(&r, &small());
        let got: Vec<(String, &str, &str)> = errs.iter().map(|e| (e.path(), e.kind, e.msg.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("data.arch".into(), "too_long", "List should have at most 3 items after validation, not 4"),
                ("data.item.1".into(), "string_too_long", "String should have at most 6 characters"),
                ("data".into(), "string_too_long", "Data keys should have at most 5 characters"),
                ("data".into(), "too_long", "Data should have at most 4 values in total, not 7"),
            ]
        );
    }

    #[test]
    fn totals_count_bytes_and_inputs_are_abbreviated() {
        let r = result(&[("a", vec!["x".repeat(6); 3]), ("b", vec!["y".repeat(6)])]);
        let errs = check_result(&r, &InputLimits { data_bytes: 20, ..small() });
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].msg, "Data keys and values should have at most 20 bytes in total, not 26");
        let mut r = result(&[]);
        r.note = Some("n".repeat(10_000));
        let errs = check_result(&r, &InputLimits::default());
        assert_eq!(errs[0].path(), "note");
        assert_eq!(errs[0].input.as_str().unwrap().chars().count(), ECHO_CHARS + 1);
    }
}
