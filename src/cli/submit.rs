//! `verdict submit`: check the whole input, then store it exactly once in bounded chunks
//! (see `service::submit`).

use super::SubmitArgs;
use super::{outcomes, progress};
use crate::service::submit::{Checked, SubmitError, SubmitOptions, Submitted, check};
use crate::service::{Config, Service};
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;
use std::time::Instant;

/// Test hooks (not documented for users): results per transaction, and a stop after
/// this many committed chunks that leaves the input unrecorded, as a kill would.
const CHUNK_RESULTS_ENV: &str = "VERDICT_SUBMIT_CHUNK_RESULTS";
const STOP_AFTER_ENV: &str = "VERDICT_SUBMIT_STOP_AFTER_CHUNKS";
/// Benchmark hook: milliseconds of work per transaction.
const CHUNK_MS_ENV: &str = "VERDICT_SUBMIT_CHUNK_MS";

pub(super) fn submit(db: &Path, args: SubmitArgs) -> Result<i32> {
    let outcomes = outcomes(&args.outcomes)?;
    let limits = args.input_limits.limits();
    let name = if args.file == "-" { "standard input".to_owned() } else { args.file.clone() };
    // Pass 1 reads everything before the store is opened: a bad input creates nothing.
    let (checked, second) = match first_pass(&args.file, &outcomes, &limits)? {
        Ok(pass) => pass,
        Err(e) => {
            eprintln!("error: {name}: {e}\nnothing was stored; fix the input and run again");
            return Ok(1);
        }
    };
    if let Some(remote) = args.remote.server()? {
        if args.again {
            bail!("--again stores a new copy on the store file; with --url the server stores each part once");
        }
        return super::remote::submit(&remote, &name, second, checked.records);
    }
    let config = Config { outcomes: outcomes.clone(), input_limits: limits.clone(), ..Config::default() };
    let (service, writer) = Service::open_batch(db, config)?;
    let mut opts = SubmitOptions::new(outcomes, limits, args.file.clone(), args.again);
    if let Some(n) = env_number(CHUNK_RESULTS_ENV) {
        opts.chunk_results = n.max(1);
    }
    if let Some(ms) = env_number(CHUNK_MS_ENV) {
        opts.chunk_time = std::time::Duration::from_millis(ms as u64);
    }
    opts.stop_after_chunks = env_number(STOP_AFTER_ENV);
    let len = second.metadata().ok().map(|m| m.len());
    let bar = progress(len, "storing");
    let started = Instant::now();
    let outcome = service.submit_input(bar.wrap_read(second), &checked, &opts);
    bar.finish_and_clear();
    if let Err(e) = service.finish(writer) {
        tracing::warn!(error = %e, "WAL checkpoint after submit failed");
    }
    let hash = checked.blake3.to_hex();
    match outcome {
        Ok(Submitted::AlreadyStored) => {
            println!(
                "already stored {} results from {name} (blake3 {hash}); nothing stored; use --again to store them again",
                checked.records
            );
            Ok(0)
        }
        Ok(Submitted::Stored(t)) => {
            let secs = started.elapsed().as_secs_f64();
            let copy = if t.copy > 0 { format!(" (copy {})", t.copy + 1) } else { String::new() };
            let before = if t.skipped > 0 {
                format!("; {} were stored before (by an interrupted run, or under the same uuid)", t.skipped)
            } else {
                String::new()
            };
            println!(
                "stored {} of {} results from {name}{copy} in {secs:.2}s ({:.0}/s, {} transactions){before}",
                t.stored,
                checked.records,
                t.stored as f64 / secs.max(1e-9),
                t.chunks
            );
            Ok(0)
        }
        Err(SubmitError::Stopped(n)) => {
            eprintln!("stopped after {n} transaction(s) ({STOP_AFTER_ENV}); rerun to store the rest");
            Ok(3)
        }
        Err(SubmitError::Changed) => {
            eprintln!(
                "error: {name} changed while it was being stored (its blake3 was {hash}); results committed before \
                 are kept but the input is not recorded; check the store, then submit the new content"
            );
            Ok(1)
        }
        Err(e) => {
            eprintln!(
                "error: {e}\nresults committed before the failure are kept; rerun the same command to store the rest \
                 (nothing is stored twice)"
            );
            Ok(1)
        }
    }
}

/// Checks the whole input, returning what was found and the file to read again: the
/// input file itself, or for standard input a temporary copy written while checking.
/// The outer error is an I/O failure around the input, the inner one a bad input.
fn first_pass(
    file: &str,
    outcomes: &crate::model::Outcomes,
    limits: &crate::model::InputLimits,
) -> Result<Result<(Checked, File), SubmitError>> {
    if file == "-" {
        let mut copy = tempfile::tempfile()
            .context("cannot create a temporary file to hold standard input (set TMPDIR to a writable directory)")?;
        let bar = progress(None, "checking");
        let checked = check(bar.wrap_read(std::io::stdin().lock()), Some(&mut copy), outcomes, limits);
        bar.finish_and_clear();
        copy.seek(SeekFrom::Start(0)).context("rewinding the temporary copy of standard input")?;
        return Ok(checked.map(|c| (c, copy)));
    }
    let open = || File::open(file).with_context(|| format!("cannot read {file}; check the path"));
    let input = open()?;
    let len = input.metadata().ok().map(|m| m.len());
    let bar = progress(len, "checking");
    let checked = check(bar.wrap_read(input), None, outcomes, limits);
    bar.finish_and_clear();
    match checked {
        Ok(c) => Ok(Ok((c, open()?))),
        Err(e) => Ok(Err(e)),
    }
}

/// A number from the environment, if set and valid.
pub(super) fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}
