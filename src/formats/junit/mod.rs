//! JUnit / xUnit XML (Ant/Jenkins schema and its dialects), streamed with quick-xml: one
//! result per `<testcase>`, emitted as soon as the testcase closes (spec §5).

mod content;
mod source;

use super::error::{ErrorKind, FormatError, Location};
use super::options::ParseOptions;
use super::record::{Data, ParseSummary, Sink, data_key, error_outcome, first_line, result};
use crate::model::ResultInput;
use content::{Attachments, Capture, Discard, FirstLine, ScanError, TextSink, resolve_entity, scan};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use source::{Counted, TOO_LARGE, Utf8Source};
use std::io::BufRead;

type Xml<R> = Reader<Counted<Utf8Source<R>>>;

/// Parses a JUnit XML document; errors name the element path and line.
pub fn parse<R, E, F>(reader: R, opts: &ParseOptions, emit: F) -> Result<ParseSummary, E>
where
    R: BufRead,
    E: From<FormatError>,
    F: FnMut(ResultInput) -> Result<(), E>,
{
    let mut sink = Sink::new(opts, emit)?;
    let src = source::open(reader)?;
    let mut xml = Reader::from_reader(Counted::new(src, opts.limits.xml_max_token_bytes));
    let config = xml.config_mut();
    config.check_end_names = false; // we match end tags ourselves (the scanner consumes some)
    config.trim_text(false);
    let mut doc = Doc::new(opts);
    let mut buf = Vec::with_capacity(8 * 1024);
    loop {
        buf.clear();
        xml.get_mut().reset();
        let event = match xml.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => return Err(doc.xml_error(&e, xml.get_ref().line()).into()),
        };
        match event {
            Event::Start(e) => doc.start(&e, false, &mut xml, &mut sink)?,
            Event::Empty(e) => doc.start(&e, true, &mut xml, &mut sink)?,
            Event::End(e) => doc.end(e.name().as_ref(), xml.get_ref().line(), &mut sink)?,
            Event::Text(t) => doc.text(&t, xml.get_ref().line())?,
            Event::GeneralRef(r) => doc.reference(&r, xml.get_ref().line())?,
            Event::CData(_) => doc.text("x", xml.get_ref().line())?,
            Event::DocType(_) => {
                return Err(doc
                    .error(
                        ErrorKind::Refused,
                        xml.get_ref().line(),
                        "DOCTYPE / entity declarations are refused (no entity expansion, no external fetch)",
                    )
                    .into());
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    doc.finish(xml.get_ref().line())?;
    sink.finish()
}

/// What an open element is, for the mapping.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Root,
    Suite,
    Case,
    Properties,
    /// `flakyFailure` etc.: their `system-out` is not the testcase's.
    Flaky,
    Other,
}

/// An open element: name, 1-based index among same-named siblings, child counters.
struct Frame {
    name: String,
    index: usize,
    role: Role,
    children: Vec<(String, usize)>,
}

/// What a testsuite passes down to what it contains.
#[derive(Clone, Default)]
struct Suite {
    /// Nearest non-empty suite name (this one or an ancestor's).
    label: Option<String>,
    /// Non-empty suite names from the outermost, joined with ` / `.
    path: Option<String>,
    hostname: Option<String>,
    timestamp: Option<String>,
    file: Option<String>,
    /// Properties of this suite only.
    own: Data,
    /// Ancestors' properties overlaid with this suite's.
    props: Data,
}

/// Failure kinds, worst first.
#[derive(Clone, Copy)]
enum Kind {
    Error = 0,
    Failure = 1,
    Skipped = 2,
}

/// A testcase being read.
#[derive(Default)]
struct Case {
    ordinal: usize,
    attrs: CaseAttrs,
    props: Data,
    /// Per kind: `Some(note)` once an element of that kind was seen (first one wins).
    notes: [Option<Option<String>>; 3],
    flaky: bool,
    attachments: Vec<String>,
}

#[derive(Default)]
struct CaseAttrs {
    name: String,
    classname: String,
    time: Option<String>,
    file: Option<String>,
    line: Option<String>,
    timestamp: Option<String>,
    hostname: Option<String>,
    status: Option<String>,
}

struct Doc<'o> {
    opts: &'o ParseOptions,
    stack: Vec<Frame>,
    root_children: Vec<(String, usize)>,
    suites: Vec<Suite>,
    case: Option<Case>,
    cases_seen: usize,
    root_seen: bool,
    root_closed: bool,
}

impl<'o> Doc<'o> {
    fn new(opts: &'o ParseOptions) -> Self {
        Doc {
            opts,
            stack: Vec::new(),
            root_children: Vec::new(),
            suites: Vec::new(),
            case: None,
            cases_seen: 0,
            root_seen: false,
            root_closed: false,
        }
    }

    /// `testsuites/testsuite[2]/testcase[5]`, optionally with one more segment.
    fn path(&self, extra: Option<(&str, usize)>) -> String {
        let mut parts: Vec<String> = Vec::with_capacity(self.stack.len() + 1);
        for (i, f) in self.stack.iter().enumerate() {
            parts.push(if i == 0 { f.name.clone() } else { format!("{}[{}]", f.name, f.index) });
        }
        if let Some((name, index)) = extra {
            parts.push(format!("{name}[{index}]"));
        }
        if parts.is_empty() { "document".to_owned() } else { parts.join("/") }
    }

    fn error(&self, kind: ErrorKind, line: usize, message: impl Into<String>) -> FormatError {
        FormatError::new(kind, Location::Element { path: self.path(None), line }, message)
    }

    fn xml_error(&self, e: &quick_xml::Error, line: usize) -> FormatError {
        let text = e.to_string();
        if text.contains(TOO_LARGE) {
            let msg = format!("XML tag or text larger than {} bytes", self.opts.limits.xml_max_token_bytes);
            return self.error(ErrorKind::Limit, line, msg);
        }
        match e {
            quick_xml::Error::Io(io) if io.kind() != std::io::ErrorKind::InvalidData => {
                self.error(ErrorKind::Io, line, format!("cannot read input: {io}"))
            }
            quick_xml::Error::Io(io) => self.error(ErrorKind::Encoding, line, format!("XML encoding error: {io}")),
            quick_xml::Error::Encoding(_) => {
                self.error(ErrorKind::Encoding, line, format!("XML encoding error: {text}"))
            }
            _ => self.error(ErrorKind::Syntax, line, format!("XML parse error: {text}")),
        }
    }

    /// Registers a child of the current element and returns its sibling index.
    fn next_index(&mut self, name: &str) -> usize {
        let counters = match self.stack.last_mut() {
            Some(f) => &mut f.children,
            None => &mut self.root_children,
        };
        match counters.iter_mut().find(|(n, _)| n == name) {
            Some((_, i)) => {
                *i += 1;
                *i
            }
            None => {
                counters.push((name.to_owned(), 1));
                1
            }
        }
    }

    fn parent_role(&self) -> Option<Role> {
        self.stack.last().map(|f| f.role)
    }

    fn in_flaky(&self) -> bool {
        self.stack.iter().rev().take_while(|f| f.role != Role::Case).any(|f| f.role == Role::Flaky)
    }

    fn start<R, E, F>(
        &mut self,
        e: &BytesStart<'_>,
        empty: bool,
        xml: &mut Xml<R>,
        sink: &mut Sink<'_, F>,
    ) -> Result<(), E>
    where
        R: BufRead,
        E: From<FormatError>,
        F: FnMut(ResultInput) -> Result<(), E>,
    {
        let line = xml.get_ref().line();
        let name = e.local_name().as_ref().to_owned();
        if self.stack.len() >= self.opts.limits.xml_max_depth {
            return Err(self
                .error(
                    ErrorKind::Limit,
                    line,
                    format!("elements nested deeper than {}", self.opts.limits.xml_max_depth),
                )
                .into());
        }
        if !self.root_seen {
            return self.start_root(e, &name, empty, line).map_err(E::from);
        }
        if self.stack.is_empty() {
            return Err(self.error(ErrorKind::Syntax, line, format!("second root element <{name}>")).into());
        }
        let index = self.next_index(&name);
        let role = self.role_of(&name);
        match role {
            Role::Suite => self.open_suite(e, line)?,
            Role::Case => self.open_case(e, line)?,
            _ => {}
        }
        let in_case = self.case.is_some();
        let scanned = match (name.as_str(), self.parent_role()) {
            ("property", Some(Role::Properties)) => Some(self.property(e, empty, index, xml, line)?),
            ("failure", Some(Role::Case)) => Some(self.outcome_element(e, Kind::Failure, empty, index, xml, line)?),
            ("error", Some(Role::Case)) => Some(self.outcome_element(e, Kind::Error, empty, index, xml, line)?),
            ("skipped", Some(Role::Case)) => Some(self.outcome_element(e, Kind::Skipped, empty, index, xml, line)?),
            ("system-out" | "system-err", Some(Role::Case)) if in_case && !self.in_flaky() => {
                let mut a = Attachments::new();
                self.skip_body(&name, index, empty, &mut a, xml, line)?;
                if let Some(c) = self.case.as_mut() {
                    for p in a.finish() {
                        if !c.attachments.contains(&p) {
                            c.attachments.push(p);
                        }
                    }
                }
                Some(())
            }
            ("system-out" | "system-err" | "stackTrace", _) => {
                Some(self.skip_body(&name, index, empty, &mut Discard, xml, line)?)
            }
            _ => None,
        };
        if scanned.is_some() {
            return Ok(());
        }
        if matches!(name.as_str(), "flakyFailure" | "flakyError")
            && let Some(c) = self.case.as_mut()
        {
            c.flaky = true;
        }
        self.stack.push(Frame { name, index, role, children: Vec::new() });
        if empty {
            let name = self.stack.last().map(|f| f.name.clone()).unwrap_or_default();
            self.end(&name, line, sink)?;
        }
        Ok(())
    }

    fn start_root(&mut self, e: &BytesStart<'_>, name: &str, empty: bool, line: usize) -> Result<(), FormatError> {
        self.root_seen = true;
        let role = match name {
            "testsuites" => Role::Root,
            "testsuite" => Role::Suite,
            other => {
                return Err(FormatError::new(
                    ErrorKind::Structure,
                    Location::Element { path: other.to_owned(), line },
                    format!("not a JUnit document: root element <{other}>"),
                ));
            }
        };
        if role == Role::Suite {
            self.open_suite(e, line)?;
        } else {
            // `<testsuites>` names the run, not a suite; its properties still cascade.
            self.suites.push(Suite::default());
        }
        self.stack.push(Frame { name: name.to_owned(), index: 1, role, children: Vec::new() });
        if empty {
            self.stack.clear();
            self.root_closed = true;
        }
        Ok(())
    }

    fn role_of(&self, name: &str) -> Role {
        let parent = self.parent_role();
        let in_case = self.case.is_some();
        match name {
            "testsuite" | "testsuites" if !in_case => Role::Suite,
            "testcase" if !in_case => Role::Case,
            "properties" if matches!(parent, Some(Role::Root | Role::Suite | Role::Case)) => Role::Properties,
            "flakyFailure" | "flakyError" | "rerunFailure" | "rerunError" if parent == Some(Role::Case) => Role::Flaky,
            _ => Role::Other,
        }
    }

    fn attrs(&self, e: &BytesStart<'_>, line: usize) -> Result<Vec<(String, String)>, FormatError> {
        let mut out = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|err| self.error(ErrorKind::Syntax, line, format!("XML attribute error: {err}")))?;
            // Unescaped but not whitespace-normalised: multi-line messages keep their lines.
            let v = quick_xml::escape::unescape(&a.value)
                .map_err(|err| self.error(ErrorKind::Syntax, line, format!("XML attribute error: {err}")))?;
            out.push((a.key.local_name().as_ref().to_owned(), v.into_owned()));
        }
        Ok(out)
    }

    fn open_suite(&mut self, e: &BytesStart<'_>, line: usize) -> Result<(), FormatError> {
        let mut s = self.suites.last().cloned().unwrap_or_default();
        s.own.clear();
        for (k, v) in self.attrs(e, line)? {
            let v = Some(v).filter(|v| !v.is_empty());
            match k.as_str() {
                "name" if v.is_some() => {
                    s.path = Some(match (&s.path, &v) {
                        (Some(p), Some(n)) => format!("{p} / {n}"),
                        (_, n) => n.clone().unwrap_or_default(),
                    });
                    s.label = v;
                }
                "hostname" if v.is_some() => s.hostname = v,
                "timestamp" if v.is_some() => s.timestamp = v,
                "file" if v.is_some() => s.file = v,
                _ => {}
            }
        }
        self.suites.push(s);
        Ok(())
    }

    fn open_case(&mut self, e: &BytesStart<'_>, line: usize) -> Result<(), FormatError> {
        self.cases_seen += 1;
        let mut c = Case { ordinal: self.cases_seen, ..Case::default() };
        for (k, v) in self.attrs(e, line)? {
            let a = &mut c.attrs;
            match k.as_str() {
                "name" => a.name = v,
                "classname" => a.classname = v,
                "time" => a.time = Some(v),
                "file" => a.file = Some(v),
                "line" => a.line = Some(v),
                "timestamp" => a.timestamp = Some(v),
                "hostname" => a.hostname = Some(v),
                "status" => a.status = Some(v),
                _ => {}
            }
        }
        self.case = Some(c);
        Ok(())
    }

    /// `<property name=… value=…/>` or with the value as text.
    fn property<R: BufRead>(
        &mut self,
        e: &BytesStart<'_>,
        empty: bool,
        index: usize,
        xml: &mut Xml<R>,
        line: usize,
    ) -> Result<(), FormatError> {
        let attrs = self.attrs(e, line)?;
        let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let value = match get("value") {
            Some(v) => {
                self.skip_body("property", index, empty, &mut Discard, xml, line)?;
                v
            }
            None => {
                let mut cap = Capture::new(self.opts.limits.data_value_chars.saturating_mul(4).saturating_add(4));
                self.skip_body("property", index, empty, &mut cap, xml, line)?;
                cap.into_string().unwrap_or_default()
            }
        };
        let Some(name) = get("name").filter(|n| !n.is_empty()) else { return Ok(()) };
        let key = data_key(&name);
        if let Some(c) = self.case.as_mut() {
            c.props.entry(key).or_default().push(value);
        } else if let Some(s) = self.suites.last_mut() {
            s.own.entry(key.clone()).or_default().push(value);
            // The innermost definition of a name replaces inherited ones.
            if let Some(v) = s.own.get(&key) {
                s.props.insert(key, v.clone());
            }
        }
        Ok(())
    }

    /// `<failure|error|skipped message=…>text</…>`: records the first one of each kind.
    fn outcome_element<R: BufRead>(
        &mut self,
        e: &BytesStart<'_>,
        kind: Kind,
        empty: bool,
        index: usize,
        xml: &mut Xml<R>,
        line: usize,
    ) -> Result<(), FormatError> {
        let name = e.local_name().as_ref().to_owned();
        let message = self.attrs(e, line)?.into_iter().find(|(k, _)| k == "message").and_then(|(_, v)| first_line(&v));
        let wanted = self.case.as_ref().is_some_and(|c| c.notes[kind as usize].is_none());
        let note = match message {
            Some(m) => {
                self.skip_body(&name, index, empty, &mut Discard, xml, line)?;
                Some(m)
            }
            None if wanted => {
                let mut f = FirstLine::new(self.opts.limits.note_chars.saturating_mul(4).saturating_add(4));
                self.skip_body(&name, index, empty, &mut f, xml, line)?;
                f.into_line()
            }
            None => {
                self.skip_body(&name, index, empty, &mut Discard, xml, line)?;
                None
            }
        };
        if let Some(c) = self.case.as_mut()
            && wanted
        {
            c.notes[kind as usize] = Some(note);
        }
        Ok(())
    }

    /// Streams an element body through `sink` (nothing to do for `<x/>`).
    fn skip_body<R: BufRead, S: TextSink>(
        &self,
        name: &str,
        index: usize,
        empty: bool,
        sink: &mut S,
        xml: &mut Xml<R>,
        line: usize,
    ) -> Result<(), FormatError> {
        if empty {
            return Ok(());
        }
        xml.get_mut().unlimited();
        let scanned = scan(&mut xml.stream(), name, sink, self.opts.limits.xml_max_depth);
        let at = |msg: String, kind| {
            FormatError::new(
                kind,
                Location::Element { path: self.path(Some((name, index))), line: xml.get_ref().line().max(line) },
                msg,
            )
        };
        scanned.map_err(|e| match e {
            ScanError::Eof => {
                at(format!("XML parse error: premature end of data (unclosed <{name}>)"), ErrorKind::Syntax)
            }
            ScanError::Io(m) if m.contains("byte sequence") => {
                at(format!("XML encoding error: {m}"), ErrorKind::Encoding)
            }
            ScanError::Io(m) => at(format!("cannot read input: {m}"), ErrorKind::Io),
            ScanError::Syntax(m) => at(format!("XML parse error: {m}"), ErrorKind::Syntax),
        })
    }

    fn end<E, F>(&mut self, name: &str, line: usize, sink: &mut Sink<'_, F>) -> Result<(), E>
    where
        E: From<FormatError>,
        F: FnMut(ResultInput) -> Result<(), E>,
    {
        let local = name.rsplit(':').next().unwrap_or(name);
        let Some(frame) = self.stack.last() else {
            return Err(self
                .error(ErrorKind::Syntax, line, format!("XML parse error: unexpected end tag </{name}>"))
                .into());
        };
        if frame.name != local {
            let msg = format!("XML parse error: end tag </{name}> does not match <{}>", frame.name);
            return Err(self.error(ErrorKind::Syntax, line, msg).into());
        }
        let role = frame.role;
        match role {
            Role::Case => {
                if let Some(c) = self.case.take() {
                    let r = self.build(c, sink);
                    sink.push(r)?;
                }
            }
            Role::Suite | Role::Root => {
                self.suites.pop();
            }
            _ => {}
        }
        self.stack.pop();
        if self.stack.is_empty() {
            self.root_closed = true;
        }
        Ok(())
    }

    fn text(&self, t: &str, line: usize) -> Result<(), FormatError> {
        if self.stack.is_empty() && !t.trim().is_empty() {
            let where_ = if self.root_seen { "after" } else { "before" };
            return Err(self.error(
                ErrorKind::Syntax,
                line,
                format!("XML parse error: text {where_} the root element (not XML?)"),
            ));
        }
        Ok(())
    }

    fn reference(&self, r: &quick_xml::events::BytesRef<'_>, line: usize) -> Result<(), FormatError> {
        let name: &str = r;
        if resolve_entity(name).is_none() {
            return Err(self.error(ErrorKind::Syntax, line, format!("XML parse error: undefined entity &{name};")));
        }
        self.text("&", line)
    }

    fn finish(&self, line: usize) -> Result<(), FormatError> {
        if !self.root_seen {
            return Err(FormatError::at_line(ErrorKind::Structure, line, "not a JUnit document: no root element"));
        }
        if let Some(open) = self.stack.last() {
            let msg = format!("XML parse error: premature end of data (unclosed <{}>)", open.name);
            return Err(self.error(ErrorKind::Syntax, line, msg));
        }
        Ok(())
    }

    /// The result of a closed testcase (spec §5.2).
    fn build<F>(&self, c: Case, sink: &Sink<'_, F>) -> ResultInput {
        let suite = self.suites.last();
        let [error, failure, skipped] = c.notes;
        let (outcome, note) = if let Some(n) = error {
            error_outcome(&self.opts.outcomes, n)
        } else if let Some(n) = failure {
            ("FAILED".to_owned(), n)
        } else if let Some(n) = skipped {
            ("INFO".to_owned(), n.map(|n| format!("skipped: {n}")))
        } else {
            ("PASSED".to_owned(), None)
        };
        let name = sink.name(&testcase_base(&c.attrs, suite, c.ordinal));
        let mut r = result(name, outcome, note);
        let mut data = suite.map(|s| s.props.clone()).unwrap_or_default();
        for (k, v) in c.props.iter() {
            data.insert(k.clone(), v.clone());
        }
        r.ref_url = ["ref_url", "url"]
            .iter()
            .find_map(|k| c.props.get(*k))
            .or_else(|| suite.and_then(|s| ["ref_url", "url"].iter().find_map(|k| s.props.get(*k))))
            .and_then(|v| v.first().cloned());
        data.remove("ref_url");
        data.remove("url");
        fill_attrs(&mut data, c.attrs, suite);
        if c.flaky {
            data.insert("flaky".to_owned(), vec!["true".to_owned()]);
        }
        if !c.attachments.is_empty() {
            data.entry("attachment".to_owned()).or_default().extend(c.attachments);
        }
        r.data = data;
        r
    }
}

/// classname (else the nearest suite name) + `.` + name, unless redundant (spec §5.2).
fn testcase_base(a: &CaseAttrs, suite: Option<&Suite>, ordinal: usize) -> String {
    let cls =
        if a.classname.is_empty() { suite.and_then(|s| s.label.as_deref()).unwrap_or_default() } else { &a.classname };
    let name = a.name.as_str();
    match (cls.is_empty(), name.is_empty()) {
        (false, false) if cls != name && !name.starts_with(&format!("{cls}.")) => format!("{cls}.{name}"),
        (_, false) => name.to_owned(),
        (false, true) => cls.to_owned(),
        (true, true) => format!("__unnamed_{ordinal}"),
    }
}

fn fill_attrs(data: &mut Data, a: CaseAttrs, suite: Option<&Suite>) {
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            data.insert(k.to_owned(), vec![v]);
        }
    };
    put("classname", Some(a.classname));
    put("duration", a.time);
    put("suite", suite.and_then(|s| s.path.clone()));
    put("file", a.file.filter(|f| !f.is_empty()).or_else(|| suite.and_then(|s| s.file.clone())));
    put("line", a.line);
    put("timestamp", a.timestamp.filter(|t| !t.is_empty()).or_else(|| suite.and_then(|s| s.timestamp.clone())));
    put("hostname", a.hostname.filter(|h| !h.is_empty()).or_else(|| suite.and_then(|s| s.hostname.clone())));
    put("junit_status", a.status);
}

#[cfg(test)]
mod tests;
