//! What a parser may know besides the bytes: allowed outcomes, file stem, sidecar hints, limits.

use crate::model::Outcomes;

/// How many results one file yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregate {
    /// One result per record / testcase / test point (the default).
    #[default]
    None,
    /// checkb's `aggregation: allpass`: a single result named by the sidecar `testcase`,
    /// PASSED only when no record FAILED / ERRORed / ABORTED / CRASHED.
    AllPass,
}

/// Size and shape limits; all configurable, defaults from `spec/formats.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `note` length in chars after reduction; longer notes are cut and end in `…`.
    pub note_chars: usize,
    /// Each `data` value's length in chars (the v3 API's `MAX_STRING_SIZE`); cut with `…`.
    pub data_value_chars: usize,
    /// XML element nesting depth.
    pub xml_max_depth: usize,
    /// Largest single XML tag (with its attributes) or text run handed to the XML reader.
    /// Element bodies the parser skips (`system-out`, failure text) are streamed instead.
    pub xml_max_token_bytes: usize,
    /// Longest text line in line-based formats (TAP, JSON Lines).
    pub max_line_bytes: usize,
    /// Most synthetic "test point missing" results one TAP plan may produce.
    pub tap_max_missing: u64,
    /// Warnings kept in the summary (the rest are counted).
    pub max_warnings: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            note_chars: 1024,
            data_value_chars: 8192,
            xml_max_depth: 256,
            xml_max_token_bytes: 16 << 20,
            max_line_bytes: 16 << 20,
            tap_max_missing: 100_000,
            max_warnings: 100,
        }
    }
}

/// Everything a parser uses besides the input. Item/type/ref_url/groups/data defaults from
/// the sidecar, the spool directory or the global config are NOT here: the spool merges
/// those after parsing (in-record > sidecar > directory > default).
#[derive(Debug, Clone, PartialEq)]
pub struct ParseOptions {
    /// Outcomes a result may have; mapped outcomes outside it are errors, except ERROR,
    /// which falls back to FAILED (saying so in the note) when ERROR is not allowed.
    pub outcomes: Outcomes,
    /// The file name without its extension: names TAP results that have no description
    /// (`<stem>.<n>`) and the `<stem>.bail_out` result.
    pub file_stem: String,
    /// Sidecar `testcase_prefix`, prepended to every testcase name.
    pub testcase_prefix: String,
    /// Sidecar `testcase`: names the aggregated result, and ResultYAML records without
    /// `checkname`.
    pub testcase: Option<String>,
    /// Sidecar `artifacts_base_url`: ResultYAML `artifact` becomes `ref_url = base/artifact`.
    pub artifacts_base_url: Option<String>,
    /// Sidecar `aggregate`.
    pub aggregate: Aggregate,
    pub limits: Limits,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            outcomes: Outcomes::default_set(),
            file_stem: "results".to_owned(),
            testcase_prefix: String::new(),
            testcase: None,
            artifacts_base_url: None,
            aggregate: Aggregate::None,
            limits: Limits::default(),
        }
    }
}

impl ParseOptions {
    /// Defaults for a file called `file_name` (only its stem is used).
    pub fn for_file(file_name: &str) -> Self {
        ParseOptions { file_stem: file_stem(file_name).to_owned(), ..Self::default() }
    }
}

/// The file name without directories and without its extension (`.t.out` counts as one).
pub fn file_stem(file_name: &str) -> &str {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let lower = base.to_ascii_lowercase();
    if lower.ends_with(".t.out") && base.len() > 6 {
        return base.get(..base.len() - 6).unwrap_or(base);
    }
    match base.rfind('.') {
        Some(i) if i > 0 => base.get(..i).unwrap_or(base),
        _ => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems() {
        assert_eq!(file_stem("perl-test-more-v12.tap"), "perl-test-more-v12");
        assert_eq!(file_stem("/spool/koji_build/x/run.t.out"), "run");
        assert_eq!(file_stem("noext"), "noext");
        assert_eq!(file_stem(".hidden"), ".hidden");
        assert_eq!(file_stem("a.b.xml"), "a.b");
    }
}
