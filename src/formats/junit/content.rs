//! Streaming scan of an element body the mapping does not need in full (`system-out`,
//! failure text, property text): consumes it through its end tag, hands decoded text to a
//! sink that keeps only what it needs, and never buffers more than a small, fixed amount.

use std::io::BufRead;

/// Receives the decoded character data of the scanned element.
pub trait TextSink {
    fn text(&mut self, bytes: &[u8]);
    /// `true` once the sink needs no more text (the scan then only looks for the end).
    fn satisfied(&self) -> bool {
        false
    }
}

/// Keeps nothing.
pub struct Discard;

impl TextSink for Discard {
    fn text(&mut self, _: &[u8]) {}
    fn satisfied(&self) -> bool {
        true
    }
}

/// Keeps the first `max` bytes.
pub struct Capture {
    pub bytes: Vec<u8>,
    max: usize,
    pub truncated: bool,
}

impl Capture {
    pub fn new(max: usize) -> Self {
        Capture { bytes: Vec::new(), max, truncated: false }
    }

    /// The kept text; a multi-byte char cut by the cap is dropped, XML line ends normalised.
    pub fn into_string(self) -> Option<String> {
        let text = utf8_prefix(self.bytes, self.truncated)?;
        Some(text.replace("\r\n", "\n").replace('\r', "\n"))
    }
}

impl TextSink for Capture {
    fn text(&mut self, bytes: &[u8]) {
        let room = self.max.saturating_sub(self.bytes.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        self.bytes.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
    }
    fn satisfied(&self) -> bool {
        self.truncated
    }
}

/// Keeps the first non-blank line (at most `max` bytes of it).
pub struct FirstLine {
    line: Vec<u8>,
    max: usize,
    found: bool,
}

impl FirstLine {
    pub fn new(max: usize) -> Self {
        FirstLine { line: Vec::new(), max, found: false }
    }

    pub fn into_line(self) -> Option<String> {
        let text = utf8_prefix(self.line, true)?;
        let t = text.trim();
        (!t.is_empty()).then(|| t.to_owned())
    }
}

impl TextSink for FirstLine {
    fn text(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.found {
                return;
            }
            if b == b'\n' || b == b'\r' {
                if self.line.iter().any(|c| !c.is_ascii_whitespace()) {
                    self.found = true;
                } else {
                    self.line.clear();
                }
            } else if self.line.len() < self.max {
                self.line.push(b);
            } else {
                self.found = true;
            }
        }
    }
    fn satisfied(&self) -> bool {
        self.found
    }
}

/// Collects `[[ATTACHMENT|path]]` lines (GitLab / Jenkins convention).
pub struct Attachments {
    line: Vec<u8>,
    overflow: bool,
    pub found: Vec<String>,
}

/// Lines longer than this cannot be attachment markers worth keeping.
const MAX_ATTACHMENT_LINE: usize = 4096;

impl Attachments {
    pub fn new() -> Self {
        Attachments { line: Vec::new(), overflow: false, found: Vec::new() }
    }

    fn end_line(&mut self) {
        if !self.overflow
            && let Ok(text) = std::str::from_utf8(&self.line)
            && let Some(path) = text.trim().strip_prefix("[[ATTACHMENT|").and_then(|r| r.strip_suffix("]]"))
            && !path.is_empty()
            && !self.found.iter().any(|f| f == path)
        {
            self.found.push(path.to_owned());
        }
        self.line.clear();
        self.overflow = false;
    }

    pub fn finish(mut self) -> Vec<String> {
        self.end_line();
        self.found
    }
}

impl TextSink for Attachments {
    fn text(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' || b == b'\r' {
                self.end_line();
            } else if self.line.len() < MAX_ATTACHMENT_LINE {
                self.line.push(b);
            } else {
                self.overflow = true;
            }
        }
    }
}

/// Valid UTF-8 of `bytes`; when `cut` the text may end inside a char, which is dropped.
fn utf8_prefix(bytes: Vec<u8>, cut: bool) -> Option<String> {
    match String::from_utf8(bytes) {
        Ok(s) => Some(s),
        Err(e) if cut && e.utf8_error().error_len().is_none() => {
            let valid = e.utf8_error().valid_up_to();
            let mut b = e.into_bytes();
            b.truncate(valid);
            String::from_utf8(b).ok()
        }
        Err(_) => None,
    }
}

/// Why a scan failed (the caller adds the element path).
#[derive(Debug, PartialEq)]
pub enum ScanError {
    Io(String),
    Eof,
    Syntax(String),
}

#[derive(Clone, Copy)]
enum State {
    Text,
    Ref,
    Lt,
    Bang,
    CData(u8),
    Comment(u8),
    Pi(bool),
    EndTag,
    StartTag { quote: Option<u8>, slash: bool },
}

/// Longest name, entity or `<!` lookahead kept while scanning.
const SMALL: usize = 1024;

/// Scans from just after `<name …>` through the matching `</name>`.
pub fn scan<R: BufRead, S: TextSink>(
    reader: &mut R,
    name: &str,
    sink: &mut S,
    max_depth: usize,
) -> Result<(), ScanError> {
    let mut sc = Scanner { state: State::Text, small: Vec::new(), open: Vec::new(), max_depth };
    loop {
        let buf = reader.fill_buf().map_err(|e| ScanError::Io(e.to_string()))?;
        if buf.is_empty() {
            return Err(ScanError::Eof);
        }
        let (used, done) = sc.feed(buf, name, sink)?;
        reader.consume(used);
        if done {
            return Ok(());
        }
    }
}

struct Scanner {
    state: State,
    small: Vec<u8>,
    /// Names of nested elements open inside the scanned one.
    open: Vec<Vec<u8>>,
    max_depth: usize,
}

impl Scanner {
    /// Processes `buf`; returns bytes used and whether the end tag was reached.
    fn feed<S: TextSink>(&mut self, buf: &[u8], name: &str, sink: &mut S) -> Result<(usize, bool), ScanError> {
        let mut i = 0;
        while i < buf.len() {
            if let State::Text = self.state {
                let rest = buf.get(i..).unwrap_or_default();
                let stop = rest.iter().position(|b| *b == b'<' || *b == b'&').unwrap_or(rest.len());
                if !sink.satisfied() {
                    sink.text(rest.get(..stop).unwrap_or_default());
                }
                i += stop;
                let Some(&b) = buf.get(i) else { break };
                self.state = if b == b'<' { State::Lt } else { State::Ref };
                self.small.clear();
                i += 1;
                continue;
            }
            let Some(&b) = buf.get(i) else { break };
            i += 1;
            if self.byte(b, name, sink)? {
                return Ok((i, true));
            }
        }
        Ok((i, false))
    }

    /// One byte of markup; `true` when the scanned element's end tag is complete.
    fn byte<S: TextSink>(&mut self, b: u8, name: &str, sink: &mut S) -> Result<bool, ScanError> {
        match self.state {
            State::Text => {}
            State::Ref => self.reference(b, sink)?,
            State::Lt => {
                self.state = match b {
                    b'!' => State::Bang,
                    b'?' => State::Pi(false),
                    b'/' => State::EndTag,
                    _ => {
                        self.push_small(b)?;
                        State::StartTag { quote: None, slash: false }
                    }
                }
            }
            State::Bang => self.bang(b)?,
            State::CData(n) => self.cdata(b, n, sink),
            State::Comment(n) => {
                self.state = match (b, n) {
                    (b'-', n) => State::Comment((n + 1).min(2)),
                    (b'>', 2) => State::Text,
                    _ => State::Comment(0),
                }
            }
            State::Pi(q) => {
                self.state = match (b, q) {
                    (b'>', true) => State::Text,
                    (b'?', _) => State::Pi(true),
                    _ => State::Pi(false),
                }
            }
            State::EndTag => {
                if b == b'>' {
                    return self.end_tag(name);
                }
                self.push_small(b)?;
            }
            State::StartTag { quote, slash } => self.start_tag(b, quote, slash)?,
        }
        Ok(false)
    }

    fn push_small(&mut self, b: u8) -> Result<(), ScanError> {
        if self.small.len() >= SMALL {
            return Err(ScanError::Syntax("markup name or reference too long".into()));
        }
        self.small.push(b);
        Ok(())
    }

    fn reference<S: TextSink>(&mut self, b: u8, sink: &mut S) -> Result<(), ScanError> {
        if b != b';' {
            return self.push_small(b);
        }
        let name = String::from_utf8_lossy(&self.small).into_owned();
        let ch = resolve_entity(&name).ok_or_else(|| ScanError::Syntax(format!("undefined entity &{name};")))?;
        let mut utf8 = [0u8; 4];
        if !sink.satisfied() {
            sink.text(ch.encode_utf8(&mut utf8).as_bytes());
        }
        self.state = State::Text;
        Ok(())
    }

    fn bang(&mut self, b: u8) -> Result<(), ScanError> {
        self.push_small(b)?;
        if self.small == b"--" {
            self.state = State::Comment(0);
        } else if self.small == b"[CDATA[" {
            self.state = State::CData(0);
        } else if !b"[CDATA[".starts_with(&self.small) && !b"--".starts_with(&self.small) {
            let what = String::from_utf8_lossy(&self.small).into_owned();
            return Err(ScanError::Syntax(format!("unexpected markup <!{what} in element content")));
        }
        Ok(())
    }

    /// CDATA content; `n` = pending `]` count that may start the `]]>` terminator.
    fn cdata<S: TextSink>(&mut self, b: u8, n: u8, sink: &mut S) {
        let keep = !sink.satisfied();
        self.state = match (b, n) {
            (b']', 2) => {
                if keep {
                    sink.text(b"]");
                }
                State::CData(2)
            }
            (b']', n) => State::CData(n + 1),
            (b'>', 2) => State::Text,
            (other, n) => {
                if keep {
                    sink.text(&b"]]"[..usize::from(n)]);
                    sink.text(&[other]);
                }
                State::CData(0)
            }
        }
    }

    fn end_tag(&mut self, name: &str) -> Result<bool, ScanError> {
        let got = self.small.trim_ascii_end().to_vec();
        self.small.clear();
        self.state = State::Text;
        let expected = self.open.pop();
        let want = expected.as_deref().unwrap_or(name.as_bytes());
        if got != want {
            return Err(ScanError::Syntax(format!(
                "end tag </{}> does not match <{}>",
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want)
            )));
        }
        Ok(expected.is_none())
    }

    /// Inside `<tag …>`: the name is kept, attributes are skipped (quotes respected).
    fn start_tag(&mut self, b: u8, quote: Option<u8>, slash: bool) -> Result<(), ScanError> {
        let in_name = self.small.last().is_some_and(|c| !c.is_ascii_whitespace());
        self.state = match (quote, b) {
            (Some(q), b) if b == q => State::StartTag { quote: None, slash: false },
            (Some(q), _) => State::StartTag { quote: Some(q), slash: false },
            (None, b'"' | b'\'') => State::StartTag { quote: Some(b), slash: false },
            (None, b'>') => {
                if !slash {
                    if self.open.len() + 1 >= self.max_depth {
                        return Err(ScanError::Syntax(format!("elements nested deeper than {}", self.max_depth)));
                    }
                    let tag = self.small.split(u8::is_ascii_whitespace).next().unwrap_or_default().to_vec();
                    self.open.push(tag);
                }
                self.small.clear();
                State::Text
            }
            (None, b'/') => State::StartTag { quote: None, slash: true },
            (None, b) => {
                if in_name && !b.is_ascii_whitespace() {
                    self.push_small(b)?;
                } else if in_name {
                    self.push_small(b' ')?;
                }
                State::StartTag { quote: None, slash: slash && b.is_ascii_whitespace() }
            }
        };
        Ok(())
    }
}

/// The five predefined entities and character references.
pub fn resolve_entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code).filter(|c| *c != '\0')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(body: &str, chunk: usize) -> Result<(String, usize), ScanError> {
        // A tiny BufReader capacity exercises markers split across chunks.
        let mut r = std::io::BufReader::with_capacity(chunk, body.as_bytes());
        let mut c = Capture::new(1 << 20);
        scan(&mut r, "x", &mut c, 8)?;
        let rest = r.fill_buf().map(<[u8]>::len).unwrap_or(0);
        Ok((c.into_string().unwrap(), rest))
    }

    #[test]
    fn decodes_text_cdata_entities() {
        for chunk in [1, 2, 3, 7, 64] {
            let (t, rest) = capture(
                "a &lt;&#x41;&#66;<![CDATA[ <b>]] ]]]>&amp;<!-- c -- -> --><y k='>'>in</y><z/>\r\nz</x>tail",
                chunk,
            )
            .unwrap();
            assert_eq!(t, "a <AB <b>]] ]&in\nz", "chunk {chunk}");
            assert!(rest > 0);
        }
    }

    #[test]
    fn errors() {
        assert_eq!(capture("abc", 4), Err(ScanError::Eof));
        assert!(matches!(capture("&foo;</x>", 4), Err(ScanError::Syntax(_))));
        assert!(matches!(capture("<a></b></x>", 4), Err(ScanError::Syntax(_))));
        assert!(matches!(capture("</y>", 4), Err(ScanError::Syntax(_))));
        assert!(matches!(capture("<!DOCTYPE x></x>", 4), Err(ScanError::Syntax(_))));
        assert!(matches!(capture(&"<a>".repeat(20), 4), Err(ScanError::Syntax(_))));
    }

    #[test]
    fn sinks() {
        let mut f = FirstLine::new(100);
        f.text(b"\n  \r\n  first line  \nsecond");
        assert_eq!(f.into_line().as_deref(), Some("first line"));
        let mut a = Attachments::new();
        a.text(b"[[ATTACHMENT|a.png]]\nnoise\n  [[ATTACHMENT|b.html]]  ");
        assert_eq!(a.finish(), vec!["a.png", "b.html"]);
        let mut c = Capture::new(3);
        c.text("aé".as_bytes());
        c.text(b"more");
        assert_eq!(c.into_string().as_deref(), Some("aé"));
    }
}
