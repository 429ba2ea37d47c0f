//! ResultsDB JSON input: one result object, an array of them, or JSON Lines — streamed.

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::Value;
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
pub fn for_each_record<R, E, F>(mut reader: R, mut f: F) -> Result<usize, JsonInputError<E>>
where
    R: BufRead,
    E: std::error::Error + 'static,
    F: FnMut(usize, Value) -> Result<(), E>,
{
    let first = loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(0);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let c = buf[i];
                reader.consume(i);
                break c;
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    };
    if first == b'[' {
        return for_each_array_element(reader, f);
    }
    let mut count = 0;
    for value in serde_json::Deserializer::from_reader(reader).into_iter::<Value>() {
        let value = value.map_err(|e| syntax(&e))?;
        f(count, value).map_err(|source| JsonInputError::Record { index: count, source })?;
        count += 1;
    }
    Ok(count)
}

fn for_each_array_element<R, E, F>(reader: R, f: F) -> Result<usize, JsonInputError<E>>
where
    R: Read,
    E: std::error::Error + 'static,
    F: FnMut(usize, Value) -> Result<(), E>,
{
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut failure: Option<(usize, E)> = None;
    let seed = Elements { f, failure: &mut failure };
    let outcome = seed.deserialize(&mut de).and_then(|n| de.end().map(|()| n));
    if let Some((index, source)) = failure {
        return Err(JsonInputError::Record { index, source });
    }
    outcome.map_err(|e| syntax(&e))
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
