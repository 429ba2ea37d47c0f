//! TAP 12/13/14: test points, plans, SKIP/TODO directives, YAML diagnostic blocks (with
//! the Taskotron record convention), indented subtests and `Bail out!` (spec §3).

use super::error::{ErrorKind, FormatError};
use super::options::ParseOptions;
use super::record::{Data, ParseSummary, Sink, check_outcome, data_key, error_outcome, first_line, result};
use super::text::{read_line, skip_utf8_bom, utf8_line};
use super::yaml::{data_values, key_str, load_first, to_json, yaml_str};
use crate::model::ResultInput;
use serde_norway::{Mapping, Value};
use std::collections::BTreeSet;
use std::io::BufRead;

/// Parses a TAP stream. Errors name the line; results come out in file order, subtest
/// leaves when their parent test point closes them.
pub fn parse<R, E, F>(mut reader: R, opts: &ParseOptions, emit: F) -> Result<ParseSummary, E>
where
    R: BufRead,
    E: From<FormatError>,
    F: FnMut(ResultInput) -> Result<(), E>,
{
    let mut sink = Sink::new(opts, emit)?;
    skip_utf8_bom(&mut reader).map_err(|e| FormatError::io(&e))?;
    let mut tap = Tap::new(&mut sink);
    let mut buf = Vec::new();
    let mut line_no = 0;
    while read_line(&mut reader, &mut buf, opts.limits.max_line_bytes, line_no + 1)? {
        line_no += 1;
        let line = utf8_line(&buf, line_no)?;
        if !tap.line(line, line_no)? {
            break;
        }
    }
    tap.finish()?;
    sink.finish()
}

/// A SKIP or TODO directive with its reason.
#[derive(Debug, Clone, PartialEq)]
enum Directive {
    Skip(String),
    Todo(String),
}

/// One `ok` / `not ok` line, decoded.
#[derive(Debug, Clone, PartialEq)]
struct Point {
    ok: bool,
    number: Option<u64>,
    description: String,
    directive: Option<Directive>,
}

/// A test point waiting for its possible YAML block.
struct Pending {
    point: Point,
    number: u64,
    line: usize,
    indent: usize,
    level: usize,
    yaml: Option<Mapping>,
}

/// An open YAML diagnostic block.
struct Block {
    start: usize,
    indent: usize,
    text: String,
}

/// A result not yet emitted: its name is relative to its (sub)stream.
struct Leaf {
    name: String,
    outcome: String,
    note: Option<String>,
    data: Data,
}

impl Leaf {
    fn failed(&self) -> bool {
        matches!(self.outcome.as_str(), "FAILED" | "ERROR" | "ABORTED" | "CRASHED")
    }
}

/// One nesting level: the top-level stream or a subtest's child stream.
#[derive(Default)]
struct Stream {
    plan: Option<(u64, usize)>,
    next_number: u64,
    seen: BTreeSet<u64>,
    points: u64,
    /// Results of this stream (only used below the top level).
    leaves: Vec<Leaf>,
    /// A finished child stream waiting for the parent test point that closes it.
    closed_child: Option<Vec<Leaf>>,
}

impl Stream {
    fn new() -> Self {
        Stream { next_number: 1, ..Stream::default() }
    }
}

struct Tap<'s, 'o, F> {
    sink: &'s mut Sink<'o, F>,
    stack: Vec<Stream>,
    pending: Option<Pending>,
    block: Option<Block>,
    version_line: Option<usize>,
    any_point: bool,
}

impl<'s, 'o, F> Tap<'s, 'o, F> {
    fn new(sink: &'s mut Sink<'o, F>) -> Self {
        Tap { sink, stack: vec![Stream::new()], pending: None, block: None, version_line: None, any_point: false }
    }

    fn opts(&self) -> &'o ParseOptions {
        self.sink.opts()
    }

    /// Handles one line; `false` once `Bail out!` has been read.
    fn line<E>(&mut self, line: &str, n: usize) -> Result<bool, E>
    where
        E: From<FormatError>,
        F: FnMut(ResultInput) -> Result<(), E>,
    {
        if self.block.is_some() {
            self.block_line(line, n)?;
            return Ok(true);
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let trimmed = line.trim();
        if let Some(p) = &self.pending {
            if trimmed == "---" && indent > p.indent {
                self.block = Some(Block { start: n, indent, text: String::new() });
                return Ok(true);
            }
            self.finish_pending()?;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("pragma ") {
            return Ok(true);
        }
        if let Some(reason) = bail_reason(trimmed) {
            self.bail(reason)?;
            return Ok(false);
        }
        let level = indent / 4;
        if indent == 0 && trimmed.starts_with("TAP version ") {
            return self.version(trimmed, n).map(|()| true).map_err(E::from);
        }
        if let Some(plan) = parse_plan(trimmed) {
            self.enter_level(level)?;
            self.plan(plan, level, n)?;
        } else if let Some(point) = parse_point(trimmed) {
            self.enter_level(level)?;
            self.start_point(point, n, indent, level);
        } else {
            let shown: String = trimmed.chars().take(80).collect();
            self.sink.warn(format!("line {n}: not TAP, ignored: {shown}"));
        }
        Ok(true)
    }

    fn version(&mut self, trimmed: &str, n: usize) -> Result<(), FormatError> {
        if let Some(first) = self.version_line {
            return Err(FormatError::at_line(
                ErrorKind::Syntax,
                n,
                format!("second TAP version line (the first is at line {first})"),
            ));
        }
        let v = trimmed.trim_start_matches("TAP version ").trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FormatError::at_line(ErrorKind::Syntax, n, format!("bad TAP version line {trimmed:?}")));
        }
        self.version_line = Some(n);
        Ok(())
    }

    fn plan(&mut self, count: Option<u64>, level: usize, n: usize) -> Result<(), FormatError> {
        let Some(count) = count else {
            return Err(FormatError::at_line(ErrorKind::Syntax, n, "plan count too large"));
        };
        let Some(stream) = self.stack.get_mut(level) else { return Ok(()) };
        if let Some((_, first)) = stream.plan {
            return Err(FormatError::at_line(
                ErrorKind::Syntax,
                n,
                format!("second plan line at the same level (the first is at line {first})"),
            ));
        }
        stream.plan = Some((count, n));
        Ok(())
    }

    fn start_point(&mut self, point: Point, n: usize, indent: usize, level: usize) {
        self.any_point = true;
        let Some(stream) = self.stack.get_mut(level) else { return };
        let number = point.number.unwrap_or(stream.next_number);
        stream.next_number = number.saturating_add(1);
        stream.points += 1;
        stream.seen.insert(number);
        self.pending = Some(Pending { point, number, line: n, indent, level, yaml: None });
    }

    /// Inside a YAML block: collect de-indented lines until the closing `...`.
    fn block_line<E>(&mut self, line: &str, n: usize) -> Result<(), E>
    where
        E: From<FormatError>,
        F: FnMut(ResultInput) -> Result<(), E>,
    {
        let Some(block) = self.block.as_mut() else { return Ok(()) };
        let spaces = line.len() - line.trim_start_matches(' ').len();
        let rest = line.get(spaces..).unwrap_or_default();
        if spaces == block.indent && rest.trim_end() == "..." {
            let block = self.block.take();
            if let (Some(block), Some(p)) = (block, self.pending.as_mut()) {
                p.yaml = parse_block(&block, p.number)?;
            }
            return self.finish_pending();
        }
        let ws = line.len() - line.trim_start_matches([' ', '\t']).len();
        if line.get(..ws).is_some_and(|w| w.contains('\t')) && !line.trim().is_empty() {
            return Err(FormatError::at_line(ErrorKind::Syntax, n, "tab in YAML block indentation").into());
        }
        let cut = spaces.min(block.indent);
        block.text.push_str(line.get(cut..).unwrap_or_default());
        block.text.push('\n');
        Ok(())
    }

    /// Closes child streams deeper than `level` and opens missing ones up to it.
    fn enter_level<E>(&mut self, level: usize) -> Result<(), E>
    where
        E: From<FormatError>,
        F: FnMut(ResultInput) -> Result<(), E>,
    {
        while self.stack.len() > level + 1 {
            self.close_deepest(true)?;
        }
        while self.stack.len() < level + 1 {
            self.stack.push(Stream::new());
        }
        Ok(())
    }

    /// Ends the innermost child stream and parks its leaves for the parent test point.
    fn close_deepest<E>(&mut self, synthesize: bool) -> Result<(), E>
    where
        E: From<FormatError>,
        F: FnMut(ResultInput) -> Result<(), E>,
    {
        let Some(mut child) = self.stack.pop() else { return Ok(()) };
        let parent_level = self.stack.len().saturating_sub(1);
        if let Some(orphans) = child.closed_child.take() {
            child.leaves.extend(orphans);
        }
        if synthesize {
            let missing = self.missing(&child, false)?;
            child.leaves.extend(missing);
        }
        let old = self.stack.last_mut().and_then(|p| p.closed_child.replace(child.leaves));
        for leaf in old.into_iter().flatten() {
            self.collect(parent_level, leaf, None)?;
        }
        Ok(())
    }

    /// Turns the pending point (and its block) into leaves of its level.
    fn finish_pending<E>(&mut self) -> Result<(), E>
    where
        E: From<FormatError>,
        F: FnMut(ResultInput) -> Result<(), E>,
    {
        let Some(p) = self.pending.take() else { return Ok(()) };
        let own = self.leaf_for(&p)?;
        let top_number = (p.level == 0).then_some(p.number);
        let children = self.stack.get_mut(p.level).and_then(|s| s.closed_child.take()).unwrap_or_default();
        if children.is_empty() {
            return self.collect(p.level, own, top_number);
        }
        let any_failed = children.iter().any(Leaf::failed);
        for mut c in children {
            c.name = format!("{}/{}", own.name, c.name);
            self.collect(p.level, c, top_number)?;
        }
        // A failing parent whose leaves all passed still failed (e.g. a plan mismatch).
        if !p.point.ok && !any_failed && p.point.directive.is_none() {
            self.collect(p.level, own, top_number)?;
        }
        Ok(())
    }

    /// Emits at the top level, keeps as a leaf below it.
    fn collect<E>(&mut self, level: usize, leaf: Leaf, tap_number: Option<u64>) -> Result<(), E>
    where
        E: From<FormatError>,
        F: FnMut(ResultInput) -> Result<(), E>,
    {
        if level > 0 {
            if let Some(s) = self.stack.get_mut(level) {
                s.leaves.push(leaf);
            }
            return Ok(());
        }
        let mut r = result(self.sink.name(&leaf.name), leaf.outcome, leaf.note);
        r.data = leaf.data;
        if let Some(n) = tap_number {
            r.data.insert("tap_number".to_owned(), vec![n.to_string()]);
        }
        self.sink.push(r)
    }

    fn leaf_for(&self, p: &Pending) -> Result<Leaf, FormatError> {
        let fallback =
            if p.level == 0 { format!("{}.{}", self.opts().file_stem, p.number) } else { p.number.to_string() };
        match &p.yaml {
            Some(y) if y.contains_key("item") && y.contains_key("outcome") => self.taskotron_leaf(p, y, fallback),
            _ => self.generic_leaf(p, fallback),
        }
    }

    fn generic_leaf(&self, p: &Pending, fallback: String) -> Result<Leaf, FormatError> {
        let yaml_note = || {
            let y = p.yaml.as_ref()?;
            let v = y.get("message").or_else(|| y.get("error"))?;
            first_line(&yaml_str(v))
        };
        let with_reason = |label: &str, r: &str| if r.is_empty() { label.to_owned() } else { format!("{label}: {r}") };
        let (outcome, note) = match (&p.point.directive, p.point.ok) {
            (Some(Directive::Skip(r)), _) => ("INFO", Some(with_reason("skipped", r))),
            (Some(Directive::Todo(r)), false) => ("INFO", Some(with_reason("todo", r))),
            (Some(Directive::Todo(r)), true) => ("PASSED", Some(with_reason("todo (unexpectedly passed)", r))),
            (None, true) => ("PASSED", yaml_note()),
            (None, false) => ("FAILED", yaml_note()),
        };
        let outcome = check_outcome(outcome, &self.opts().outcomes)
            .map_err(|m| FormatError::at_line(ErrorKind::Invalid, p.line, format!("test {}: {m}", p.number)))?;
        let mut data = Data::new();
        if let Some(d) = p.yaml.as_ref().and_then(|y| y.get("duration_ms")) {
            data.insert("duration_ms".to_owned(), vec![yaml_str(d)]);
        }
        let name = if p.point.description.is_empty() { fallback } else { p.point.description.clone() };
        Ok(Leaf { name, outcome, note, data })
    }

    /// Taskotron's TAP13 export: the YAML block is the result (spec §3.3).
    fn taskotron_leaf(&self, p: &Pending, y: &Mapping, fallback: String) -> Result<Leaf, FormatError> {
        const OWN: [&str; 8] = ["item", "type", "outcome", "note", "summary", "checkname", "details", "_internal"];
        let raw = y.get("outcome").map(yaml_str).unwrap_or_default();
        let outcome = check_outcome(&raw, &self.opts().outcomes)
            .map_err(|m| FormatError::at_line(ErrorKind::Invalid, p.line, format!("test {}: {m}", p.number)))?;
        let text = |k: &str| y.get(k).filter(|v| !v.is_null()).map(yaml_str).filter(|s| !s.trim().is_empty());
        let desc = &p.point.description;
        let name = text("checkname")
            .or_else(|| {
                desc.split_once(" for ")
                    .map(|(w, _)| w.to_owned())
                    .filter(|w| !w.is_empty() && !w.contains(char::is_whitespace))
            })
            .or_else(|| (!desc.is_empty()).then(|| desc.clone()))
            .unwrap_or(fallback);
        let note = text("note").or_else(|| text("summary"));
        let mut data = Data::new();
        for key in ["item", "type"] {
            if let Some(v) = y.get(key).filter(|v| !v.is_null()) {
                data.insert(key.to_owned(), data_values(v));
            }
        }
        if let Some(Value::Mapping(details)) = y.get("details") {
            // details.output can be megabytes of log: never stored in data.
            let rest: Mapping =
                details.iter().filter(|(k, _)| key_str(k) != "output").map(|(k, v)| (k.clone(), v.clone())).collect();
            if !rest.is_empty() {
                data.insert("details".to_owned(), vec![to_json(&Value::Mapping(rest)).to_string()]);
            }
        }
        for (k, v) in y {
            let key = key_str(k);
            if !OWN.contains(&key.as_str()) {
                let values = data_values(v);
                if !values.is_empty() {
                    data.insert(data_key(&key), values);
                }
            }
        }
        Ok(Leaf { name, outcome, note, data })
    }

    /// Synthetic FAILED results for numbers the plan announced but nobody reported.
    fn missing(&mut self, s: &Stream, top: bool) -> Result<Vec<Leaf>, FormatError> {
        let Some((count, plan_line)) = s.plan else { return Ok(Vec::new()) };
        // `BTreeSet::range(1..=0)` panics: a `1..0` plan has no numbers in range.
        let present = if count == 0 { 0 } else { s.seen.range(1..=count).count() as u64 };
        let extra = s.seen.range(count.saturating_add(1)..).count();
        if extra > 0 {
            self.sink.warn(format!("line {plan_line}: {extra} test point(s) beyond the plan 1..{count}"));
        }
        let absent = count - present;
        if absent > self.opts().limits.tap_max_missing {
            return Err(FormatError::at_line(
                ErrorKind::Limit,
                plan_line,
                format!(
                    "plan 1..{count} announces {absent} test points that are missing (limit {})",
                    self.opts().limits.tap_max_missing
                ),
            ));
        }
        let mut out = Vec::new();
        for n in (1..=count).filter(|n| !s.seen.contains(n)) {
            let name = if top { format!("{}.{n}", self.opts().file_stem) } else { n.to_string() };
            let note = Some(format!("test point {n} missing (plan 1..{count})"));
            out.push(Leaf { name, outcome: "FAILED".to_owned(), note, data: Data::new() });
        }
        Ok(out)
    }

    /// `Bail out!`: flush what is open (no plan synthesis) and add the ERROR result.
    fn bail<E>(&mut self, reason: String) -> Result<(), E>
    where
        E: From<FormatError>,
        F: FnMut(ResultInput) -> Result<(), E>,
    {
        self.close_all(false)?;
        let note = (!reason.is_empty()).then_some(reason);
        let (outcome, note) = error_outcome(&self.opts().outcomes, note);
        let name = format!("{}.bail_out", self.opts().file_stem);
        self.collect(0, Leaf { name, outcome, note, data: Data::new() }, None)?;
        self.stack.clear();
        Ok(())
    }

    fn close_all<E>(&mut self, synthesize: bool) -> Result<(), E>
    where
        E: From<FormatError>,
        F: FnMut(ResultInput) -> Result<(), E>,
    {
        self.finish_pending()?;
        while self.stack.len() > 1 {
            self.close_deepest(synthesize)?;
        }
        // Children nobody closed are reported under their own names.
        let orphans = self.stack.first_mut().and_then(|s| s.closed_child.take());
        for leaf in orphans.into_iter().flatten() {
            self.collect(0, leaf, None)?;
        }
        Ok(())
    }

    /// End of input: unclosed blocks are errors; missing points are synthesized.
    fn finish<E>(&mut self) -> Result<(), E>
    where
        E: From<FormatError>,
        F: FnMut(ResultInput) -> Result<(), E>,
    {
        if self.stack.is_empty() {
            return Ok(()); // bailed out
        }
        if let Some(b) = &self.block {
            return Err(FormatError::at_line(
                ErrorKind::Syntax,
                b.start,
                format!("YAML block opened at line {} never closed with `...`", b.start),
            )
            .into());
        }
        self.close_all(true)?;
        let Some(top) = self.stack.pop() else { return Ok(()) };
        if top.plan.is_none() && !self.any_point {
            return Err(FormatError::file(ErrorKind::Structure, "no plan and no test points: not TAP").into());
        }
        for leaf in self.missing(&top, true)? {
            self.collect(0, leaf, None)?;
        }
        Ok(())
    }
}

/// Parses the YAML of a closed block; it must be a mapping (empty is fine).
fn parse_block(b: &Block, number: u64) -> Result<Option<Mapping>, FormatError> {
    let what = format!("YAML parse error in block of test {number}");
    match load_first(&b.text).map_err(|e| e.at(b.start + 1, &what))? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Mapping(m)) => Ok(Some(m)),
        Some(_) => Err(FormatError::at_line(
            ErrorKind::Syntax,
            b.start,
            format!("YAML block of test {number} is not a mapping"),
        )),
    }
}

/// `Bail out! reason` (case-insensitive) → the trimmed reason.
fn bail_reason(trimmed: &str) -> Option<String> {
    let head = trimmed.get(..9)?;
    head.eq_ignore_ascii_case("bail out!").then(|| trimmed.get(9..).unwrap_or_default().trim().to_owned())
}

/// `1..N` (optionally `# reason`) → `Some(Some(N))`; `Some(None)` if N overflows.
fn parse_plan(trimmed: &str) -> Option<Option<u64>> {
    let rest = trimmed.strip_prefix("1..")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let tail = rest.get(digits..)?.trim_start();
    if !tail.is_empty() && !tail.starts_with('#') {
        return None;
    }
    Some(rest.get(..digits)?.parse().ok())
}

/// `(ok|not ok)\b[ ]*(\d+)?[ ]*(- )?(description)?([ ]*#[ ]*directive)?`
fn parse_point(trimmed: &str) -> Option<Point> {
    let (ok, rest) = match trimmed.strip_prefix("not ok") {
        Some(r) => (false, r),
        None => (true, trimmed.strip_prefix("ok")?),
    };
    if rest.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let rest = rest.trim_start();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let number = rest.get(..digits).and_then(|d| d.parse::<u64>().ok());
    let rest = if number.is_some() { rest.get(digits..).unwrap_or_default().trim_start() } else { rest };
    let rest = if rest == "-" { "" } else { rest.strip_prefix("- ").unwrap_or(rest) };
    let (description, directive_text) = split_directive(rest);
    Some(Point { ok, number, description: description.trim().to_owned(), directive: directive(&directive_text) })
}

/// Splits at the first unescaped `#`, resolving `\#` and `\\` on both sides.
fn split_directive(s: &str) -> (String, String) {
    let mut desc = String::new();
    let mut dir = String::new();
    let mut in_dir = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let out = if in_dir { &mut dir } else { &mut desc };
        match c {
            '\\' if matches!(chars.peek(), Some('#') | Some('\\')) => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '#' if !in_dir => in_dir = true,
            other => out.push(other),
        }
    }
    (desc, dir)
}

/// `SKIP…` / `TODO…` (any case, any word starting so) with the rest as reason; other
/// text after `#` is a comment.
fn directive(text: &str) -> Option<Directive> {
    let text = text.trim_start();
    let word_len = text.find(char::is_whitespace).unwrap_or(text.len());
    let word = text.get(..word_len)?.to_lowercase();
    let reason = text.get(word_len..).unwrap_or_default().trim().to_owned();
    if word.starts_with("skip") {
        Some(Directive::Skip(reason))
    } else if word.starts_with("todo") {
        Some(Directive::Todo(reason))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(input: &str, opts: &ParseOptions) -> Result<(Vec<ResultInput>, ParseSummary), FormatError> {
        let mut out = Vec::new();
        let s = parse(input.as_bytes(), opts, |r| {
            out.push(r);
            Ok::<(), FormatError>(())
        })?;
        Ok((out, s))
    }

    fn run(input: &str) -> Result<Vec<ResultInput>, FormatError> {
        let opts = ParseOptions { file_stem: "t".into(), ..ParseOptions::default() };
        run_with(input, &opts).map(|(r, _)| r)
    }

    fn summary(rs: &[ResultInput]) -> Vec<(String, String, Option<String>)> {
        rs.iter().map(|r| (r.testcase.name.clone(), r.outcome.clone(), r.note.clone())).collect()
    }

    #[test]
    fn points() {
        let p = parse_point("not ok 4 - todo: flaky network # TODO fix \\#42").unwrap();
        assert_eq!(p.description, "todo: flaky network");
        assert_eq!(p.directive, Some(Directive::Todo("fix #42".into())));
        let p = parse_point("ok 3 # skip no network").unwrap();
        assert_eq!((p.number, p.description.as_str()), (Some(3), ""));
        assert_eq!(p.directive, Some(Directive::Skip("no network".into())));
        let p = parse_point("ok - a \\\\ b # just a comment").unwrap();
        assert_eq!((p.number, p.description.as_str(), p.directive), (None, "a \\ b", None));
        let p = parse_point("ok 7 x # Skipped: later").unwrap();
        assert_eq!(p.directive, Some(Directive::Skip("later".into())));
        assert!(parse_point("okay").is_none());
        assert!(parse_point("ok").is_some());
        assert_eq!(parse_plan("1..0 # SKIP nothing"), Some(Some(0)));
        assert_eq!(parse_plan("1..5x"), None);
        assert_eq!(bail_reason("BAIL OUT!  why "), Some("why".into()));
    }

    #[test]
    fn mapping_and_synthesis() {
        let r = run("1..4\nok 1 - a\nnot ok - b\nok # TODO later\n").unwrap();
        assert_eq!(
            summary(&r),
            vec![
                ("a".into(), "PASSED".into(), None),
                ("b".into(), "FAILED".into(), None),
                ("t.3".into(), "PASSED".into(), Some("todo (unexpectedly passed): later".into())),
                ("t.4".into(), "FAILED".into(), Some("test point 4 missing (plan 1..4)".into())),
            ]
        );
        assert_eq!(r[1].data["tap_number"], vec!["2"]);
        assert_eq!(run("1..0 # SKIP all\n").unwrap().len(), 0);
        // Found by cargo-fuzz: points after a `1..0` plan used to panic.
        assert_eq!(run("1..0\nok 0 - boot\nok 2\n").unwrap().len(), 2);
        let (_, s) = run_with("1..1\nok 1\nok 2\n", &ParseOptions::default()).unwrap();
        assert_eq!(s.warnings.len(), 1);
    }

    #[test]
    fn taskotron_blocks() {
        let tap = "TAP version 13\n1..2\nok - dist.rpmlint for Koji build x-1\n  ---\n  item: x-1\n  outcome: INFO\n  summary: s\n  details:\n    output: |\n      huge\n      ...\n    other: 1\n  arch: [a, b]\n  ...\nnot ok 2 - plain\n  ---\n  message: |\n    first\n    second\n  duration_ms: 1.5\n  ...\n";
        let r = run(tap).unwrap();
        assert_eq!(summary(&r)[0], ("dist.rpmlint".into(), "INFO".into(), Some("s".into())));
        assert_eq!(r[0].data["item"], vec!["x-1"]);
        assert_eq!(r[0].data["arch"], vec!["a", "b"]);
        assert_eq!(r[0].data["details"], vec!["{\"other\":1}"]);
        assert_eq!(summary(&r)[1], ("plain".into(), "FAILED".into(), Some("first".into())));
        assert_eq!(r[1].data["duration_ms"], vec!["1.5"]);
    }

    #[test]
    fn subtests_and_bail() {
        let tap = "1..3\n# Subtest: p\n    1..2\n    ok 1 - c1\n        1..1\n        not ok 1 - deep\n    not ok 2 - c2\n    ok 3 - extra\nnot ok 1 - p\n    1..2\n    ok 1 - only\nnot ok 2 - q\nBail out! stop\nok 3 - never\n";
        let r = run(tap).unwrap();
        assert_eq!(
            summary(&r),
            vec![
                ("p/c1".into(), "PASSED".into(), None),
                ("p/c2/deep".into(), "FAILED".into(), None),
                ("p/extra".into(), "PASSED".into(), None),
                ("q/only".into(), "PASSED".into(), None),
                ("q/2".into(), "FAILED".into(), Some("test point 2 missing (plan 1..2)".into())),
                ("t.bail_out".into(), "ERROR".into(), Some("stop".into())),
            ]
        );
    }

    #[test]
    fn errors() {
        let e = run("1..1\nok 1\n  ---\n  a: 1\n").unwrap_err();
        assert_eq!(e.to_string(), "line 3: YAML block opened at line 3 never closed with `...`");
        let e = run("ok 1\n  ---\n  a: [1\n  ...\n").unwrap_err();
        assert!(e.to_string().contains("YAML parse error in block of test 1"), "{e}");
        let e = run("ok 1\n  ---\n  a:\n  \tb: 1\n  ...\n").unwrap_err();
        assert!(e.to_string().contains("tab"), "{e}");
        assert!(run("TAP version 13\nok\nTAP version 13\n").unwrap_err().to_string().contains("line 3"));
        assert!(run("hello\n").unwrap_err().message.contains("not TAP"));
        let strict =
            ParseOptions { outcomes: crate::model::Outcomes::new::<&str>(&[]).unwrap(), ..ParseOptions::default() };
        let (r, _) = run_with("ok 1\nBail out!\n", &strict).unwrap();
        assert_eq!((r[1].outcome.as_str(), r[1].note.as_deref()), ("FAILED", Some("error")));
    }
}
