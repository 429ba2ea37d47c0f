//! The byte source under the XML reader: character-set handling (BOM / XML declaration →
//! UTF-8) and a wrapper that counts lines and caps how much one XML token may buffer.

use crate::formats::error::{ErrorKind, FormatError};
use encoding_rs::{Decoder, DecoderResult, Encoding, UTF_8, UTF_16BE, UTF_16LE};
use std::io::{self, BufRead, Chain, Cursor, Read};

/// How much of the file is looked at for a BOM and the XML declaration.
const HEAD: usize = 1024;

/// The input as UTF-8, transcoded when the document is in another encoding.
pub enum Utf8Source<R> {
    Plain(Chain<Cursor<Vec<u8>>, R>),
    Transcoded(Transcoder<Chain<Cursor<Vec<u8>>, R>>),
}

/// Reads the head, picks the encoding (BOM first, then `<?xml … encoding="…"?>`, else
/// UTF-8) and returns a UTF-8 stream without BOM.
pub fn open<R: BufRead>(mut reader: R) -> Result<Utf8Source<R>, FormatError> {
    let mut head = Vec::with_capacity(HEAD);
    (&mut reader).take(HEAD as u64).read_to_end(&mut head).map_err(|e| FormatError::io(&e))?;
    let encoding = sniff_encoding(&head)?;
    if encoding == UTF_8 {
        let skip = if head.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
        head.drain(..skip);
        return Ok(Utf8Source::Plain(Cursor::new(head).chain(reader)));
    }
    let decoder = encoding.new_decoder_with_bom_removal();
    Ok(Utf8Source::Transcoded(Transcoder::new(Cursor::new(head).chain(reader), decoder, encoding.name())))
}

fn sniff_encoding(head: &[u8]) -> Result<&'static Encoding, FormatError> {
    if head.starts_with(b"\xEF\xBB\xBF") {
        return Ok(UTF_8);
    }
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(b"<\0?\0") {
        return Ok(UTF_16LE);
    }
    if head.starts_with(&[0xFE, 0xFF]) || head.starts_with(b"\0<\0?") {
        return Ok(UTF_16BE);
    }
    let Some(label) = declared_encoding(head) else { return Ok(UTF_8) };
    match Encoding::for_label(label.as_bytes()) {
        // UTF-16 declared in a file that reads as ASCII cannot be right.
        Some(e) if e == UTF_16LE || e == UTF_16BE => Err(FormatError::at_line(
            ErrorKind::Encoding,
            1,
            format!("XML declaration says {label:?} but the file has no UTF-16 byte order mark"),
        )),
        Some(e) if e.name() != "replacement" => Ok(e),
        _ => Err(FormatError::at_line(ErrorKind::Encoding, 1, format!("unsupported XML encoding {label:?}"))),
    }
}

/// The `encoding` pseudo-attribute of a leading `<?xml …?>` declaration.
fn declared_encoding(head: &[u8]) -> Option<String> {
    let rest = head.strip_prefix(b"<?xml")?;
    let end = rest.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(rest.get(..end)?).ok()?;
    let after = decl.split_once("encoding")?.1.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = after.get(1..)?;
    Some(value.get(..value.find(quote)?)?.trim().to_owned())
}

impl<R: BufRead> Read for Utf8Source<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            if let (Some(dst), Some(src)) = (out.get_mut(..n), buf.get(..n)) {
                dst.copy_from_slice(src);
            }
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Utf8Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Utf8Source::Plain(r) => r.fill_buf(),
            Utf8Source::Transcoded(t) => t.fill_buf(),
        }
    }

    fn consume(&mut self, amt: usize) {
        match self {
            Utf8Source::Plain(r) => r.consume(amt),
            Utf8Source::Transcoded(t) => t.consume(amt),
        }
    }
}

/// Streams another encoding as UTF-8; malformed input is an `InvalidData` error.
pub struct Transcoder<R> {
    inner: R,
    decoder: Decoder,
    name: &'static str,
    out: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<R: BufRead> Transcoder<R> {
    fn new(inner: R, decoder: Decoder, name: &'static str) -> Self {
        Transcoder { inner, decoder, name, out: Vec::new(), pos: 0, done: false }
    }

    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.out.resize(64 * 1024, 0);
        self.pos = 0;
        let mut written_total = 0;
        while written_total == 0 && !self.done {
            let src = self.inner.fill_buf()?;
            let last = src.is_empty();
            let dst = self.out.get_mut(written_total..).unwrap_or_default();
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(src, dst, last);
            self.inner.consume(read);
            written_total += written;
            match result {
                DecoderResult::Malformed(..) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("invalid {} byte sequence", self.name),
                    ));
                }
                DecoderResult::InputEmpty if last => self.done = true,
                DecoderResult::InputEmpty | DecoderResult::OutputFull => {}
            }
        }
        self.out.truncate(written_total);
        Ok(())
    }
}

impl<R: BufRead> BufRead for Transcoder<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.out.len() {
            self.refill()?;
        }
        Ok(self.out.get(self.pos..).unwrap_or_default())
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.out.len());
    }
}

impl<R: BufRead> Read for Transcoder<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            if let (Some(dst), Some(src)) = (out.get_mut(..n), buf.get(..n)) {
                dst.copy_from_slice(src);
            }
            n
        };
        self.consume(n);
        Ok(n)
    }
}

/// Counts lines of everything consumed and refuses to hand out more than `budget` bytes
/// between two `reset`s, so one XML token cannot grow the reader's buffer without bound.
pub struct Counted<R> {
    inner: R,
    line: usize,
    used: usize,
    budget: usize,
    limit: usize,
}

impl<R: BufRead> Counted<R> {
    pub fn new(inner: R, limit: usize) -> Self {
        Counted { inner, line: 1, used: 0, budget: limit, limit }
    }

    /// The 1-based line of the next unread byte.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Starts a new token with the configured budget.
    pub fn reset(&mut self) {
        self.used = 0;
        self.budget = self.limit;
    }

    /// No budget while our own streaming scanner reads (it keeps only capped text).
    pub fn unlimited(&mut self) {
        self.used = 0;
        self.budget = usize::MAX;
    }
}

/// The message of the error a token over budget produces (recognised when mapping errors).
pub const TOO_LARGE: &str = "XML token larger than the configured limit";

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            if let (Some(dst), Some(src)) = (out.get_mut(..n), buf.get(..n)) {
                dst.copy_from_slice(src);
            }
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.used >= self.budget {
            return Err(io::Error::other(TOO_LARGE));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let seen = buf.get(..amt.min(buf.len())).unwrap_or_default();
            self.line += seen.iter().filter(|b| **b == b'\n').count();
        }
        self.used = self.used.saturating_add(amt);
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &[u8]) -> Result<String, String> {
        let mut s = String::new();
        let mut src = open(bytes).map_err(|e| e.to_string())?;
        src.read_to_string(&mut s).map_err(|e| e.to_string())?;
        Ok(s)
    }

    #[test]
    fn encodings() {
        assert_eq!(decoded(b"\xEF\xBB\xBF<a/>").unwrap(), "<a/>");
        let utf16: Vec<u8> =
            [0xFF, 0xFE].into_iter().chain("<a>\u{1F600}</a>".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(decoded(&utf16).unwrap(), "<a>\u{1F600}</a>");
        let be: Vec<u8> = "<?xml version='1.0'?><a/>".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decoded(&be).unwrap(), "<?xml version='1.0'?><a/>");
        let latin = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a n=\"\xE9\"/>";
        assert_eq!(decoded(latin).unwrap(), "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a n=\"\u{e9}\"/>");
        assert!(decoded(b"<?xml version='1.0' encoding='klingon'?><a/>").unwrap_err().contains("unsupported"));
        assert!(decoded(b"<?xml version='1.0' encoding='UTF-16'?><a/>").is_err());
        let mut odd = vec![0xFF, 0xFE, b'<', 0, 0x00, 0xD8, b'>', 0];
        odd.extend_from_slice(b"x");
        assert!(decoded(&odd).is_err());
    }

    #[test]
    fn counting_and_budget() {
        let mut c = Counted::new("a\nb\nc".as_bytes(), 3);
        let mut buf = [0u8; 2];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(c.line(), 2);
        c.read_exact(&mut buf[..1]).unwrap();
        assert!(c.fill_buf().is_err());
        c.reset();
        assert!(c.fill_buf().is_ok());
    }
}
