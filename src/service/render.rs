//! ResultsDB's JSON shapes and wire format (sorted keys, compact, ASCII-escaped, `\n`).

use crate::model::{GroupView, ResultView, Timestamp};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use std::collections::BTreeMap;
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

/// A testcase as ResultsDB serialises it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Testcase)]
pub struct TestcaseJson<'a> {
    pub href: String,
    pub name: &'a str,
    #[schema(required = true)]
    pub ref_url: Option<&'a str>,
}

pub fn testcase_json<'a>(name: &'a str, ref_url: Option<&'a str>, urls: &Urls) -> TestcaseJson<'a> {
    TestcaseJson { href: urls.testcase(name), name, ref_url }
}

/// A result as ResultsDB serialises it (fields in sorted order), plus `uuid`, its global
/// identity. Serialised straight from the stored record, without an intermediate tree.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Result)]
pub struct ResultJson<'a> {
    pub data: &'a BTreeMap<String, Vec<String>>,
    pub groups: Vec<&'a str>,
    pub href: String,
    pub id: i64,
    #[schema(required = true)]
    pub note: Option<&'a str>,
    pub outcome: &'a str,
    #[schema(required = true)]
    pub ref_url: Option<&'a str>,
    pub submit_time: String,
    pub testcase: TestcaseJson<'a>,
    pub uuid: &'a str,
}

pub fn result_json<'a>(v: &'a ResultView, urls: &Urls) -> ResultJson<'a> {
    let r = &v.record;
    ResultJson {
        data: &r.data,
        groups: r.groups.iter().map(|g| g.uuid.as_str()).collect(),
        href: urls.result(v.id),
        id: v.id,
        note: r.note.as_deref(),
        outcome: &r.outcome,
        ref_url: r.ref_url.as_deref(),
        submit_time: Timestamp(r.submit_time).to_iso(),
        testcase: testcase_json(&r.testcase.name, v.testcase_ref_url.as_deref(), urls),
        uuid: &r.uuid,
    }
}

/// A group as ResultsDB serialises it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Group)]
pub struct GroupJson<'a> {
    #[schema(required = true)]
    pub description: Option<&'a str>,
    pub href: String,
    #[schema(required = true)]
    pub ref_url: Option<&'a str>,
    pub results: String,
    pub results_count: i64,
    pub uuid: &'a str,
}

pub fn group_json<'a>(g: &'a GroupView, urls: &Urls) -> GroupJson<'a> {
    GroupJson {
        description: g.description.as_deref(),
        href: urls.group(&g.uuid),
        ref_url: g.ref_url.as_deref(),
        results: urls.group_results(&g.uuid),
        results_count: g.results_count,
        uuid: &g.uuid,
    }
}

/// The list envelope: `{"data": [...], "next": url|null, "prev": url|null}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    pub data: Vec<T>,
    #[schema(required = true)]
    pub next: Option<String>,
    #[schema(required = true)]
    pub prev: Option<String>,
}

/// `/results/latest`'s envelope: only `data`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DataOnly<T> {
    pub data: Vec<T>,
}

/// Serialises like Flask's production `jsonify`: keys sorted (serde_json's map is
/// ordered), compact separators, every non-ASCII character as `\uXXXX`, trailing newline.
pub fn to_wire<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, AsciiFormatter);
    // Writing strings, numbers and maps with string keys into a Vec cannot fail.
    let _ = v.serialize(&mut ser);
    out.push(b'\n');
    out
}

/// Serialises like Python's `json.dumps` defaults (WaiverDB's success bodies): fields in
/// the struct's order, `", "` and `": "` separators, ASCII-escaped, trailing newline.
pub fn to_wire_py<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
    // Writing strings, numbers and maps with string keys into a Vec cannot fail.
    let _ = v.serialize(&mut ser);
    out.push(b'\n');
    out
}

/// `json.dumps` separators with `ensure_ascii=True` escaping.
struct PyFormatter;

impl serde_json::ser::Formatter for PyFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        AsciiFormatter.write_string_fragment(w, fragment)
    }
    fn begin_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
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
    use serde_json::json;

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
