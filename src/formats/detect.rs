//! Format detection (spec §1): ignored names, then the extension, then content sniffing.

use super::error::{ErrorKind, FormatError};
use std::fmt;

/// A results file format the spool can ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// ResultsDB JSON: one object, an array of objects, or several objects one per line.
    ResultsdbJson,
    /// ResultsDB JSON Lines (`.jsonl` / `.ndjson`): strictly one object per line.
    JsonLines,
    /// Common Test Report Format JSON.
    Ctrf,
    /// Test Anything Protocol 12/13/14.
    Tap,
    /// libtaskotron / checkb ResultYAML (`results:` list).
    ResultYaml,
    /// JUnit / xUnit XML.
    Junit,
    /// Subunit v2 (binary packet stream).
    Subunit,
}

impl Format {
    /// The name used in sidecars (`"format": "junit"`) and in `.error` records.
    pub fn name(self) -> &'static str {
        match self {
            Format::ResultsdbJson => "resultsdb",
            Format::JsonLines => "jsonl",
            Format::Ctrf => "ctrf",
            Format::Tap => "tap",
            Format::ResultYaml => "resultyaml",
            Format::Junit => "junit",
            Format::Subunit => "subunit",
        }
    }

    /// Parses a sidecar `format` value (case-insensitive; a few aliases accepted).
    pub fn from_name(name: &str) -> Result<Format, FormatError> {
        let f = match name.trim().to_ascii_lowercase().as_str() {
            "resultsdb" | "resultsdb_json" | "resultsdb-json" | "json" => Format::ResultsdbJson,
            "jsonl" | "ndjson" | "json_lines" | "jsonlines" => Format::JsonLines,
            "ctrf" => Format::Ctrf,
            "tap" => Format::Tap,
            "resultyaml" | "result_yaml" | "yaml" => Format::ResultYaml,
            "junit" | "xunit" | "xml" => Format::Junit,
            "subunit" | "subunit2" | "subunit_v2" => Format::Subunit,
            _ => {
                return Err(FormatError::file(ErrorKind::UnknownFormat, format!("unknown format name {name:?}")));
            }
        };
        Ok(f)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Files that are never ingested as results: dotfiles (being written), `.tmp`, `.part`,
/// and sidecars (`.meta.json`).
pub fn is_ignored_name(file_name: &str) -> bool {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let lower = base.to_ascii_lowercase();
    base.starts_with('.') || [".tmp", ".part", ".meta.json"].iter().any(|s| lower.ends_with(s))
}

/// Decides the format of `file_name` from its name and its first bytes (`head`; a few KiB
/// is plenty, the whole file is fine). Zero bytes → `empty file`; nothing recognised →
/// `unknown format`.
pub fn detect(file_name: &str, head: &[u8]) -> Result<Format, FormatError> {
    if is_ignored_name(file_name) {
        return Err(FormatError::file(ErrorKind::IgnoredName, format!("{file_name:?} is not a results file name")));
    }
    if head.is_empty() {
        return Err(FormatError::file(ErrorKind::Empty, "empty file"));
    }
    if let Some(f) = by_extension(file_name, head) {
        return Ok(f);
    }
    sniff(head).ok_or_else(|| FormatError::file(ErrorKind::UnknownFormat, "unknown format"))
}

fn by_extension(file_name: &str, head: &[u8]) -> Option<Format> {
    let lower = file_name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e)?;
    let f = match ext {
        "json" => json_kind(head),
        "jsonl" | "ndjson" => Format::JsonLines,
        "tap" => Format::Tap,
        "out" if lower.ends_with(".t.out") => Format::Tap,
        "yaml" | "yml" => Format::ResultYaml,
        "xml" | "junit" => Format::Junit,
        "subunit" => Format::Subunit,
        _ => return None,
    };
    Some(f)
}

/// Content sniffing on the first non-whitespace bytes after a BOM.
fn sniff(head: &[u8]) -> Option<Format> {
    if utf16_xml(head) {
        return Some(Format::Junit);
    }
    let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = body.get(start..)?;
    match rest.first()? {
        0xB3 => return Some(Format::Subunit),
        b'<' => return Some(Format::Junit),
        b'{' | b'[' => return Some(json_kind(rest)),
        _ => {}
    }
    lines_kind(body)
}

/// UTF-16 text (with BOM, or `<` as the first code unit) can only be XML here.
fn utf16_xml(head: &[u8]) -> bool {
    head.starts_with(&[0xFF, 0xFE])
        || head.starts_with(&[0xFE, 0xFF])
        || head.starts_with(b"<\0")
        || head.starts_with(b"\0<")
}

/// A JSON object carrying `"reportFormat": "CTRF"` near the top is CTRF, else ResultsDB.
fn json_kind(head: &[u8]) -> Format {
    let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') && mentions_ctrf(body) { Format::Ctrf } else { Format::ResultsdbJson }
}

fn mentions_ctrf(body: &[u8]) -> bool {
    const KEY: &[u8] = b"\"reportFormat\"";
    let mut from = 0;
    while let Some(pos) = find(body.get(from..).unwrap_or_default(), KEY) {
        let after = from + pos + KEY.len();
        let tail = body.get(after..).unwrap_or_default();
        let tail = skip_ws(tail);
        if let Some(t) = tail.strip_prefix(b":")
            && skip_ws(t).starts_with(b"\"CTRF\"")
        {
            return true;
        }
        from = after;
    }
    false
}

fn skip_ws(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    b.get(n..).unwrap_or_default()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// TAP or ResultYAML by their first telling line.
fn lines_kind(body: &[u8]) -> Option<Format> {
    for raw in body.split(|b| *b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if is_tap_line(line) {
            return Some(Format::Tap);
        }
        if let Some(rest) = line.strip_prefix(b"results:")
            && rest.first().is_none_or(|c| c.is_ascii_whitespace())
        {
            return Some(Format::ResultYaml);
        }
    }
    None
}

/// `TAP version N`, `1..N` or a test point at the start of a line.
fn is_tap_line(line: &[u8]) -> bool {
    if let Some(v) = line.strip_prefix(b"TAP version ") {
        return !v.is_empty() && v.iter().all(u8::is_ascii_digit);
    }
    if let Some(n) = line.strip_prefix(b"1..") {
        let digits = n.iter().take_while(|c| c.is_ascii_digit()).count();
        return digits > 0 && n.get(digits).is_none_or(|c| c.is_ascii_whitespace() || *c == b'#');
    }
    let rest = line.strip_prefix(b"not ok").or_else(|| line.strip_prefix(b"ok"));
    rest.is_some_and(|r| r.first().is_none_or(|c| !c.is_ascii_alphanumeric() && *c != b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_name_and_content() {
        let d = |n: &str, h: &str| detect(n, h.as_bytes());
        assert_eq!(d("a.json", "{\"outcome\":1}"), Ok(Format::ResultsdbJson));
        assert_eq!(d("a.json", "{\n \"reportFormat\" : \"CTRF\"}"), Ok(Format::Ctrf));
        assert_eq!(d("a.NDJSON", "{}"), Ok(Format::JsonLines));
        assert_eq!(d("a.t.out", "x"), Ok(Format::Tap));
        assert_eq!(d("a.yml", "x"), Ok(Format::ResultYaml));
        assert_eq!(d("a.junit", "x"), Ok(Format::Junit));
        assert_eq!(d("noext", "\u{feff}  <testsuites/>"), Ok(Format::Junit));
        assert_eq!(d("noext", "# hi\nTAP version 13\n"), Ok(Format::Tap));
        assert_eq!(d("noext", "1..0 # skip\n"), Ok(Format::Tap));
        assert_eq!(d("noext", "not ok 1\n"), Ok(Format::Tap));
        assert_eq!(d("noext", "# c\nresults:\n- a: 1\n"), Ok(Format::ResultYaml));
        assert_eq!(d("noext", "[]"), Ok(Format::ResultsdbJson));
        assert_eq!(detect("noext", b"\xB3\x29"), Ok(Format::Subunit));
        assert_eq!(detect("noext", b"\xFF\xFE<\0"), Ok(Format::Junit));
        assert_eq!(d("noext", "okay then").unwrap_err().message, "unknown format");
        assert_eq!(d("a.xml", "").unwrap_err().message, "empty file");
        assert_eq!(d(".a.xml", "<a/>").unwrap_err().kind, ErrorKind::IgnoredName);
        assert_eq!(d("a.xml.meta.json", "{}").unwrap_err().kind, ErrorKind::IgnoredName);
        assert_eq!(d("a.xml.part", "<a/>").unwrap_err().kind, ErrorKind::IgnoredName);
    }

    #[test]
    fn names_round_trip() {
        for f in [
            Format::ResultsdbJson,
            Format::JsonLines,
            Format::Ctrf,
            Format::Tap,
            Format::ResultYaml,
            Format::Junit,
            Format::Subunit,
        ] {
            assert_eq!(Format::from_name(f.name()), Ok(f));
        }
        assert!(Format::from_name("csv").is_err());
    }
}
