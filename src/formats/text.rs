//! Byte-stream helpers shared by the text formats: BOM stripping, bounded line reading,
//! and a reader that knows which line it is on.

use super::error::{ErrorKind, FormatError};
use std::io::{self, BufRead, Read};

/// Drops a UTF-8 byte order mark at the current position, if there is one.
pub fn skip_utf8_bom<R: BufRead>(reader: &mut R) -> io::Result<()> {
    let buf = reader.fill_buf()?;
    if buf.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    Ok(())
}

/// Reads one line (without `\n` / `\r\n`) into `buf`. Returns `false` at end of input.
/// Lines longer than `max` bytes are an error naming `line_no`.
pub fn read_line<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
    line_no: usize,
) -> Result<bool, FormatError> {
    buf.clear();
    loop {
        let chunk = reader.fill_buf().map_err(|e| FormatError::io(&e))?;
        if chunk.is_empty() {
            break;
        }
        let (take, done) = match memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if buf.len() + take > max.saturating_add(2) {
            return Err(FormatError::at_line(ErrorKind::Limit, line_no, format!("line longer than {max} bytes")));
        }
        buf.extend_from_slice(chunk.get(..take).unwrap_or_default());
        reader.consume(take);
        if done {
            break;
        }
    }
    if buf.is_empty() {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(true)
}

/// Position of the first `needle` byte.
pub fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|b| *b == needle)
}

/// A line as UTF-8, or an encoding error naming the line and column.
pub fn utf8_line(bytes: &[u8], line_no: usize) -> Result<&str, FormatError> {
    std::str::from_utf8(bytes).map_err(|e| {
        FormatError::new(
            ErrorKind::Encoding,
            super::error::Location::Line { line: line_no, column: Some(e.valid_up_to() + 1) },
            "invalid UTF-8",
        )
    })
}

/// Reads everything as UTF-8 text (BOM stripped); invalid bytes are an error with a line.
pub fn read_utf8<R: BufRead>(mut reader: R) -> Result<String, FormatError> {
    skip_utf8_bom(&mut reader).map_err(|e| FormatError::io(&e))?;
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|e| FormatError::io(&e))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let before = e.as_bytes().get(..valid).unwrap_or_default();
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let column = valid - before.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1) + 1;
        FormatError::new(
            ErrorKind::Encoding,
            super::error::Location::Line { line, column: Some(column) },
            "invalid UTF-8",
        )
    })
}

/// Wraps a `BufRead` and tracks the 1-based line and column of the next unread byte.
pub struct LineCounter<R> {
    inner: R,
    line: usize,
    column: usize,
}

impl<R: BufRead> LineCounter<R> {
    pub fn new(inner: R) -> Self {
        LineCounter { inner, line: 1, column: 1 }
    }

    pub fn position(&self) -> (usize, usize) {
        (self.line, self.column)
    }
}

/// Moves a line/column position over `bytes`.
fn advance(line: &mut usize, column: &mut usize, bytes: &[u8]) {
    match bytes.iter().rposition(|b| *b == b'\n') {
        Some(last) => {
            *line += bytes.iter().filter(|b| **b == b'\n').count();
            *column = bytes.len() - last;
        }
        None => *column += bytes.len(),
    }
}

impl<R: BufRead> Read for LineCounter<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let buf = self.inner.fill_buf()?;
            let n = buf.len().min(out.len());
            let src = buf.get(..n).unwrap_or_default();
            if let Some(dst) = out.get_mut(..n) {
                dst.copy_from_slice(src);
            }
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for LineCounter<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            advance(&mut self.line, &mut self.column, buf.get(..amt.min(buf.len())).unwrap_or_default());
        }
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_limits() {
        let mut r = "a\r\nbb\n\nccc".as_bytes();
        let mut buf = Vec::new();
        let mut got = Vec::new();
        let mut n = 1;
        while read_line(&mut r, &mut buf, 10, n).unwrap() {
            got.push(String::from_utf8(buf.clone()).unwrap());
            n += 1;
        }
        assert_eq!(got, vec!["a", "bb", "", "ccc"]);
        let mut long = "0123456789abcdef\n".as_bytes();
        assert!(read_line(&mut long, &mut buf, 4, 1).is_err());
    }

    #[test]
    fn counter_tracks_lines() {
        let mut c = LineCounter::new("ab\ncd\ne".as_bytes());
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        assert_eq!(c.position(), (3, 2));
    }

    #[test]
    fn utf8_errors_have_positions() {
        let e = read_utf8(&b"ok\nx\xFFy"[..]).unwrap_err();
        assert_eq!(e.line(), Some(2));
        assert_eq!(e.to_string(), "line 2, column 2: invalid UTF-8");
    }
}
