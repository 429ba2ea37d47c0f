//! `verdict prune`: drops results submitted before a date under hash-chained horizon
//! entries (the chain still verifies; history keeps per-day counts), then shrinks the file.

use crate::model::time::parse_iso8601;
use crate::service::prune::{PRUNE_STEP, PruneOptions};
use crate::service::{Config, Service};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Prune results submitted before this instant (UTC; `2026-01-01`, `2026-01-01T12:00`).
    #[arg(long, value_name = "DATE")]
    pub before: String,
    /// Only results of testcases matching this pattern (`*` wildcards, as `testcases:like`).
    #[arg(long, value_name = "PATTERN")]
    pub testcases_like: Option<String>,
}

pub fn prune(db: &Path, args: &PruneArgs) -> Result<i32> {
    let Some(before) = parse_iso8601(&args.before) else {
        bail!("--before {:?} is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], UTC)", args.before);
    };
    if !db.exists() {
        bail!("{}: no store there (nothing to prune); give the store with --db", db.display());
    }
    let size_before = file_bytes(db);
    let (service, writer) = Service::open_batch(db, Config::default())?;
    // Tests set a small step to interleave many transactions with a server's writes.
    let step = super::submit::env_number("VERDICT_PRUNE_STEP").unwrap_or(PRUNE_STEP);
    let opts = PruneOptions { before: before.0, testcases_like: args.testcases_like.clone(), step };
    let bar = super::progress(None, "pruned");
    let started = Instant::now();
    let outcome = service.prune(&opts, |n| bar.set_position(n));
    bar.finish_and_clear();
    service.finish(writer).context("closing the store after pruning")?;
    let done = outcome?;
    let size_after = file_bytes(db);
    println!(
        "pruned {} results submitted before {} in {:.1}s ({} horizon entries, {} transactions); {} is {} (was {})",
        done.results,
        before.to_iso(),
        started.elapsed().as_secs_f64(),
        done.horizons,
        done.transactions,
        db.display(),
        indicatif::HumanBytes(size_after),
        indicatif::HumanBytes(size_before),
    );
    Ok(0)
}

fn file_bytes(db: &Path) -> u64 {
    std::fs::metadata(db).map(|m| m.len()).unwrap_or(0)
}
