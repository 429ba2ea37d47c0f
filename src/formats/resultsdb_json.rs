//! ResultsDB JSON input: one result object, an array of them, or JSON Lines — streamed.
//!
//! `for_each_record` hands raw values to the CLI's `submit`; `parse` and `parse_lines`
//! validate them into results for the spool (spec §2).

use super::error::{ErrorKind, FormatError, Location};
use super::options::ParseOptions;
use super::record::{Data, ParseSummary, Sink, json_data_values};
use super::text::{LineCounter, read_line, skip_utf8_bom};
use crate::model::{InputLimits, ModelError, ResultInput, parse_create_result};
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;
use std::io::{BufRead, Read};

/// Why a ResultsDB JSON stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JsonInputError<E: std::error::Error + 'static> {
    #[error("JSON syntax error at line {line}, column {column}: {message}")]
    Syntax { line: usize, column: usize, message: String },
    #[error("cannot read input: {0}")]
    Io(#[from] std::io::Error),
    /// The callback refused record `index` (0-based).
    #[error("record {index}: {source}")]
    Record {
        index: usize,
        #[source]
        source: E,
    },
}

fn syntax<E: std::error::Error>(e: &serde_json::Error) -> JsonInputError<E> {
    JsonInputError::Syntax { line: e.line(), column: e.column(), message: e.to_string() }
}

/// Calls `f(index, record)` for every record: the elements of a top-level array, or each
/// top-level value of a single-object / JSON Lines / concatenated stream. Memory stays
/// bounded by one record.
pub fn for_each_record<R, E, F>(mut reader: R, f: F) -> Result<usize, JsonInputError<E>>
where
    R: BufRead,
    E: std::error::Error + 'static,
    F: FnMut(usize, Value) -> Result<(), E>,
{
    let mut skipped_lines = 0;
    let first = loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(0);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let c = buf[i];
                skipped_lines += newlines(&buf[..i]);
                reader.consume(i);
                break c;
            }
            None => {
                let n = buf.len();
                skipped_lines += newlines(buf);
                reader.consume(n);
            }
        }
    };
    if first == b'[' {
        return for_each_array_element(reader, f);
    }
    for_each_value(reader, skipped_lines, f)
}

/// Bytes read at a time by [`for_each_value`].
const VALUES_CHUNK: usize = 1 << 20;

/// Calls `f` for each top-level value of a stream of concatenated values (JSON Lines, or
/// objects spread over lines). The stream is read a megabyte at a time and each value is
/// parsed from that buffer: serde_json parses a slice several times faster than a reader,
/// which it reads byte by byte. Syntax errors name the line and column in the stream.
fn for_each_value<R, E, F>(mut reader: R, line_base: usize, mut f: F) -> Result<usize, JsonInputError<E>>
where
    R: Read,
    E: std::error::Error + 'static,
    F: FnMut(usize, Value) -> Result<(), E>,
{
    let mut buf: Vec<u8> = Vec::with_capacity(VALUES_CHUNK);
    let mut count = 0;
    // Where the buffer starts: its line in the stream (1-based) and column on that line.
    let (mut line, mut column) = (line_base + 1, 0);
    let mut eof = false;
    loop {
        if !eof {
            // A value longer than the buffer doubles what is read next, so parsing it again
            // from its start stays linear.
            let want = VALUES_CHUNK.max(buf.len());
            let n = (&mut reader).take(want as u64).read_to_end(&mut buf)?;
            eof = n < want;
        }
        let mut values = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        let mut used = 0;
        let mut complete = false;
        loop {
            match values.next() {
                None => {
                    used = buf.len();
                    complete = true;
                    break;
                }
                // A value ending at the buffer's end may go on (a number) unless the stream ended.
                Some(Ok(_)) if values.byte_offset() == buf.len() && !eof => break,
                Some(Ok(value)) => {
                    used = values.byte_offset();
                    f(count, value).map_err(|source| JsonInputError::Record { index: count, source })?;
                    count += 1;
                }
                Some(Err(e)) if e.is_eof() && !eof => break,
                Some(Err(e)) => {
                    let at_line = line + e.line() - 1;
                    let at_column = if e.line() == 1 { column + e.column() } else { e.column() };
                    return Err(JsonInputError::Syntax { line: at_line, column: at_column, message: e.to_string() });
                }
            }
        }
        let done = &buf[..used];
        match done.iter().rposition(|b| *b == b'\n') {
            Some(last) => {
                line += newlines(done);
                column = used - last - 1;
            }
            None => column += used,
        }
        buf.drain(..used);
        if eof && (complete || buf.is_empty()) {
            return Ok(count);
        }
    }
}

fn newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| **b == b'\n').count()
}

fn for_each_array_element<R, E, F>(reader: R, f: F) -> Result<usize, JsonInputError<E>>
where
    R: Read,
    E: std::error::Error + 'static,
    F: FnMut(usize, Value) -> Result<(), E>,
{
    array_elements(reader, f).map_err(|stop| match stop {
        ArrayStop::Syntax(e) => syntax(&e),
        ArrayStop::Callback(index, source) => JsonInputError::Record { index, source },
    })
}

/// Why walking a top-level array stopped early.
enum ArrayStop<T> {
    Syntax(serde_json::Error),
    Callback(usize, T),
}

/// Streams the elements of a top-level array (the reader is at `[`) to `f`.
fn array_elements<R, T, F>(reader: R, f: F) -> Result<usize, ArrayStop<T>>
where
    R: Read,
    F: FnMut(usize, Value) -> Result<(), T>,
{
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut failure: Option<(usize, T)> = None;
    let seed = Elements { f, failure: &mut failure };
    let outcome = seed.deserialize(&mut de).and_then(|n| de.end().map(|()| n));
    if let Some((index, source)) = failure {
        return Err(ArrayStop::Callback(index, source));
    }
    outcome.map_err(ArrayStop::Syntax)
}

/// Visits a JSON array element by element, handing each to the callback.
struct Elements<'a, F, E> {
    f: F,
    failure: &'a mut Option<(usize, E)>,
}

impl<'de, F, E> DeserializeSeed<'de> for Elements<'_, F, E>
where
    F: FnMut(usize, Value) -> Result<(), E>,
{
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F, E> Visitor<'de> for Elements<'_, F, E>
where
    F: FnMut(usize, Value) -> Result<(), E>,
{
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of result objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<usize, A::Error> {
        let mut n = 0;
        while let Some(v) = seq.next_element::<Value>()? {
            if let Err(e) = (self.f)(n, v) {
                *self.failure = Some((n, e));
                return Err(serde::de::Error::custom("record refused"));
            }
            n += 1;
        }
        Ok(n)
    }
}

/// Parses a `.json` ResultsDB file for the spool: a single object, an array of objects,
/// or several objects each starting on its own line. Each object is validated as the API
/// validates `POST /results`; errors name the record index (0-based).
pub fn parse<R, E, F>(reader: R, opts: &ParseOptions, emit: F) -> Result<ParseSummary, E>
where
    R: BufRead,
    E: From<FormatError>,
    F: FnMut(ResultInput) -> Result<(), E>,
{
    let mut sink = Sink::new(opts, emit)?;
    let mut reader = LineCounter::new(reader);
    skip_utf8_bom(&mut reader).map_err(|e| FormatError::io(&e))?;
    match skip_ws(&mut reader)? {
        (None, _) => return Err(no_value().into()),
        (Some(b'['), _) => {
            let (line0, col0) = reader.position();
            let walked = array_elements(&mut reader, |i, v| -> Result<(), E> {
                let r = to_result(i, v, opts)?;
                sink.push(r)
            });
            match walked {
                Ok(_) => {}
                Err(ArrayStop::Syntax(e)) => return Err(json_syntax(&e, line0, col0).into()),
                Err(ArrayStop::Callback(_, e)) => return Err(e),
            }
        }
        (Some(_), _) => objects_per_line(&mut reader, opts, &mut sink)?,
    }
    sink.finish()
}

/// Parses a `.jsonl` / `.ndjson` file: one object per line, blank lines skipped.
pub fn parse_lines<R, E, F>(mut reader: R, opts: &ParseOptions, emit: F) -> Result<ParseSummary, E>
where
    R: BufRead,
    E: From<FormatError>,
    F: FnMut(ResultInput) -> Result<(), E>,
{
    let mut sink = Sink::new(opts, emit)?;
    skip_utf8_bom(&mut reader).map_err(|e| FormatError::io(&e))?;
    let mut buf = Vec::new();
    let (mut line_no, mut index) = (0, 0);
    while read_line(&mut reader, &mut buf, opts.limits.max_line_bytes, line_no + 1)? {
        line_no += 1;
        if buf.trim_ascii().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_slice(&buf).map_err(|e| json_syntax(&e, line_no, 1))?;
        let r = to_result(index, value, opts).map_err(|e| with_line(e, line_no))?;
        sink.push(r)?;
        index += 1;
    }
    if index == 0 {
        return Err(no_value().into());
    }
    sink.finish()
}

/// Top-level values after the first non-array one: each must start on a new line.
fn objects_per_line<R, E, F>(reader: &mut LineCounter<R>, opts: &ParseOptions, sink: &mut Sink<'_, F>) -> Result<(), E>
where
    R: BufRead,
    E: From<FormatError>,
    F: FnMut(ResultInput) -> Result<(), E>,
{
    let mut index = 0;
    loop {
        let (next, newline) = skip_ws(reader)?;
        if next.is_none() {
            return Ok(());
        }
        let (line0, col0) = reader.position();
        if index > 0 && !newline {
            let at = Location::Line { line: line0, column: Some(col0) };
            let msg = format!("JSON syntax error: expected end of line after record {}", index - 1);
            return Err(FormatError::new(ErrorKind::Syntax, at, msg).into());
        }
        let mut de = serde_json::Deserializer::from_reader(&mut *reader);
        let value = Value::deserialize(&mut de).map_err(|e| json_syntax(&e, line0, col0))?;
        let r = to_result(index, value, opts).map_err(|e| with_line(e, line0))?;
        sink.push(r)?;
        index += 1;
    }
}

/// Skips whitespace; returns the next byte (not consumed) and whether a newline was skipped.
fn skip_ws<R: BufRead>(reader: &mut R) -> Result<(Option<u8>, bool), FormatError> {
    let mut newline = false;
    loop {
        let buf = reader.fill_buf().map_err(|e| FormatError::io(&e))?;
        if buf.is_empty() {
            return Ok((None, newline));
        }
        let n = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        newline |= buf.get(..n).unwrap_or_default().contains(&b'\n');
        let next = buf.get(n).copied();
        reader.consume(n);
        if next.is_some() {
            return Ok((next, newline));
        }
    }
}

fn no_value() -> FormatError {
    FormatError::file(ErrorKind::Empty, "empty file: no JSON value")
}

/// A serde_json error at an absolute position (the value started at `line0`:`col0`).
fn json_syntax(e: &serde_json::Error, line0: usize, col0: usize) -> FormatError {
    if e.is_io() {
        return FormatError::file(ErrorKind::Io, format!("cannot read input: {e}"));
    }
    let line = line0 + e.line().saturating_sub(1);
    let column = if e.line() <= 1 { col0 + e.column().saturating_sub(1) } else { e.column() };
    let text = e.to_string();
    let what = text.split(" at line ").next().unwrap_or(&text);
    let what = if what.starts_with("trailing characters") { "expected end of line" } else { what };
    FormatError::new(
        ErrorKind::Syntax,
        Location::Line { line, column: Some(column) },
        format!("JSON syntax error: {what}"),
    )
}

fn with_line(mut e: FormatError, line_no: usize) -> FormatError {
    if let Location::Record { line, .. } = &mut e.location {
        *line = Some(line_no);
    }
    e
}

/// Validates one object as `POST /results` does, plus the spool's deviations: nested
/// objects in `data` become compact JSON, an empty note is null, the prefix is applied.
pub fn to_result(index: usize, mut value: Value, opts: &ParseOptions) -> Result<ResultInput, FormatError> {
    let invalid = |m: String| FormatError::at_record(ErrorKind::Invalid, index, m);
    let data = match value.as_object_mut().and_then(|o| o.remove("data")) {
        None | Some(Value::Null) => Data::new(),
        Some(Value::Object(map)) => convert_data(&map).map_err(invalid)?,
        Some(other) => return Err(invalid(format!("`data` must be an object, not {}", json_kind(&other)))),
    };
    // The caps are checked by the ingest once notes and values are cut and context merged.
    let mut r =
        parse_create_result(&value, &opts.outcomes, &InputLimits::unlimited()).map_err(|e| invalid(describe(&e)))?;
    r.data = data;
    if !opts.testcase_prefix.is_empty() {
        r.testcase.name = format!("{}{}", opts.testcase_prefix, r.testcase.name);
    }
    Ok(r)
}

fn convert_data(map: &Map<String, Value>) -> Result<Data, String> {
    let mut data = Data::new();
    for (k, v) in map {
        if k.contains(':') {
            return Err(format!("colon not allowed in data key {k:?} (ResultsDB answers 400)"));
        }
        let values = json_data_values(v);
        if !values.is_empty() {
            data.insert(k.clone(), values);
        }
    }
    Ok(data)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One line per problem, phrased for the `.error` file.
fn describe(e: &ModelError) -> String {
    let ModelError::Validation(errors) = e else {
        return e.to_string();
    };
    let parts: Vec<String> = errors
        .iter()
        .map(|fe| {
            let path = fe.path();
            let msg = fe.msg.strip_prefix("Value error, ").unwrap_or(&fe.msg);
            match (path.as_str(), fe.kind) {
                (p, "missing") => format!("`{p}` required"),
                ("outcome", "value_error") => format!("outcome {} not in allowed outcomes ({})", fe.input, msg),
                ("", _) => msg.to_owned(),
                (p, _) => format!("{p}: {msg}"),
            }
        })
        .collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &str) -> Result<Vec<Value>, JsonInputError<std::io::Error>> {
        let mut out = Vec::new();
        for_each_record(input.as_bytes(), |_, v| {
            out.push(v);
            Ok::<(), std::io::Error>(())
        })?;
        Ok(out)
    }

    #[test]
    fn shapes() {
        assert_eq!(collect("  {\"a\": 1}\n").unwrap().len(), 1);
        assert_eq!(collect("[{\"a\":1}, {\"a\":2}]").unwrap().len(), 2);
        assert_eq!(collect("{\"a\":1}\n\n{\"a\":2}\r\n{\"a\":3}\n").unwrap().len(), 3);
        assert_eq!(collect("").unwrap().len(), 0);
        assert_eq!(collect("[]").unwrap().len(), 0);
        assert!(matches!(collect("{\"a\":1}\n{\"a\":"), Err(JsonInputError::Syntax { line: 2, .. })));
        assert!(matches!(collect("[{\"a\":1},]"), Err(JsonInputError::Syntax { .. })));
    }

    #[test]
    fn values_across_buffer_boundaries() {
        // Records straddle the 1 MiB reads; a number at a buffer's end is not cut short.
        let line = format!("{{\"testcase\":\"{}\",\"n\":12345}}\n", "x".repeat(1000));
        let input = line.repeat(3000);
        let values = collect(&input).unwrap();
        assert_eq!(values.len(), 3000);
        assert!(values.iter().all(|v| v["n"] == 12345));
        let numbers = "7 ".repeat(VALUES_CHUNK);
        let values = collect(&numbers).unwrap();
        assert_eq!(values.len(), VALUES_CHUNK);
        assert!(values.iter().all(|v| *v == 7));
        // One value larger than the buffer.
        let big = format!("{{\"a\":\"{}\"}}", "y".repeat(3 * VALUES_CHUNK));
        assert_eq!(collect(&format!("{big}\n{big}")).unwrap().len(), 2);
    }

    #[test]
    fn syntax_errors_name_the_line_and_column_in_the_stream() {
        let lines = "{\"a\":1}\n".repeat(200_000);
        let e = collect(&format!("\n\n{lines}{{\"a\":1}} {{\"a\" 2}}\n")).unwrap_err();
        let JsonInputError::Syntax { line, column, .. } = e else { panic!("{e}") };
        assert_eq!((line, column), (200_003, 14));
        // One long line: the error's buffer starts in the middle of it.
        let one_line = "{\"a\":1} ".repeat(200_000);
        let e = collect(&format!("\n\n{one_line}{{\"a\" 2}}\n")).unwrap_err();
        let JsonInputError::Syntax { line, column, .. } = e else { panic!("{e}") };
        assert_eq!((line, column), (3, 200_000 * 8 + 6));
    }

    #[test]
    fn callback_errors_name_the_record() {
        let r = for_each_record(
            "[1,2,3]".as_bytes(),
            |i, _| {
                if i == 1 { Err(std::io::Error::other("bad")) } else { Ok(()) }
            },
        );
        assert!(matches!(r, Err(JsonInputError::Record { index: 1, .. })));
    }
}

#[cfg(test)]
mod spool_tests {
    use super::*;

    fn run(input: &str, lines: bool) -> Result<Vec<ResultInput>, FormatError> {
        let mut out = Vec::new();
        let opts = ParseOptions::default();
        let push = |r| {
            out.push(r);
            Ok::<(), FormatError>(())
        };
        if lines {
            parse_lines(input.as_bytes(), &opts, push)?
        } else {
            parse(input.as_bytes(), &opts, push)?
        };
        Ok(out)
    }

    #[test]
    fn shapes_and_positions() {
        let one = r#"{"testcase":"a","outcome":"passed","note":"","data":{"x":{"b":1},"l":[1,true]}}"#;
        let r = run(one, false).unwrap();
        assert_eq!(r[0].outcome, "PASSED");
        assert_eq!(r[0].note, None);
        assert_eq!(r[0].data["x"], vec!["{\"b\":1}"]);
        assert_eq!(r[0].data["l"], vec!["1", "True"]);
        assert_eq!(run(&format!("\n[{one},\n{one}]"), false).unwrap().len(), 2);
        assert_eq!(run(&format!("{one}\n\n{one}\n"), false).unwrap().len(), 2);
        let e = run(&format!("{one} {one}"), false).unwrap_err();
        assert!(e.to_string().contains("expected end of line"), "{e}");
        let e = run(&format!("\n\n[{one},\n  {{\"a\" 1}}]"), false).unwrap_err();
        assert_eq!(e.line(), Some(4), "{e}");
        let e = run(&format!("{one}\n{one} {one}\n"), true).unwrap_err();
        assert_eq!(e.to_string(), "line 2, column 81: JSON syntax error: expected end of line");
        assert_eq!(run("[]", false).unwrap().len(), 0);
        assert_eq!(run(" \n", false).unwrap_err().kind, ErrorKind::Empty);
    }

    #[test]
    fn record_errors() {
        let e = run("[{\"testcase\":\"a\",\"outcome\":\"PASSED\"}, 5]", false).unwrap_err();
        assert_eq!(e.record(), Some(1));
        let e = run("{\"testcase\":\"a\"}", false).unwrap_err();
        assert_eq!(e.to_string(), "record 0 (line 1): `outcome` required");
        let e = run("{\"testcase\":\"a\",\"outcome\":\"x\",\"data\":[]}", false).unwrap_err();
        assert!(e.message.contains("`data` must be an object"), "{e}");
    }
}
