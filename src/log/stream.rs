//! The change stream: the wire format of log entries shipped between nodes (the body of
//! `GET /api/verdict/v1/changes` and of bundle files), with version vectors. Pure: it reads
//! and writes any `BufRead`/`Write` and verifies every chain link; what is stored where is
//! the service's business.
//!
//! A change stream is JSON Lines (zstd-compressed in bundles and when asked for):
//!
//! ```text
//! {"format":"verdict-changes","version":1,"node":N,"created":T,"since":{O:{"seq":k,"hash":H}},"heads":{O:{"seq":n,"hash":H}}}
//! {"origin":O,"seq":k+1,"kind":"result","ts":T,"hash":H,"body":{…canonical JSON…}}
//! …
//! {"end":{"entries":n,"more":false,"digest":D}}
//! ```
//!
//! `since` gives, for every origin the stream carries entries of, the position they follow
//! and the producer's chain hash there, so a stream verifies on its own: every entry must
//! chain from it (see `docs/replication.md`). `digest` is blake3 over the header line (with
//! its newline) followed by every entry's 32-byte chain hash in stream order: with the
//! chain hashes, which cover every field of an entry, it makes any change, reordering or
//! truncation of the stream detectable, at 32 bytes of hashing per entry.

use super::{Entry, Gap, Hash, Kind};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

/// Stream format name and version written in every header. Version 2 streams may carry
/// `pruned` lines (gaps a horizon made in an origin's chain); a producer writes 2 only
/// when its stream does, so nodes that never pruned still talk to older builds.
pub const FORMAT: &str = "verdict-changes";
pub const VERSION: u32 = 1;
pub const VERSION_WITH_GAPS: u32 = 2;

/// Longest line a stream may contain (a body is bounded by the request size limit).
const MAX_LINE: usize = 64 * 1024 * 1024;

/// Origin → highest contiguous origin sequence held.
pub type VersionVector = BTreeMap<String, u64>;

/// Why a stream, or where it joins a store's chains, is refused; or a bad version vector.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// A version vector argument does not parse.
    #[error("invalid version vector {text:?}: {reason} (expected ORIGIN:SEQ,ORIGIN:SEQ,…)")]
    BadVersionVector { text: String, reason: String },
    /// The stream is not a well-formed change stream (truncated, not JSON, wrong format).
    #[error("malformed change stream: {0}")]
    Malformed(String),
    /// An entry or the stream's digest does not verify: tampered or corrupt.
    #[error("refused: origin {origin} entry #{seq}: {reason}")]
    Tampered { origin: String, seq: u64, reason: String },
    /// The stream's digest does not match its content.
    #[error("refused: the stream's digest does not match its content (tampered or corrupt)")]
    Digest,
    /// The peer's chain of an origin differs from ours at or before `seq`.
    #[error(
        "refused: origin {origin} diverged: the peer's entry #{seq} differs from this store's (a forked or tampered chain; run `verdict audit`)"
    )]
    Diverged { origin: String, seq: u64 },
    /// The stream starts past what this store holds of an origin.
    #[error("refused: origin {origin}: the stream starts after #{start} but this store holds only up to #{held}")]
    Gap { origin: String, start: u64, held: u64 },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether `s` looks like a node id: 1 to 64 lowercase hex characters.
pub fn is_origin(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parses `ORIGIN:SEQ,ORIGIN:SEQ` (empty: nothing held).
pub fn parse_vv(text: &str) -> Result<VersionVector, StreamError> {
    let bad = |reason: String| StreamError::BadVersionVector { text: text.to_owned(), reason };
    let mut vv = VersionVector::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (origin, seq) = item.split_once(':').ok_or_else(|| bad(format!("{item:?} has no ':'")))?;
        if !is_origin(origin) {
            return Err(bad(format!("{origin:?} is not a node id")));
        }
        let seq: u64 = seq.parse().map_err(|_| bad(format!("{seq:?} is not a sequence number")))?;
        vv.insert(origin.to_owned(), seq);
    }
    Ok(vv)
}

/// The text form of a version vector (`ORIGIN:SEQ,…`, sorted by origin).
pub fn format_vv(vv: &VersionVector) -> String {
    vv.iter().map(|(o, s)| format!("{o}:{s}")).collect::<Vec<_>>().join(",")
}

/// A position in an origin's chain and the chain hash there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub seq: u64,
    pub hash: String,
}

impl Position {
    pub fn new(seq: u64, hash: &Hash) -> Position {
        Position { seq, hash: hash.to_hex() }
    }

    pub fn hash(&self) -> Option<Hash> {
        Hash::from_hex(&self.hash)
    }
}

/// The first line of a change stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamHeader {
    pub format: String,
    pub version: u32,
    /// The producing node.
    pub node: String,
    /// When the stream was made, microseconds since the epoch.
    pub created: i64,
    /// Per origin carried: the position its first entry follows, with the hash there.
    pub since: BTreeMap<String, Position>,
    /// The producer's chain heads when the stream was made.
    pub heads: BTreeMap<String, Position>,
}

/// The last line's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEnd {
    /// Entries in the stream.
    pub entries: u64,
    /// Whether the producer holds more (the stream stopped at its limit).
    pub more: bool,
    /// blake3 (hex) of the header line and every entry's chain hash.
    pub digest: String,
}

#[derive(Serialize, Deserialize)]
struct Trailer {
    end: StreamEnd,
}

/// One entry line as read (borrowing from the line buffer).
#[derive(Deserialize)]
struct WireEntry<'a> {
    #[serde(borrow)]
    origin: Cow<'a, str>,
    seq: u64,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    ts: i64,
    #[serde(borrow)]
    hash: Cow<'a, str>,
    #[serde(borrow)]
    body: &'a serde_json::value::RawValue,
}

/// Writes a change stream: header, entries, trailer; keeps the digest.
pub struct StreamWriter<W: Write> {
    out: W,
    digest: blake3::Hasher,
    entries: u64,
    /// Bytes written so far (header and entry lines).
    bytes: u64,
    line: Vec<u8>,
}

/// Room kept for the trailer line when a stream is bounded in bytes (it takes ~130).
const TRAILER_ROOM: u64 = 256;

impl<W: Write> StreamWriter<W> {
    /// Writes the header line.
    pub fn start(out: W, header: &StreamHeader) -> Result<StreamWriter<W>, StreamError> {
        let mut w =
            StreamWriter { out, digest: blake3::Hasher::new(), entries: 0, bytes: 0, line: Vec::with_capacity(4096) };
        let mut line = serde_json::to_vec(header).map_err(|e| StreamError::Malformed(e.to_string()))?;
        line.push(b'\n');
        w.digest.update(&line);
        w.out.write_all(&line)?;
        w.bytes = line.len() as u64;
        Ok(w)
    }

    /// Writes one entry line. The body is embedded verbatim: it is canonical JSON already,
    /// and the chain hash covers exactly those bytes.
    pub fn entry(&mut self, e: &Entry) -> Result<(), StreamError> {
        self.entry_within(e, u64::MAX).map(|_| ())
    }

    /// Writes one entry line unless the stream would then pass `max_bytes` with its
    /// trailer; the first entry is always written, so a bounded stream still makes
    /// progress. Returns whether the entry was written.
    pub fn entry_within(&mut self, e: &Entry, max_bytes: u64) -> Result<bool, StreamError> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        line.extend_from_slice(b"{\"origin\":");
        json_str(&mut line, &e.origin);
        line.extend_from_slice(format!(",\"seq\":{},\"kind\":\"", e.origin_seq).as_bytes());
        line.extend_from_slice(e.kind.as_str().as_bytes());
        line.extend_from_slice(format!("\",\"ts\":{},\"hash\":\"", e.ts).as_bytes());
        line.extend_from_slice(e.hash.to_hex().as_bytes());
        line.extend_from_slice(b"\",\"body\":");
        line.extend_from_slice(e.body.as_bytes());
        line.extend_from_slice(b"}\n");
        let len = line.len() as u64;
        if self.entries > 0 && self.bytes.saturating_add(len).saturating_add(TRAILER_ROOM) > max_bytes {
            self.line = line;
            return Ok(false);
        }
        self.digest.update(&e.hash.0);
        let out = self.out.write_all(&line);
        self.line = line;
        self.entries += 1;
        self.bytes += len;
        out?;
        Ok(true)
    }

    /// Writes a gap line: positions `from..=to` of the origin were pruned, and the next
    /// entry of that origin follows `hash` (a version-2 stream). Its bytes go into the digest.
    pub fn gap(&mut self, g: &Gap) -> Result<(), StreamError> {
        let line = gap_line(g);
        self.digest.update(line.as_bytes());
        self.out.write_all(line.as_bytes())?;
        self.bytes += line.len() as u64;
        Ok(())
    }

    /// Writes the trailer and returns the sink (to flush or finish it).
    pub fn finish(mut self, more: bool) -> Result<(W, StreamEnd), StreamError> {
        let end = StreamEnd { entries: self.entries, more, digest: self.digest.finalize().to_hex().to_string() };
        let mut line =
            serde_json::to_vec(&Trailer { end: end.clone() }).map_err(|e| StreamError::Malformed(e.to_string()))?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        self.out.flush()?;
        Ok((self.out, end))
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }
}

/// The wire form of a gap, with its newline.
#[derive(Serialize, Deserialize)]
struct GapLine {
    pruned: WireGap,
}

#[derive(Serialize, Deserialize)]
struct WireGap {
    from: u64,
    hash: String,
    origin: String,
    to: u64,
}

fn gap_line(g: &Gap) -> String {
    let wire = GapLine { pruned: WireGap { from: g.from, hash: g.hash.to_hex(), origin: g.origin.clone(), to: g.to } };
    // Serializing plain strings and integers cannot fail.
    let mut line = serde_json::to_string(&wire).unwrap_or_default();
    line.push('\n');
    line
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // Serializing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Reads and verifies a change stream: every entry must continue its origin's chain from
/// the header's `since` position; the trailer's count and digest must match.
pub struct StreamReader<R: BufRead> {
    input: R,
    header: StreamHeader,
    /// Per origin: the last position verified and its hash.
    tips: BTreeMap<String, (u64, Hash)>,
    digest: blake3::Hasher,
    entries: u64,
    end: Option<StreamEnd>,
    line: Vec<u8>,
    /// Gaps read (and verified to continue their chains) since the last `take_gaps`.
    gaps: Vec<Gap>,
}

impl<R: BufRead> StreamReader<R> {
    /// Reads the header line.
    pub fn open(mut input: R) -> Result<StreamReader<R>, StreamError> {
        let mut line = Vec::new();
        read_line(&mut input, &mut line)?;
        if line.is_empty() {
            return Err(StreamError::Malformed("empty stream (no header line)".into()));
        }
        let header: StreamHeader = serde_json::from_slice(&line)
            .map_err(|e| StreamError::Malformed(format!("header line does not parse: {e}")))?;
        if header.format != FORMAT || !(header.version == VERSION || header.version == VERSION_WITH_GAPS) {
            return Err(StreamError::Malformed(format!(
                "format {:?} version {} is not {FORMAT} version {VERSION}",
                header.format, header.version
            )));
        }
        let mut tips = BTreeMap::new();
        for (origin, p) in &header.since {
            let hash = p
                .hash()
                .ok_or_else(|| StreamError::Malformed(format!("header: hash of {origin} at #{} is not hex", p.seq)))?;
            if !is_origin(origin) {
                return Err(StreamError::Malformed(format!("header: {origin:?} is not a node id")));
            }
            tips.insert(origin.clone(), (p.seq, hash));
        }
        let mut digest = blake3::Hasher::new();
        digest.update(&line);
        digest.update(b"\n");
        Ok(StreamReader { input, header, tips, digest, entries: 0, end: None, line, gaps: Vec::new() })
    }

    pub fn header(&self) -> &StreamHeader {
        &self.header
    }

    /// The trailer, once [`StreamReader::next_entry`] has returned `None`.
    pub fn end(&self) -> Option<&StreamEnd> {
        self.end.as_ref()
    }

    /// The next verified entry, or `None` after a verified trailer.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, StreamError> {
        Ok(self.next_verified()?.map(|(e, _)| e))
    }

    /// The next verified entry with the predecessor hash it was verified to follow (see
    /// `Writer::import_verified`), or `None` after a verified trailer.
    pub fn next_verified(&mut self) -> Result<Option<(Entry, Hash)>, StreamError> {
        if self.end.is_some() {
            return Ok(None);
        }
        read_line(&mut self.input, &mut self.line)?;
        while self.line.starts_with(b"{\"pruned\"") {
            self.read_gap()?;
            read_line(&mut self.input, &mut self.line)?;
        }
        if self.line.is_empty() {
            return Err(StreamError::Malformed(format!(
                "stream ends after {} entries without its trailer (truncated)",
                self.entries
            )));
        }
        if self.line.starts_with(b"{\"end\"") {
            let t: Trailer = serde_json::from_slice(&self.line)
                .map_err(|e| StreamError::Malformed(format!("trailer does not parse: {e}")))?;
            let digest = std::mem::replace(&mut self.digest, blake3::Hasher::new()).finalize().to_hex().to_string();
            if t.end.digest != digest {
                return Err(StreamError::Digest);
            }
            if t.end.entries != self.entries {
                return Err(StreamError::Malformed(format!(
                    "trailer counts {} entries, the stream has {}",
                    t.end.entries, self.entries
                )));
            }
            self.end = Some(t.end);
            return Ok(None);
        }
        let (entry, prev) = self.parse_entry()?;
        self.digest.update(&entry.hash.0);
        self.entries += 1;
        Ok(Some((entry, prev)))
    }

    /// Verifies a gap line: it must start right after its origin's tip; the tip moves to
    /// its end and hash.
    fn read_gap(&mut self) -> Result<(), StreamError> {
        if self.header.version < VERSION_WITH_GAPS {
            return Err(StreamError::Malformed("a pruned line in a version-1 stream".into()));
        }
        let g: GapLine = serde_json::from_slice(&self.line)
            .map_err(|e| StreamError::Malformed(format!("pruned line does not parse: {e}")))?;
        let g = g.pruned;
        let tampered = |reason: String| StreamError::Tampered { origin: g.origin.clone(), seq: g.from, reason };
        let hash = hex32(&g.hash).ok_or_else(|| tampered("pruned hash is not 64 hex characters".into()))?;
        let Some((tip_seq, _)) = self.tips.get(&g.origin).copied() else {
            return Err(StreamError::Malformed(format!("gap of origin {} not announced in the header", g.origin)));
        };
        if g.from != tip_seq + 1 || g.to < g.from {
            return Err(tampered(format!("pruned #{}..#{} does not follow #{tip_seq}", g.from, g.to)));
        }
        self.digest.update(&self.line);
        self.digest.update(b"\n");
        self.tips.insert(g.origin.clone(), (g.to, hash));
        self.gaps.push(Gap { origin: g.origin, from: g.from, to: g.to, hash });
        Ok(())
    }

    /// The gaps read since the last call (an importer records them before the entries).
    pub fn take_gaps(&mut self) -> Vec<Gap> {
        std::mem::take(&mut self.gaps)
    }

    fn parse_entry(&mut self) -> Result<(Entry, Hash), StreamError> {
        let w = match fast_entry(&self.line) {
            Some(w) => w,
            None => {
                let w: WireEntry = serde_json::from_slice(&self.line).map_err(|e| {
                    StreamError::Malformed(format!("entry line {} does not parse: {e}", self.entries + 2))
                })?;
                Line {
                    origin: w.origin,
                    seq: w.seq,
                    kind: w.kind,
                    ts: w.ts,
                    hash: w.hash,
                    body: Cow::Borrowed(w.body.get()),
                }
            }
        };
        let tampered = |reason: String| StreamError::Tampered { origin: w.origin.to_string(), seq: w.seq, reason };
        let kind = Kind::parse(&w.kind).ok_or_else(|| tampered(format!("unknown kind {:?}", w.kind)))?;
        let hash = hex32(&w.hash).ok_or_else(|| tampered("hash is not 64 hex characters".into()))?;
        let Some((tip_seq, tip_hash)) = self.tips.get(w.origin.as_ref()).copied() else {
            return Err(StreamError::Malformed(format!("entry of origin {} not announced in the header", w.origin)));
        };
        if w.seq != tip_seq + 1 {
            return Err(tampered(format!("out of order: expected #{} after #{tip_seq}", tip_seq + 1)));
        }
        let entry =
            Entry { origin: w.origin.into_owned(), origin_seq: w.seq, kind, ts: w.ts, body: w.body.into_owned(), hash };
        if !entry.follows(&tip_hash) {
            return Err(StreamError::Tampered {
                origin: entry.origin,
                seq: entry.origin_seq,
                reason: "hash does not match the entry's content and its predecessor (tampered or corrupt)".into(),
            });
        }
        if let Some(tip) = self.tips.get_mut(&entry.origin) {
            *tip = (entry.origin_seq, entry.hash);
        }
        Ok((entry, tip_hash))
    }

    /// Per origin, the last position verified so far.
    pub fn tips(&self) -> &BTreeMap<String, (u64, Hash)> {
        &self.tips
    }
}

/// An entry line's fields.
struct Line<'a> {
    origin: Cow<'a, str>,
    seq: u64,
    kind: Cow<'a, str>,
    ts: i64,
    hash: Cow<'a, str>,
    body: Cow<'a, str>,
}

/// Parses a line exactly as [`StreamWriter::entry`] writes it, without a JSON parser (a
/// profile at a million entries shows it); `None` for anything else, which then goes
/// through `serde_json`. The body is taken verbatim: the chain hash covers exactly its
/// bytes, and the importer decodes it.
fn fast_entry(line: &[u8]) -> Option<Line<'_>> {
    let text = std::str::from_utf8(line).ok()?;
    let rest = text.strip_prefix("{\"origin\":\"")?;
    let (origin, rest) = rest.split_once('"')?;
    if origin.contains('\\') {
        return None;
    }
    let rest = rest.strip_prefix(",\"seq\":")?;
    let (seq, rest) = rest.split_once(',')?;
    let rest = rest.strip_prefix("\"kind\":\"")?;
    let (kind, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(",\"ts\":")?;
    let (ts, rest) = rest.split_once(',')?;
    let rest = rest.strip_prefix("\"hash\":\"")?;
    let (hash, rest) = rest.split_once('"')?;
    let body = rest.strip_prefix(",\"body\":")?.strip_suffix('}')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(seq) || !digits(ts.strip_prefix('-').unwrap_or(ts)) || !body.starts_with('{') {
        return None;
    }
    Some(Line {
        origin: Cow::Borrowed(origin),
        seq: seq.parse().ok()?,
        kind: Cow::Borrowed(kind),
        ts: ts.parse().ok()?,
        hash: Cow::Borrowed(hash),
        body: Cow::Borrowed(body),
    })
}

/// Decodes 64 hex characters (faster than the general decoder, which shows in a profile
/// at a million entries).
fn hex32(s: &str) -> Option<Hash> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nibble(b[2 * i])? << 4) | nibble(b[2 * i + 1])?;
    }
    Some(Hash(out))
}

fn read_line<R: BufRead>(input: &mut R, line: &mut Vec<u8>) -> Result<(), StreamError> {
    line.clear();
    let n = std::io::Read::take(&mut *input, MAX_LINE as u64 + 1).read_until(b'\n', line)?;
    if n > MAX_LINE {
        return Err(StreamError::Malformed(format!("a line is longer than {MAX_LINE} bytes")));
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if !line.is_empty() {
        return Err(StreamError::Malformed("the last line is cut off (truncated stream)".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(origin: &str, n: u64) -> Vec<Entry> {
        let mut prev = Hash::GENESIS;
        (1..=n)
            .map(|i| {
                let e = Entry::seal(&prev, origin, i, Kind::Testcase, i as i64, format!(r#"{{"name":"t{i}"}}"#));
                prev = e.hash;
                e
            })
            .collect()
    }

    /// A stream over a chain with positions 3..=5 pruned: the gap line carries the chain
    /// across; a gap that does not follow its tip, or any change to it, is refused.
    #[test]
    fn gap_lines_carry_a_chain_over_pruned_positions() {
        let c = chain("aa", 7);
        let gap = Gap { origin: "aa".into(), from: 3, to: 5, hash: c[4].hash };
        let write = |gap: &Gap, version: u32| {
            let header = StreamHeader {
                format: FORMAT.into(),
                version,
                node: "aa".into(),
                created: 0,
                since: [("aa".to_owned(), Position::new(0, &Hash::GENESIS))].into(),
                heads: BTreeMap::new(),
            };
            let mut w = StreamWriter::start(Vec::new(), &header).unwrap();
            w.entry(&c[0]).unwrap();
            w.entry(&c[1]).unwrap();
            w.gap(gap).unwrap();
            w.entry(&c[5]).unwrap();
            w.entry(&c[6]).unwrap();
            w.finish(false).unwrap().0
        };
        let read = |bytes: Vec<u8>| -> Result<(Vec<u64>, Vec<Gap>), StreamError> {
            let mut r = StreamReader::open(&bytes[..])?;
            let mut seqs = Vec::new();
            while let Some(e) = r.next_entry()? {
                seqs.push(e.origin_seq);
            }
            Ok((seqs, r.take_gaps()))
        };
        let (seqs, gaps) = read(write(&gap, VERSION_WITH_GAPS)).unwrap();
        assert_eq!(seqs, [1, 2, 6, 7]);
        assert_eq!(gaps, std::slice::from_ref(&gap));
        assert!(read(write(&gap, VERSION)).is_err(), "a version-1 stream has no gaps");
        let late = Gap { from: 4, ..gap.clone() };
        assert!(read(write(&late, VERSION_WITH_GAPS)).is_err(), "a gap must start right after the tip");
        let wrong = Gap { hash: c[3].hash, ..gap.clone() };
        assert!(read(write(&wrong, VERSION_WITH_GAPS)).is_err(), "the next entry must follow the gap's hash");
        let text = String::from_utf8(write(&gap, VERSION_WITH_GAPS)).unwrap().replace("\"to\":5", "\"to\":4");
        assert!(read(text.into_bytes()).is_err(), "a changed gap line breaks the chain or the digest");
    }

    fn stream(entries: &[Entry], since: u64, prev: &Hash) -> Vec<u8> {
        let origin = entries[0].origin.clone();
        let header = StreamHeader {
            format: FORMAT.into(),
            version: VERSION,
            node: origin.clone(),
            created: 0,
            since: [(origin.clone(), Position::new(since, prev))].into(),
            heads: BTreeMap::new(),
        };
        let mut w = StreamWriter::start(Vec::new(), &header).unwrap();
        for e in entries {
            w.entry(e).unwrap();
        }
        w.finish(false).unwrap().0
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Entry>, StreamError> {
        let mut r = StreamReader::open(bytes)?;
        let mut out = Vec::new();
        while let Some(e) = r.next_entry()? {
            out.push(e);
        }
        Ok(out)
    }

    #[test]
    fn round_trip_and_tamper() {
        let entries = chain("ab12", 5);
        let bytes = stream(&entries, 0, &Hash::GENESIS);
        assert_eq!(read_all(&bytes).unwrap(), entries);
        // A suffix verifies from its since position.
        let tail = stream(&entries[2..], 2, &entries[1].hash);
        assert_eq!(read_all(&tail).unwrap(), entries[2..].to_vec());
        // A changed body breaks the chain.
        let text = String::from_utf8(bytes.clone()).unwrap().replace(r#""name":"t3""#, r#""name":"x3""#);
        assert!(matches!(read_all(text.as_bytes()), Err(StreamError::Tampered { seq: 3, .. })));
        // Truncation is detected.
        let cut = &bytes[..bytes.len() - 20];
        assert!(matches!(read_all(cut), Err(StreamError::Malformed(_))));
        // A dropped entry line is out of order.
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.contains(r#""seq":2,"#)).collect();
        assert!(read_all(format!("{}\n", lines.join("\n")).as_bytes()).is_err());
    }

    #[test]
    fn fast_and_general_parsers_agree() {
        let entries = chain("ab12", 2);
        let bytes = stream(&entries, 0, &Hash::GENESIS);
        let text = String::from_utf8(bytes).unwrap();
        let line = text.lines().nth(1).unwrap();
        let fast = fast_entry(line.as_bytes()).unwrap();
        let slow: WireEntry = serde_json::from_str(line).unwrap();
        assert_eq!((fast.origin.as_ref(), fast.seq, fast.kind.as_ref(), fast.ts), ("ab12", 1, "testcase", 1));
        assert_eq!((fast.hash.as_ref(), fast.body.as_ref()), (slow.hash.as_ref(), slow.body.get()));
        // Other spellings of the same entry take the general path and still verify.
        let spaced = text.replacen("{\"origin\":", "{ \"origin\": ", 1);
        assert!(fast_entry(spaced.lines().nth(1).unwrap().as_bytes()).is_none());
        assert_eq!(read_all(spaced.as_bytes()).unwrap(), entries);
        for bad in [
            "{\"origin\":\"ab\",\"seq\":x,",
            "{\"origin\":\"ab\",\"seq\":1,\"kind\":\"t\",\"ts\":1,\"hash\":\"h\",\"body\":[]}",
        ] {
            assert!(fast_entry(bad.as_bytes()).is_none());
        }
    }

    #[test]
    fn version_vectors_parse() {
        let vv = parse_vv("ab:3, cd:0").unwrap();
        assert_eq!(vv.get("ab"), Some(&3));
        assert_eq!(format_vv(&vv), "ab:3,cd:0");
        assert!(parse_vv("AB:1").is_err());
        assert!(parse_vv("ab").is_err());
        assert!(parse_vv("ab:x").is_err());
        assert!(parse_vv("").unwrap().is_empty());
    }
}
