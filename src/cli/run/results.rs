//! What an attempt reported and what the run stores: the check's results parsed by the
//! ingest's parser (`prepare_upload`, so they get the same context and checks as an
//! ingested file), or one result from the exit status; each kept result as a ResultsDB
//! JSON line naming its attempt, the run and its log, in the run's execution group.

use super::exec::{Attempt, Ended};
use crate::formats::Format;
use crate::insight::RunVerdict;
use crate::log::Body;
use crate::service::ingest::{IngestConfig, IngestError, MAX_FILE, Upload, prepare_upload};
use anyhow::{Context, Result};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// One result of one attempt, before the run adds its own context.
#[derive(Debug, Clone)]
pub struct Kept {
    /// As the check named it (without --testcase-prefix).
    pub testcase: String,
    pub testcase_ref_url: Option<String>,
    pub outcome: String,
    pub note: Option<String>,
    pub ref_url: Option<String>,
    pub data: BTreeMap<String, Vec<String>>,
    pub groups: Vec<String>,
    /// 1-based; set when the run keeps it.
    pub attempt: u32,
}

/// What an attempt reported.
pub struct Parsed {
    pub results: Vec<Kept>,
    /// It ran to its end and what it wrote (if anything) parses.
    pub executed_ok: bool,
    /// Why its results could not be read, for the log.
    pub problem: Option<String>,
}

/// Reads the attempt's results: the file at `results_path` when the check wrote one, else
/// its standard output when it is TAP (or in the --format given), else one result of
/// testcase `whole` from the exit status.
pub fn parse_attempt(
    done: &Attempt,
    results_path: &Path,
    forced: Option<Format>,
    cfg: &IngestConfig,
    whole: &str,
) -> Parsed {
    let from_file = std::fs::metadata(results_path).is_ok_and(|m| m.len() > 0);
    let parsed = if from_file {
        read_file(results_path).and_then(|bytes| {
            parse(&bytes, "results", forced, cfg)
                .map_err(|e| format!("the results file {} does not parse: {e}", results_path.display()))
        })
    } else if done.stdout.is_empty() {
        Ok(Vec::new())
    } else {
        match forced {
            Some(f) => parse(&done.stdout, "stdout", Some(f), cfg)
                .map_err(|e| format!("standard output does not parse as {f}: {e}")),
            // Read as TAP only when it looks like TAP; anything else is a log.
            None => match crate::formats::detect("stdout", &done.stdout) {
                Ok(Format::Tap) => parse(&done.stdout, "stdout", Some(Format::Tap), cfg).or_else(|e| {
                    eprintln!("verdict run: standard output looked like TAP but does not parse ({e}); judged by the exit status");
                    Ok(Vec::new())
                }),
                _ => Ok(Vec::new()),
            },
        }
    };
    let (results, problem) = match parsed {
        Ok(r) => (r, None),
        Err(p) => (Vec::new(), Some(p)),
    };
    let executed_ok = done.ended.executed() && problem.is_none();
    if !results.is_empty() && done.ended.executed() {
        return Parsed { results, executed_ok, problem };
    }
    // Nothing of its own (or it did not finish): a result from how it ended, with what it
    // did write when it crashed half-way.
    let outcome = match (&done.ended, &problem) {
        (Ended::Exited(0), None) => "PASSED",
        (Ended::Exited(_), None) => "FAILED",
        _ => "ERROR",
    };
    let mut note = done.ended.describe();
    if let Some(p) = &problem {
        note = format!("{note}; {p}");
    }
    // The context a parsed result gets from the ingest: item, type, --data.
    let mut data = cfg.defaults.data.clone();
    let key = [("item", &cfg.defaults.item), ("type", &cfg.defaults.item_type)];
    for (k, v) in key {
        if let Some(v) = v {
            data.insert(k.to_owned(), vec![v.clone()]);
        }
    }
    data.insert("duration".to_owned(), vec![format!("{:.3}", done.duration.as_secs_f64())]);
    if let Some(code) = done.ended.code() {
        data.insert("exit_code".to_owned(), vec![code.to_string()]);
    }
    if !executed_ok {
        data.insert("error_reason".to_owned(), vec![note.clone()]);
    }
    let mut all = results;
    all.push(Kept {
        testcase: whole.to_owned(),
        testcase_ref_url: None,
        outcome: outcome.to_owned(),
        note: Some(note),
        ref_url: None,
        data,
        groups: Vec::new(),
        attempt: 0,
    });
    Parsed { results: all, executed_ok, problem }
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > MAX_FILE {
        return Err(format!("the results file {} is {size} bytes, over the limit of {MAX_FILE}", path.display()));
    }
    std::fs::read(path).map_err(|e| format!("cannot read the results file {}: {e}", path.display()))
}

/// Parses with the ingest's parser (item, type and --data merged in as for any file).
fn parse(bytes: &[u8], name: &str, format: Option<Format>, cfg: &IngestConfig) -> Result<Vec<Kept>, String> {
    let upload = Upload {
        name: name.to_owned(),
        bytes: bytes.to_vec(),
        sidecar: None,
        format: format.map(|f| f.name().to_owned()),
    };
    let (bodies, _) = prepare_upload(&upload, cfg).map_err(|e| describe(&e))?;
    Ok(bodies
        .into_iter()
        .filter_map(|b| match b {
            Body::Result(r) => {
                let mut data = r.data;
                // The run's JSON Lines file is what is stored: it records its own source.
                data.remove("source_file");
                data.remove("source_blake3");
                Some(Kept {
                    testcase: r.testcase.name,
                    testcase_ref_url: r.testcase.ref_url.flatten(),
                    outcome: r.outcome,
                    note: r.note,
                    ref_url: r.ref_url,
                    data,
                    groups: r.groups.into_iter().map(|g| g.uuid).collect(),
                    attempt: 0,
                })
            }
            _ => None,
        })
        .collect())
}

fn describe(e: &IngestError) -> String {
    match (e.line, &e.format) {
        (Some(line), Some(f)) => format!("{f}, line {line}: {e}"),
        (Some(line), None) => format!("line {line}: {e}"),
        (None, Some(f)) => format!("{f}: {e}"),
        (None, None) => e.to_string(),
    }
}

/// What every stored result of the run shares.
pub struct RunContext {
    pub run_id: String,
    pub prefix: String,
    /// The log's absolute path (`data.log`).
    pub log_path: String,
    /// The log as a URL (results' and the group's `ref_url`).
    pub log_ref: String,
    /// The command line, shell-quoted.
    pub command: String,
    pub host: String,
}

/// The run as a whole, for its execution record.
pub struct Execution<'a> {
    pub verdict: RunVerdict,
    /// How the last attempt ended.
    pub ended: &'a Ended,
    /// All attempts together.
    pub duration: Duration,
    pub attempts: u32,
    /// Attempts that did not execute properly.
    pub crashed: u32,
    pub results: usize,
}

impl RunContext {
    /// The execution group's description: `key=value` pairs (values with spaces quoted).
    pub fn description(&self, e: &Execution) -> String {
        let mut pairs = vec![("execution_status", e.verdict.execution_status().to_owned())];
        match e.ended {
            Ended::Exited(c) => pairs.push(("exit_code", c.to_string())),
            Ended::Signalled(s) => pairs.push(("signal", s.to_string())),
            Ended::TimedOut(t) => pairs.push(("timeout", format!("{}s", t.as_secs_f64()))),
            Ended::NotStarted(why) => pairs.push(("error", why.clone())),
        }
        pairs.push(("duration", format!("{:.3}", e.duration.as_secs_f64())));
        pairs.push(("attempts", e.attempts.to_string()));
        if e.crashed > 0 {
            pairs.push(("failed_executions", e.crashed.to_string()));
        }
        pairs.push(("results", e.results.to_string()));
        pairs.push(("host", self.host.clone()));
        pairs.push(("run_id", self.run_id.clone()));
        // The command last: it may be long, and a description holds 8,192 characters.
        let command: String = self.command.chars().take(4000).collect();
        pairs.push(("command", command));
        pairs.into_iter().map(|(k, v)| format!("{k}={}", logfmt_value(&v))).collect::<Vec<_>>().join(" ")
    }

    /// One stored result as a ResultsDB JSON object.
    fn line(&self, k: &Kept, group: &Value) -> Value {
        let mut data = Map::new();
        for (key, values) in &k.data {
            data.insert(key.clone(), json!(values));
        }
        data.insert("attempt".into(), json!(k.attempt.to_string()));
        data.insert("run_id".into(), json!(self.run_id));
        data.insert("log".into(), json!(self.log_path));
        let mut testcase = json!({"name": format!("{}{}", self.prefix, k.testcase)});
        if let Some(u) = &k.testcase_ref_url {
            testcase["ref_url"] = json!(u);
        }
        let mut groups: Vec<Value> = k.groups.iter().filter(|g| **g != self.run_id).map(|g| json!(g)).collect();
        groups.push(group.clone());
        let mut line = json!({
            "testcase": testcase,
            "outcome": k.outcome,
            "ref_url": k.ref_url.clone().unwrap_or_else(|| self.log_ref.clone()),
            "data": data,
            "groups": groups,
        });
        if let Some(n) = &k.note {
            line["note"] = json!(n);
        }
        line
    }
}

/// Writes the run's results, one JSON object per line, through a `.part` file renamed
/// into place (a file that exists is whole).
pub fn write_jsonl(path: &Path, kept: &[Kept], ctx: &RunContext, description: &str) -> Result<()> {
    let group = json!({"uuid": ctx.run_id, "description": description, "ref_url": ctx.log_ref});
    let mut text = Vec::new();
    for k in kept {
        serde_json::to_writer(&mut text, &ctx.line(k, &group))?;
        text.push(b'\n');
    }
    let part = path.with_extension("jsonl.part");
    let mut f = std::fs::File::create(&part).with_context(|| format!("cannot create {}", part.display()))?;
    f.write_all(&text).and_then(|()| f.sync_all()).with_context(|| format!("cannot write {}", part.display()))?;
    std::fs::rename(&part, path).with_context(|| format!("cannot rename {} into place", part.display()))
}

fn logfmt_value(v: &str) -> String {
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '=') {
        return v.to_owned();
    }
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The command line as a shell would take it back.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain { a.clone() } else { format!("'{}'", a.replace('\'', "'\\''")) }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The command's file name without its extension; for an interpreter running a script,
/// the script's.
pub fn default_testcase(argv: &[String]) -> String {
    const INTERPRETERS: &[&str] = &["sh", "bash", "dash", "zsh", "python", "python3", "perl", "ruby", "node", "env"];
    let stem = |a: &str| {
        let base = a.rsplit('/').next().unwrap_or(a);
        base.split_once('.').map_or(base, |(s, _)| s).to_owned()
    };
    let first = argv.first().map(|a| stem(a)).unwrap_or_default();
    let script = argv.get(1).filter(|a| !a.starts_with('-'));
    match script {
        Some(s) if INTERPRETERS.contains(&first.as_str()) => stem(s),
        _ if first.is_empty() => "check".to_owned(),
        _ => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_quoting() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(default_testcase(&argv(&["./checks/rpmlint.sh"])), "rpmlint");
        assert_eq!(default_testcase(&argv(&["sh", "tests/smoke.sh", "-v"])), "smoke");
        assert_eq!(default_testcase(&argv(&["sh", "-c", "true"])), "sh");
        assert_eq!(default_testcase(&argv(&["make", "check"])), "make");
        assert_eq!(shell_line(&argv(&["sh", "-c", "echo 'hi there'"])), "sh -c 'echo '\\''hi there'\\'''");
        assert_eq!(logfmt_value("OK"), "OK");
        assert_eq!(logfmt_value("sh -c \"x\""), "\"sh -c \\\"x\\\"\"");
    }
}
