//! `verdict run -- COMMAND…`: runs a check as a lab rig would, without a CI server. Each
//! attempt's output goes to the terminal and the run's log; its results (a file named by
//! `$VERDICT_RESULTS`, else TAP on standard output, else its exit status) are parsed by the
//! ingest's parser; failures are retried and new testcases burnt in (`insight::Attempts`);
//! every kept attempt is written to one JSON Lines file beside the log, which is then
//! stored exactly once by its content (the ingest path, locally or `--url`).

mod exec;
mod results;
mod target;

use super::OutcomeArgs;
use super::remote::RemoteArgs;
use crate::formats::Format;
use crate::insight::{Attempts, RunPolicy, RunVerdict};
use crate::model::InputLimits;
use crate::service::ingest::{Defaults, IngestConfig};
use anyhow::{Context, Result, bail};
use clap::Args;
use results::{Kept, RunContext};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use target::Target;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The item under test (`data.item` of results that name none).
    #[arg(long)]
    pub item: String,
    /// The item's type (`data.type`), e.g. koji_build; with the testcase, the key burn-in
    /// asks the store about.
    #[arg(long = "type")]
    pub item_type: String,
    /// Prepended to every testcase name the check reports (e.g. `dist.`).
    #[arg(long, default_value = "")]
    pub testcase_prefix: String,
    /// The testcase of an attempt that reports nothing parseable (judged by its exit
    /// status), after the prefix. Default: the command's file name without its extension
    /// (the script's for `sh script.sh`, `python3 check.py`, …).
    #[arg(long)]
    pub testcase: Option<String>,
    /// The results' format: auto (a file in $VERDICT_RESULTS is detected, standard output
    /// is read only when it is TAP) or junit, tap, resultyaml, resultsdb, jsonl, ctrf, subunit.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Run a failed testcase again up to N more times (only the failed ones, through
    /// $VERDICT_RERUN, when the check honours it; else the whole command).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retries: u32,
    /// Run a testcase the store has no result of (for --type) N times in all, to catch a
    /// new flaky test before it lands (0 or 1: off).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub burn_in: u32,
    /// Kill the command (SIGTERM to its whole process group, SIGKILL 5 s later) when an
    /// attempt runs longer than this: `90s`, `15m`, `2h`, `500ms` or seconds.
    #[arg(long, value_parser = duration_arg, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Where the run's log (RUN_ID.log), its stored results (RUN_ID.jsonl) and the check's
    /// own files (RUN_ID.d/) go. Default: `logs/` beside the --db file; `./verdict-logs`
    /// with --url or a PostgreSQL --db.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Where the log directory is served (e.g. `https://rig7.example.com/logs`): results'
    /// ref_url is then URL/RUN_ID.log instead of a file:// URL.
    #[arg(long, value_name = "URL")]
    pub log_url: Option<String>,
    /// `arch` of every result that names none (shorthand for `--data arch=VALUE`).
    #[arg(long)]
    pub arch: Option<String>,
    /// Extra data `key=value` for every result that names none of that key (repeatable).
    #[arg(long = "data", value_name = "KEY=VALUE")]
    pub data: Vec<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub outcomes: OutcomeArgs,
    /// The check and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `--timeout`: a number with an optional unit (ms, s, m, h; seconds without one).
pub(in crate::cli) fn duration_arg(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(Duration::from_secs_f64(n * scale)),
        _ => Err(format!("{text:?} is not a duration: give e.g. 90s, 15m, 2h, 500ms or a number of seconds")),
    }
}

/// Runs the check; the exit code: 0 passed, 1 a result failed, 2 the execution failed
/// (or verdict could not run it or store its results).
pub(super) fn run(db: &Path, args: RunArgs) -> Result<i32> {
    match run_check(db, &args) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("verdict run: error: {e:#}");
            Ok(2)
        }
    }
}

fn run_check(db: &Path, args: &RunArgs) -> Result<i32> {
    let forced = match args.format.as_str() {
        "auto" => None,
        name => Some(Format::from_name(name).with_context(|| format!("--format {name}"))?),
    };
    let cfg = ingest_config(args)?;
    let policy = RunPolicy { retries: args.retries, burn_in: args.burn_in };
    let run_id = uuid::Uuid::now_v7().hyphenated().to_string();
    // The store first: one that cannot be opened leaves no log behind.
    let target = Target::open(db, args.remote.server()?, &cfg)?;
    let dir = log_dir(db, args)?;
    let work = dir.join(format!("{run_id}.d"));
    std::fs::create_dir_all(&work)
        .with_context(|| format!("cannot create {}; choose a writable directory with --log-dir", work.display()))?;
    let log_path = dir.join(format!("{run_id}.log"));
    let log_file = File::create(&log_path).with_context(|| format!("cannot create the log {}", log_path.display()))?;
    let log = Arc::new(Mutex::new(log_file));
    let ctx = RunContext {
        run_id: run_id.clone(),
        prefix: args.testcase_prefix.clone(),
        log_path: log_path.display().to_string(),
        log_ref: match &args.log_url {
            Some(u) => format!("{}/{run_id}.log", u.trim_end_matches('/')),
            None => format!("file://{}", log_path.display()),
        },
        command: results::shell_line(&args.command),
        host: host(),
    };
    let whole = args.testcase.clone().unwrap_or_else(|| results::default_testcase(&args.command));
    let mut attempts = Attempts::new(&whole);
    let mut kept: Vec<Kept> = Vec::new();
    let (mut last, mut total, mut crashed, mut ran) = (None, Duration::ZERO, 0u32, 0u32);
    for n in 1..=policy.max_attempts() {
        let rerun = if n == 1 { Vec::new() } else { attempts.wanted(&policy) };
        if n > 1 && rerun.is_empty() {
            break;
        }
        let results_path = work.join(format!("attempt-{n}.results"));
        let mut env: Vec<(&str, OsString)> = vec![
            ("VERDICT_RESULTS", results_path.clone().into_os_string()),
            ("VERDICT_RUN_ID", run_id.clone().into()),
            ("VERDICT_ATTEMPT", n.to_string().into()),
        ];
        if !rerun.is_empty() {
            let rerun_path = work.join(format!("attempt-{n}.rerun"));
            std::fs::write(&rerun_path, rerun.iter().map(|t| format!("{t}\n")).collect::<String>())
                .with_context(|| format!("cannot write {}", rerun_path.display()))?;
            env.push(("VERDICT_RERUN", rerun_path.into_os_string()));
        }
        say(
            &log,
            &format!("=== verdict run {run_id}: attempt {n} (at most {}): {}", policy.max_attempts(), ctx.command),
        );
        if !rerun.is_empty() {
            say(&log, &format!("=== running again: {}", rerun.join(", ")));
        }
        let done = exec::execute(&args.command, &env, args.timeout, &log);
        ran = n;
        total += done.duration;
        let parsed = results::parse_attempt(&done, &results_path, forced, &cfg, &whole);
        if !parsed.executed_ok {
            crashed += 1;
        }
        if n == 1 && policy.burn_in > 1 {
            let names: Vec<String> = parsed.results.iter().map(|k| format!("{}{}", ctx.prefix, k.testcase)).collect();
            let seen = target.seen(&names, &args.item_type)?;
            attempts.mark_new(
                parsed
                    .results
                    .iter()
                    .filter(|k| !seen.contains(&format!("{}{}", ctx.prefix, k.testcase)))
                    .map(|k| k.testcase.as_str()),
            );
        }
        let (mut stored, mut dropped, mut failed) = (0usize, 0usize, 0usize);
        for mut k in parsed.results {
            if !attempts.wants(&k.testcase, &policy) {
                dropped += 1;
                continue;
            }
            attempts.record(&k.testcase, &k.outcome);
            failed += usize::from(crate::insight::class_of(&k.outcome) == crate::insight::Class::Fail);
            k.attempt = n;
            kept.push(k);
            stored += 1;
        }
        let extra = if dropped > 0 { format!(" ({dropped} not asked for, not kept)") } else { String::new() };
        let note = parsed.problem.map(|p| format!("; {p}")).unwrap_or_default();
        say(
            &log,
            &format!(
                "=== attempt {n}: {} after {:.2}s: {stored} results, {failed} failed{extra}{note}",
                done.ended.describe(),
                done.duration.as_secs_f64()
            ),
        );
        last = Some((done.ended, parsed.executed_ok));
    }
    let (ended, last_ok) = last.unwrap_or((exec::Ended::NotStarted("no attempt ran".into()), false));
    let mut finals = Vec::new();
    for (t, outcome) in attempts.finals() {
        let failing = crate::insight::class_of(&outcome) == crate::insight::Class::Fail;
        let quarantined = failing && target.quarantined(&format!("{}{t}", ctx.prefix), &args.item_type)?;
        if quarantined {
            say(&log, &format!("=== {}{t} failed but is quarantined: it does not fail the run", ctx.prefix));
        }
        finals.push((t, outcome, quarantined));
    }
    let verdict = RunVerdict::of(last_ok, &finals);
    let record =
        results::Execution { verdict, ended: &ended, duration: total, attempts: ran, crashed, results: kept.len() };
    let description = ctx.description(&record);
    let jsonl = dir.join(format!("{run_id}.jsonl"));
    results::write_jsonl(&jsonl, &kept, &ctx, &description)?;
    let stored = target.store(&jsonl, &cfg).with_context(|| {
        format!(
            "the run's results are kept in {}; store them with `verdict ingest{} {}` (nothing is stored twice)",
            jsonl.display(),
            if args.remote.url.is_some() { " --url URL" } else { "" },
            jsonl.display()
        )
    });
    target.finish();
    // Nothing of the check's own in it: no empty directory left behind.
    let _ = std::fs::remove_dir(&work);
    let stored = stored?;
    let before = if stored.before > 0 { format!(" ({} were stored before)", stored.before) } else { String::new() };
    say(
        &log,
        &format!(
            "=== verdict run {run_id}: {} ({description}); stored {} results{before}; exit {}; log {}",
            verdict.execution_status(),
            stored.stored,
            verdict.exit_code(),
            log_path.display()
        ),
    );
    Ok(verdict.exit_code())
}

/// A line for both the terminal (standard error) and the log.
fn say(log: &Mutex<File>, line: &str) {
    eprintln!("{line}");
    if let Ok(mut f) = log.lock() {
        let _ = writeln!(f, "{line}");
    }
}

/// The ingest settings: item and type (the run's key), --arch and --data as defaults.
fn ingest_config(args: &RunArgs) -> Result<IngestConfig> {
    let mut data: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(arch) = &args.arch {
        data.insert("arch".to_owned(), vec![arch.clone()]);
    }
    for kv in &args.data {
        let Some((k, v)) = kv.split_once('=') else { bail!("--data wants KEY=VALUE, got {kv:?}") };
        data.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    crate::model::check_data_keys(data.keys())?;
    if args.command.is_empty() {
        bail!("give the command to run after `--`");
    }
    Ok(IngestConfig {
        outcomes: super::outcomes(&args.outcomes)?,
        defaults: Defaults { item: Some(args.item.clone()), item_type: Some(args.item_type.clone()), data },
        require_item: false,
        limits: InputLimits::default(),
    })
}

/// The log directory, created and made absolute (results name the log by its full path).
fn log_dir(db: &Path, args: &RunArgs) -> Result<PathBuf> {
    let db_text = db.to_string_lossy();
    let dir = match &args.log_dir {
        Some(d) => d.clone(),
        None if args.remote.url.is_some() || db_text.starts_with("postgres") => PathBuf::from("verdict-logs"),
        None => db.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join("logs"),
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the log directory {}; choose another with --log-dir", dir.display()))?;
    std::fs::canonicalize(&dir).with_context(|| format!("cannot resolve {}", dir.display()))
}

/// This machine's host name.
fn host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer it is given.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    match rc {
        0 => String::from_utf8_lossy(buf.get(..end).unwrap_or_default()).into_owned(),
        _ => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::duration_arg;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(duration_arg("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration_arg("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(duration_arg("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(duration_arg("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration_arg("1.5"), Ok(Duration::from_millis(1500)));
        assert!(duration_arg("soon").is_err());
        assert!(duration_arg("0s").is_err());
    }
}
