//! `serve`'s configuration file, resolved in one place: command line > environment
//! (`VERDICT_*`) > file (`--config`, default `/etc/verdict/verdict.toml` when present) >
//! built-in defaults. Keys are `serve`'s long flag names (kebab-case), so the file can hold
//! exactly what the command line can, and a new flag is a new key with no code here.

use super::Cli;
use crate::service::redact;
use anyhow::{Context, Result, bail};
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};

/// Where `serve` looks for its configuration when neither `--config` nor `VERDICT_CONFIG`
/// names a file; a missing file there is fine.
pub const DEFAULT_PATH: &str = "/etc/verdict/verdict.toml";

/// Flags of `serve` that are not settings (they say how to read the settings).
const NOT_KEYS: [&str; 4] = ["help", "version", "config", "check-config"];

/// Where a setting's effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    CommandLine,
    Env(String),
    /// The file, with the key's line.
    File {
        line: usize,
    },
    Unset,
}

/// One setting of `serve`, as resolved: its key, values (secrets masked) and source.
#[derive(Debug, Clone)]
pub struct Setting {
    pub key: String,
    /// Rendered as TOML (a string, number, boolean or array).
    pub value: Option<String>,
    pub source: Source,
}

/// The resolved configuration, for `serve --check-config`.
#[derive(Debug, Clone, Default)]
pub struct Effective {
    /// The file read, if any.
    pub file: Option<PathBuf>,
    pub settings: Vec<Setting>,
}

impl Effective {
    /// The settings as a TOML document (unset ones commented out), each with its source.
    pub fn render(&self) -> String {
        let mut out = String::from("# verdict serve: effective configuration (tokens and passwords shown as ***)\n");
        match &self.file {
            Some(f) => out.push_str(&format!("# config file: {}\n", f.display())),
            None => out.push_str("# config file: none\n"),
        }
        for s in &self.settings {
            let source = match &s.source {
                Source::Default => "default".to_owned(),
                Source::CommandLine => "command line".to_owned(),
                Source::Env(var) => format!("environment {var}"),
                Source::File { line } => format!("config file, line {line}"),
                Source::Unset => "not set".to_owned(),
            };
            match &s.value {
                Some(v) => out.push_str(&format!("{} = {v}  # {source}\n", s.key)),
                None => out.push_str(&format!("# {}  # {source}\n", s.key)),
            }
        }
        out
    }
}

/// Parses the command line like `Cli::parse`, then, for `serve`, fills the settings the
/// command line and environment left at their defaults from the configuration file.
/// Exits as clap does on a command-line error; a configuration error is returned.
pub fn parse() -> Result<Cli> {
    parse_from(std::env::args_os().collect())
}

/// [`parse`] with explicit arguments (the first is the program name).
pub fn parse_from(args: Vec<OsString>) -> Result<Cli> {
    let matches = Cli::command().try_get_matches_from(&args).unwrap_or_else(|e| e.exit());
    let Some(("serve", serve)) = matches.subcommand() else { return cli_from(&matches) };
    let (path, explicit) = match serve.get_one::<PathBuf>("config") {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_PATH), false),
    };
    let entries = if explicit || path.exists() { Some(read_file(&path)?) } else { None };
    let mut cmd = Cli::command();
    cmd.build();
    let Some(serve_cmd) = cmd.find_subcommand("serve") else { bail!("the serve command is missing") };
    let keys: Vec<&clap::Arg> =
        serve_cmd.get_arguments().filter(|a| a.get_long().is_some_and(|l| !NOT_KEYS.contains(&l))).collect();
    // Settings from the file go after the command line's, as if typed there, unless the
    // command line or the environment already set them.
    let mut extra: Vec<OsString> = Vec::new();
    let mut from_file: Vec<(String, usize)> = Vec::new();
    for e in entries.iter().flatten() {
        let Some(arg) = keys.iter().find(|a| a.get_long() == Some(e.key.as_str())) else {
            bail!(
                "{}:{}:{}: unknown key `{}` (keys are serve's flag names, e.g. `listen`; see `verdict serve --help`)",
                path.display(),
                e.line,
                e.col,
                e.key
            );
        };
        if matches!(
            serve.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let flag = format!("--{}", e.key);
        let at = format!("{}:{}:{}", path.display(), e.line, e.col);
        match (arg.get_action(), &e.value) {
            (ArgAction::SetTrue, Value::Bool(true)) => extra.push(flag.into()),
            (ArgAction::SetTrue, Value::Bool(false)) => {}
            (ArgAction::SetTrue, _) => bail!("{at}: `{}` is true or false", e.key),
            (ArgAction::Append, Value::List(values)) => {
                extra.extend(values.iter().map(|v| OsString::from(format!("{flag}={v}"))))
            }
            (ArgAction::Append, _) => bail!("{at}: `{}` is a list, e.g. {} = [\"…\"]", e.key, e.key),
            (_, Value::One(v)) => extra.push(format!("{flag}={v}").into()),
            (_, _) => bail!("{at}: `{}` takes one value (a string or a number)", e.key),
        }
        from_file.push((arg.get_id().as_str().to_owned(), e.line));
    }
    let mut all = args;
    all.extend(extra);
    let matches = match Cli::command().try_get_matches_from(&all) {
        Ok(m) => m,
        Err(err) => bail!("{}: {}", file_error_place(&err, &path, entries.as_deref()), first_line(&err)),
    };
    let mut cli = cli_from(&matches)?;
    if let (super::Command::Serve(args), Some(("serve", serve))) = (&mut cli.command, matches.subcommand()) {
        args.effective = effective(serve, &keys, &from_file, entries.as_ref().map(|_| path));
    }
    Ok(cli)
}

fn cli_from(matches: &ArgMatches) -> Result<Cli> {
    Cli::from_arg_matches(matches).map_err(|e| anyhow::anyhow!("{}", first_line(&e)))
}

/// A clap error's message without its "error: " and usage lines.
fn first_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

/// `FILE:LINE:COL` of the key a re-parse error is about (the file alone if unknown).
fn file_error_place(err: &clap::Error, path: &Path, entries: Option<&[Entry]>) -> String {
    let arg = match err.get(clap::error::ContextKind::InvalidArg) {
        Some(clap::error::ContextValue::String(s)) => s.clone(),
        Some(clap::error::ContextValue::Strings(s)) => s.first().cloned().unwrap_or_default(),
        _ => String::new(),
    };
    // "--max-body <MAX_BODY>" names the key `max-body`.
    let long = arg.trim_start_matches('-').split([' ', '=']).next().unwrap_or_default();
    match entries.and_then(|es| es.iter().find(|e| e.key == long)) {
        Some(e) => format!("{}:{}:{}: `{}`", path.display(), e.line, e.col, e.key),
        None => format!("{} (with the command line)", path.display()),
    }
}

/// The effective settings, in `serve --help` order, secrets masked.
fn effective(
    serve: &ArgMatches,
    keys: &[&clap::Arg],
    from_file: &[(String, usize)],
    file: Option<PathBuf>,
) -> Effective {
    let settings = keys
        .iter()
        .filter_map(|arg| {
            let id = arg.get_id().as_str();
            let key = arg.get_long()?;
            let raw: Vec<String> =
                serve.get_raw(id).map(|vs| vs.map(|v| v.to_string_lossy().into_owned()).collect()).unwrap_or_default();
            let source = match (from_file.iter().find(|(k, _)| k == id), serve.value_source(id)) {
                (Some((_, line)), _) => Source::File { line: *line },
                (None, Some(ValueSource::CommandLine)) => Source::CommandLine,
                (None, Some(ValueSource::EnvVariable)) => {
                    Source::Env(arg.get_env().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default())
                }
                (None, Some(ValueSource::DefaultValue)) => Source::Default,
                _ => Source::Unset,
            };
            let shown: Vec<String> = raw.iter().map(|v| shown_value(key, v)).collect();
            let value = match (arg.get_action(), shown.as_slice()) {
                (ArgAction::Append, []) if source == Source::Unset => None,
                (ArgAction::Append, vs) => Some(format!("[{}]", vs.join(", "))),
                // An on/off flag from the environment may read `1` or `yes`: show what clap made of it.
                (ArgAction::SetTrue, _) => Some(serve.get_flag(id).to_string()),
                (_, [v]) => Some(v.clone()),
                _ => None,
            };
            Some(Setting { key: key.to_owned(), value, source })
        })
        .collect();
    Effective { file, settings }
}

/// A value as shown by `--check-config`: TOML, integers bare, secrets masked.
fn shown_value(key: &str, raw: &str) -> String {
    if key == "peer-token" {
        return format!("{:?}", redact::MASK);
    }
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) && raw.len() < 19 {
        return raw.to_owned();
    }
    toml_string(&redact::url(raw))
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A key of the file with its place and value.
#[derive(Debug)]
struct Entry {
    key: String,
    line: usize,
    col: usize,
    value: Value,
}

#[derive(Debug)]
enum Value {
    One(String),
    Bool(bool),
    List(Vec<String>),
    /// A table, float, date or nested array: no flag takes one.
    Other,
}

/// Reads the file's keys, in file order.
fn read_file(path: &Path) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {} (given by --config or VERDICT_CONFIG)", path.display()))?;
    parse_entries(&text).map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))
}

/// The keys of a configuration file's text; an error is `LINE:COL: message`.
fn parse_entries(text: &str) -> std::result::Result<Vec<Entry>, String> {
    let table = DeTable::parse(text).map_err(|e| {
        let (line, col) = line_col(text, e.span().map_or(0, |s| s.start));
        format!("{line}:{col}: {}", e.message().trim_end())
    })?;
    let mut entries: Vec<(usize, Entry)> = Vec::new();
    for (key, value) in table.get_ref() {
        let start = key.span().start;
        let (line, col) = line_col(text, start);
        let value = match value.get_ref() {
            DeValue::Boolean(b) => Value::Bool(*b),
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    match scalar(item.get_ref()) {
                        Some(v) => out.push(v),
                        None => {
                            let (line, col) = line_col(text, item.span().start);
                            return Err(format!("{line}:{col}: `{}` holds strings", key.get_ref()));
                        }
                    }
                }
                Value::List(out)
            }
            v => scalar(v).map_or(Value::Other, Value::One),
        };
        entries.push((start, Entry { key: key.get_ref().to_string(), line, col, value }));
    }
    entries.sort_by_key(|(start, _)| *start);
    Ok(entries.into_iter().map(|(_, e)| e).collect())
}

/// A string or integer as the command line would give it.
fn scalar(v: &DeValue<'_>) -> Option<String> {
    match v {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok().map(|n| n.to_string()),
        _ => None,
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_carry_their_place() {
        let e = parse_entries("# c\nlisten = \"127.0.0.1:1\"\n\npeer = [\"http://a\", \"http://b\"]\nmax-body = 0x10\naccess-log = true\n").unwrap();
        let keys: Vec<(&str, usize, usize)> = e.iter().map(|e| (e.key.as_str(), e.line, e.col)).collect();
        assert_eq!(keys, [("listen", 2, 1), ("peer", 4, 1), ("max-body", 5, 1), ("access-log", 6, 1)]);
        assert!(matches!(&e[2].value, Value::One(v) if v == "16"));
        assert!(matches!(&e[1].value, Value::List(v) if v.len() == 2));
        let err = parse_entries("a = 1\nb = = 2\n").unwrap_err();
        assert!(err.starts_with("2:"), "{err}");
        let err = parse_entries("a = [1.5]\n").unwrap_err();
        assert!(err.starts_with("1:6:"), "{err}");
    }

    #[test]
    fn secrets_are_masked() {
        assert_eq!(shown_value("peer-token", "s3cret"), "\"***\"");
        assert_eq!(shown_value("peer", "http://u:pw@h:1"), "\"http://u:***@h:1\"");
        assert_eq!(shown_value("max-body", "123"), "123");
    }
}
