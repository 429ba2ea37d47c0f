//! ResultsDB's JSON shapes and wire format (sorted keys, compact, ASCII-escaped, `\n`).

use crate::model::{GroupView, ResultView, Timestamp};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use std::io;

/// Characters Werkzeug leaves unquoted in a URL path (plus unreserved ones).
const PATH_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/')
    .remove(b':')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b'@');

/// Absolute URL prefix of the API, from the request's scheme, host and script root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Urls {
    /// `scheme://host[/script-root]`, no trailing slash.
    pub root: String,
}

impl Urls {
    pub fn new(root: impl Into<String>) -> Urls {
        Urls { root: root.into().trim_end_matches('/').to_owned() }
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v2.0{}", self.root, path)
    }

    pub fn testcase(&self, name: &str) -> String {
        self.api(&format!("/testcases/{}", utf8_percent_encode(name, PATH_KEEP)))
    }

    pub fn result(&self, id: i64) -> String {
        self.api(&format!("/results/{id}"))
    }

    pub fn group(&self, uuid: &str) -> String {
        self.api(&format!("/groups/{}", utf8_percent_encode(uuid, PATH_KEEP)))
    }

    pub fn group_results(&self, uuid: &str) -> String {
        let q: String = form_urlencoded::Serializer::new(String::new()).append_pair("groups", uuid).finish();
        self.api(&format!("/results?{q}"))
    }
}

pub fn testcase_json(name: &str, ref_url: Option<&str>, urls: &Urls) -> Value {
    json!({"href": urls.testcase(name), "name": name, "ref_url": ref_url})
}

/// A result as ResultsDB serialises it, plus `uuid`, its global identity.
pub fn result_json(v: &ResultView, urls: &Urls) -> Value {
    let r = &v.record;
    json!({
        "data": r.data,
        "groups": r.groups.iter().map(|g| g.uuid.as_str()).collect::<Vec<_>>(),
        "href": urls.result(v.id),
        "id": v.id,
        "note": r.note,
        "outcome": r.outcome,
        "ref_url": r.ref_url,
        "submit_time": Timestamp(r.submit_time).to_iso(),
        "testcase": testcase_json(&r.testcase.name, v.testcase_ref_url.as_deref(), urls),
        "uuid": r.uuid,
    })
}

pub fn group_json(g: &GroupView, urls: &Urls) -> Value {
    json!({
        "description": g.description,
        "href": urls.group(&g.uuid),
        "ref_url": g.ref_url,
        "results": urls.group_results(&g.uuid),
        "results_count": g.results_count,
        "uuid": g.uuid,
    })
}

/// Serialises like Flask's production `jsonify`: keys sorted (serde_json's map is
/// ordered), compact separators, every non-ASCII character as `\uXXXX`, trailing newline.
pub fn to_wire(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, AsciiFormatter);
    // Writing a Value into a Vec cannot fail.
    let _ = serde::Serialize::serialize(v, &mut ser);
    out.push(b'\n');
    out
}

/// Compact JSON with Python's `ensure_ascii=True` escaping.
struct AsciiFormatter;

impl serde_json::ser::Formatter for AsciiFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            if ch.is_ascii() && ch != '\x7f' {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            start = i + ch.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_matches_flask() {
        let v = json!({"b": "é😀\u{7f}", "a": [1, null], "c": "\n\"\\"});
        let got = String::from_utf8(to_wire(&v)).unwrap();
        assert_eq!(got, "{\"a\":[1,null],\"b\":\"\\u00e9\\ud83d\\ude00\\u007f\",\"c\":\"\\n\\\"\\\\\"}\n");
    }

    #[test]
    fn hrefs_quote_like_werkzeug() {
        let u = Urls::new("http://h:1/");
        assert_eq!(u.testcase("a/b c?ü"), "http://h:1/api/v2.0/testcases/a/b%20c%3F%C3%BC");
        assert_eq!(u.group_results("x y"), "http://h:1/api/v2.0/results?groups=x+y");
    }
}
