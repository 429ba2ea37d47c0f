//! `verdict ingest PATH...`: result files into the store once, with a summary.

use super::{DefaultArgs, IngestArgs};
use super::{outcomes, progress};
use crate::model::{InputLimits, Outcomes};
use crate::service::ingest::{Defaults, DirContext, FileRef, IngestConfig, Ingested, ingest_file};
use crate::service::{Config, Service};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The ingest settings from the default flags.
pub(super) fn ingest_config(d: &DefaultArgs, outcomes: Outcomes, limits: InputLimits) -> Result<IngestConfig> {
    let mut data = std::collections::BTreeMap::new();
    if let Some(arch) = &d.arch {
        data.insert("arch".to_owned(), vec![arch.clone()]);
    }
    for kv in &d.data {
        let Some((k, v)) = kv.split_once('=') else { bail!("--data wants KEY=VALUE, got {kv:?}") };
        data.entry(k.to_owned()).or_insert_with(Vec::new).push(v.to_owned());
    }
    crate::model::check_data_keys(data.keys())?;
    Ok(IngestConfig {
        outcomes,
        defaults: Defaults { item: d.item.clone(), item_type: d.item_type.clone(), data },
        require_item: d.require_item,
        limits,
    })
}

/// Result files under the given paths, in a stable order (sidecars go with their file).
fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("{}", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))?.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if p.is_dir() {
            walk(&p, out)?;
        } else if !crate::formats::is_ignored_name(&name) {
            out.push(p);
        }
    }
    Ok(())
}

/// The sidecar of a result file, when there is one (`<file>.meta.json`).
pub(super) fn sidecar_of(path: &Path) -> Option<PathBuf> {
    let mut s = path.as_os_str().to_owned();
    s.push(".meta.json");
    let p = PathBuf::from(s);
    p.is_file().then_some(p)
}

pub(super) fn ingest(db: &Path, args: IngestArgs) -> Result<i32> {
    let cfg = ingest_config(&args.defaults, outcomes(&args.outcomes)?, args.input_limits.limits())?;
    let files = collect(&args.paths)?;
    if let Some(remote) = args.remote.server()? {
        if cfg.require_item {
            bail!("--require-item is a local check; with --url the server stores what the files and flags say");
        }
        return super::remote::ingest(&remote, &files, &cfg.defaults);
    }
    let config = Config { outcomes: cfg.outcomes.clone(), input_limits: cfg.limits.clone(), ..Config::default() };
    let (service, writer) = Service::open_batch(db, config)?;
    let queue = service.queue();
    let bar = progress(None, "ingesting");
    let (mut stored, mut duplicates, mut results) = (0usize, 0usize, 0usize);
    let mut failures: Vec<(String, String)> = Vec::new();
    for path in &files {
        let name = path.to_string_lossy().into_owned();
        let sidecar = sidecar_of(path);
        let file = FileRef { path, name: &name, dir: DirContext::default(), sidecar: sidecar.as_deref() };
        match ingest_file(&queue, &file, &cfg) {
            Ok(Ingested::Stored { results: n, .. }) => {
                stored += 1;
                results += n;
            }
            Ok(Ingested::AlreadyIngested) => duplicates += 1,
            Err(e) => failures.push((name, e.message)),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    // The writer stops (and `finish` returns) only once every queue handle is gone.
    drop(queue);
    if let Err(e) = service.finish(writer) {
        tracing::warn!(error = %e, "WAL checkpoint after ingest failed");
    }
    Ok(summary(files.len(), stored, results, duplicates, &failures))
}

/// Prints what became of the files; the exit code (1 if any failed).
pub(super) fn summary(
    files: usize,
    stored: usize,
    results: usize,
    duplicates: usize,
    failures: &[(String, String)],
) -> i32 {
    println!(
        "{files} file(s): {stored} ingested ({results} results), {duplicates} already ingested, {} failed",
        failures.len()
    );
    for (file, why) in failures {
        println!("FAILED {file}: {why}");
    }
    if failures.is_empty() { 0 } else { 1 }
}
