//! The one error type of the format parsers: what is wrong, and where in the file.

use std::fmt;

/// What class of problem stopped the parse (for callers that branch on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Zero-byte input.
    Empty,
    /// Detection found no known format.
    UnknownFormat,
    /// The file name marks a file that is never ingested (dotfile, `.tmp`, sidecar, …).
    IgnoredName,
    /// Reading the input failed.
    Io,
    /// Bytes are not valid in the file's character encoding.
    Encoding,
    /// The text does not parse (JSON, YAML, XML, TAP or binary syntax).
    Syntax,
    /// It parses, but is not the expected document shape (wrong root, missing key).
    Structure,
    /// A record breaks a result rule (outcome, testcase, data key, time).
    Invalid,
    /// A configured limit was exceeded.
    Limit,
    /// A construct refused for safety (DOCTYPE / entity declarations).
    Refused,
    /// A caller option is inconsistent (e.g. aggregation without a testcase name).
    Options,
}

/// Where in the input the problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The file as a whole.
    File,
    /// A text position (1-based line; column when known).
    Line { line: usize, column: Option<usize> },
    /// A record (0-based), e.g. a JSON array element or a ResultYAML `results` item.
    Record { index: usize, line: Option<usize> },
    /// An XML element path such as `testsuites/testsuite[2]/testcase[5]` and its line.
    Element { path: String, line: usize },
    /// A Subunit packet (1-based, as subunit tools count) and its byte offset.
    Packet { number: usize, offset: u64 },
}

/// Why a file could not be turned into results. `Display` gives the message the spool
/// writes into the `.error` file: the location first, then what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub kind: ErrorKind,
    pub location: Location,
    pub message: String,
}

impl std::error::Error for FormatError {}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::File => write!(f, "{}", self.message),
            Location::Line { line, column: Some(c) } => write!(f, "line {line}, column {c}: {}", self.message),
            Location::Line { line, column: None } => write!(f, "line {line}: {}", self.message),
            Location::Record { index, line: Some(l) } => write!(f, "record {index} (line {l}): {}", self.message),
            Location::Record { index, line: None } => write!(f, "record {index}: {}", self.message),
            Location::Element { path, line } => write!(f, "{path} (line {line}): {}", self.message),
            Location::Packet { number, offset } => write!(f, "packet {number} (byte {offset}): {}", self.message),
        }
    }
}

impl FormatError {
    pub fn new(kind: ErrorKind, location: Location, message: impl Into<String>) -> Self {
        FormatError { kind, location, message: message.into() }
    }

    /// An error about the file as a whole.
    pub fn file(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::new(kind, Location::File, message)
    }

    /// An error at a text line (1-based).
    pub fn at_line(kind: ErrorKind, line: usize, message: impl Into<String>) -> Self {
        Self::new(kind, Location::Line { line, column: None }, message)
    }

    /// An error in record `index` (0-based).
    pub fn at_record(kind: ErrorKind, index: usize, message: impl Into<String>) -> Self {
        Self::new(kind, Location::Record { index, line: None }, message)
    }

    /// The 1-based line, when the location has one (for the `.error` record).
    pub fn line(&self) -> Option<usize> {
        match &self.location {
            Location::Line { line, .. } | Location::Element { line, .. } => Some(*line),
            Location::Record { line, .. } => *line,
            Location::File | Location::Packet { .. } => None,
        }
    }

    /// The 0-based record index, when the location has one (for the `.error` record).
    pub fn record(&self) -> Option<usize> {
        match &self.location {
            Location::Record { index, .. } => Some(*index),
            _ => None,
        }
    }

    pub(crate) fn io(e: &std::io::Error) -> Self {
        Self::file(ErrorKind::Io, format!("cannot read input: {e}"))
    }
}
