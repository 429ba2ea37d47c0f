//! Subunit v2 (binary packet stream, as written by python-subunit / stestr): one result
//! per test id that reaches a final status (spec §7).

use super::error::{ErrorKind, FormatError, Location};
use super::options::ParseOptions;
use super::record::{ParseSummary, Sink, check_outcome, result};
use crate::model::ResultInput;
use std::collections::HashMap;
use std::io::{BufRead, Read};

const SIGNATURE: u8 = 0xB3;
const FLAG_TEST_ID: u16 = 0x0800;
const FLAG_ROUTE_CODE: u16 = 0x0400;
const FLAG_TIMESTAMP: u16 = 0x0200;
const FLAG_TAGS: u16 = 0x0080;
const FLAG_FILE_CONTENT: u16 = 0x0040;
const FLAG_MIME_TYPE: u16 = 0x0020;
/// Packets are at most 4 MiB by the protocol (22-bit length plus the 4-byte form).
const MAX_PACKET: usize = 4 * 1024 * 1024;
/// Attachment text kept per test for the note.
const MAX_KEPT_TEXT: usize = 16 * 1024;

/// Parses a Subunit v2 stream; a bad signature, CRC or truncated packet rejects the file.
pub fn parse<R, E, F>(mut reader: R, opts: &ParseOptions, emit: F) -> Result<ParseSummary, E>
where
    R: BufRead,
    E: From<FormatError>,
    F: FnMut(ResultInput) -> Result<(), E>,
{
    let mut sink = Sink::new(opts, emit)?;
    let mut texts: HashMap<String, String> = HashMap::new();
    let (mut index, mut offset) = (0usize, 0u64);
    let mut packet = Vec::new();
    while read_packet(&mut reader, &mut packet, index, offset)? {
        let at = |m: String| FormatError::new(ErrorKind::Syntax, Location::Packet { number: index + 1, offset }, m);
        let p = decode(&packet).map_err(at)?;
        if let Some(r) = apply(p, &mut texts, &sink)
            .map_err(|m| FormatError::new(ErrorKind::Invalid, Location::Packet { number: index + 1, offset }, m))?
        {
            sink.push(r)?;
        }
        offset += packet.len() as u64;
        index += 1;
    }
    sink.finish()
}

/// Reads one whole packet into `buf`; `false` at a clean end of input.
fn read_packet<R: BufRead>(r: &mut R, buf: &mut Vec<u8>, index: usize, offset: u64) -> Result<bool, FormatError> {
    let err = |kind, m: &str| FormatError::new(kind, Location::Packet { number: index + 1, offset }, m.to_owned());
    buf.clear();
    let mut head = [0u8; 4];
    let got = read_up_to(r, &mut head).map_err(|e| FormatError::io(&e))?;
    if got == 0 {
        return Ok(false);
    }
    if head[0] != SIGNATURE {
        return Err(err(ErrorKind::Syntax, &format!("not a subunit v2 packet (signature byte 0x{:02X})", head[0])));
    }
    if got < 4 {
        return Err(err(ErrorKind::Syntax, "truncated packet"));
    }
    let extra = usize::from(head[3] >> 6);
    let mut len_bytes = [0u8; 3];
    let more = read_up_to(r, &mut len_bytes[..extra]).map_err(|e| FormatError::io(&e))?;
    if more < extra {
        return Err(err(ErrorKind::Syntax, "truncated packet"));
    }
    let mut length = usize::from(head[3] & 0x3F);
    for b in &len_bytes[..extra] {
        length = (length << 8) | usize::from(*b);
    }
    let header = 4 + extra;
    if length > MAX_PACKET || length < header + 4 {
        return Err(err(ErrorKind::Syntax, &format!("bad packet length {length}")));
    }
    buf.extend_from_slice(&head);
    buf.extend_from_slice(&len_bytes[..extra]);
    let body_len = length - header;
    let start = buf.len();
    buf.resize(start + body_len, 0);
    let got = read_up_to(r, &mut buf[start..]).map_err(|e| FormatError::io(&e))?;
    if got < body_len {
        return Err(err(ErrorKind::Syntax, "truncated packet"));
    }
    Ok(true)
}

fn read_up_to<R: Read>(r: &mut R, out: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < out.len() {
        match r.read(&mut out[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The parts of a packet the mapping uses.
#[derive(Default)]
struct Packet {
    status: u8,
    test_id: Option<String>,
    tags: Vec<String>,
    file: Option<(String, Vec<u8>)>,
}

/// Checks version and CRC, then reads the optional fields in protocol order.
fn decode(p: &[u8]) -> Result<Packet, String> {
    let (body, crc) = p.split_at(p.len().saturating_sub(4));
    let want = u32::from_be_bytes(crc.try_into().map_err(|_| "truncated packet".to_owned())?);
    if crc32fast::hash(body) != want {
        return Err("CRC32 mismatch".to_owned());
    }
    let flags = u16::from_be_bytes([*body.get(1).unwrap_or(&0), *body.get(2).unwrap_or(&0)]);
    if flags >> 12 != 2 {
        return Err(format!("unsupported subunit version {}", flags >> 12));
    }
    let header = 4 + usize::from(body.get(3).map_or(0, |b| b >> 6));
    let mut c = Cursor { bytes: body, pos: header };
    let mut out = Packet { status: (flags & 0x7) as u8, ..Packet::default() };
    if flags & FLAG_TIMESTAMP != 0 {
        c.take(4)?;
        c.varint()?;
    }
    if flags & FLAG_TEST_ID != 0 {
        out.test_id = Some(c.utf8()?);
    }
    if flags & FLAG_ROUTE_CODE != 0 {
        c.utf8()?;
    }
    if flags & FLAG_TAGS != 0 {
        let n = c.varint()?;
        for _ in 0..n {
            out.tags.push(c.utf8()?);
        }
    }
    if flags & FLAG_MIME_TYPE != 0 {
        c.utf8()?;
    }
    if flags & FLAG_FILE_CONTENT != 0 {
        let name = c.utf8()?;
        let len = c.varint()?;
        out.file = Some((name, c.take(len)?.to_vec()));
    }
    Ok(out)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len()).ok_or("field runs past the packet end")?;
        let s = self.bytes.get(self.pos..end).ok_or("field runs past the packet end")?;
        self.pos = end;
        Ok(s)
    }

    /// Subunit's number: the top two bits of the first byte give how many bytes follow.
    fn varint(&mut self) -> Result<usize, String> {
        let first = *self.take(1)?.first().unwrap_or(&0);
        let mut v = usize::from(first & 0x3F);
        for b in self.take(usize::from(first >> 6))? {
            v = (v << 8) | usize::from(*b);
        }
        Ok(v)
    }

    fn utf8(&mut self) -> Result<String, String> {
        let n = self.varint()?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "invalid UTF-8 in a string field".to_owned())
    }
}

/// Keeps attachment text and turns final statuses into results.
fn apply<F>(p: Packet, texts: &mut HashMap<String, String>, sink: &Sink<'_, F>) -> Result<Option<ResultInput>, String> {
    let Some(id) = p.test_id else { return Ok(None) };
    if let Some((name, bytes)) = p.file
        && matches!(name.as_str(), "traceback" | "reason")
    {
        let t = texts.entry(id.clone()).or_default();
        if t.len() < MAX_KEPT_TEXT {
            t.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    let (outcome, label) = match p.status {
        3 => ("PASSED", None),
        4 => ("FAILED", Some("unexpected success")),
        5 => ("INFO", Some("skipped")),
        6 => ("FAILED", None),
        7 => ("INFO", Some("expected failure")),
        _ => return Ok(None), // undefined / exists / inprogress are not final
    };
    let outcome = check_outcome(outcome, &sink.opts().outcomes)?;
    let detail =
        texts.remove(&id).and_then(|t| t.lines().rev().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned));
    let note = match (label, detail) {
        (Some(l), Some(d)) => Some(format!("{l}: {d}")),
        (Some(l), None) => Some(l.to_owned()),
        (None, d) if outcome != "PASSED" => d,
        _ => None,
    };
    let mut r = result(sink.name(&id), outcome, note);
    if !p.tags.is_empty() {
        r.data.insert("tags".to_owned(), p.tags);
    }
    Ok(Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(flags: u16, fields: &[u8]) -> Vec<u8> {
        let len = 1 + 2 + 1 + fields.len() + 4;
        let mut p = vec![SIGNATURE];
        p.extend_from_slice(&flags.to_be_bytes());
        p.push(len as u8);
        p.extend_from_slice(fields);
        let crc = crc32fast::hash(&p);
        p.extend_from_slice(&crc.to_be_bytes());
        p
    }

    fn run(bytes: &[u8]) -> Result<Vec<ResultInput>, FormatError> {
        let mut out = Vec::new();
        parse(bytes, &ParseOptions::default(), |r| {
            out.push(r);
            Ok::<(), FormatError>(())
        })?;
        Ok(out)
    }

    #[test]
    fn statuses_and_errors() {
        let mut s = packet(0x2000 | FLAG_TEST_ID | 3, b"\x01a");
        s.extend(packet(0x2000 | FLAG_TEST_ID | 1, b"\x01b"));
        s.extend(packet(0x2000 | FLAG_TEST_ID | 7, b"\x01c"));
        let r = run(&s).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[1].outcome.as_str(), r[1].note.as_deref()), ("INFO", Some("expected failure")));
        let mut bad = s.clone();
        bad[5] ^= 1;
        assert_eq!(run(&bad).unwrap_err().to_string(), "packet 1 (byte 0): CRC32 mismatch");
        assert!(run(&s[..s.len() - 2]).unwrap_err().to_string().contains("truncated"));
        assert!(run(b"hello").unwrap_err().to_string().contains("signature"));
        assert!(run(&packet(0x3000 | 3, b"")).unwrap_err().to_string().contains("version"));
    }
}
