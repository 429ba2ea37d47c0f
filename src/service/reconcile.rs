//! Reconcile (issue 15): what a source claims against what this store holds, and with
//! `apply` the missing part stored. The adapters fetch the source (another server's
//! results over HTTP, a directory of archived bus messages); this module reads the stored
//! side, compares with `model::reconcile`, and stores what is missing through the one
//! write queue — results under uuids derived from their content (`import_results` skips a
//! uuid already stored), messages exactly as the consumer would (same ingest key, so a
//! message reconciled first and delivered by the bus later is a duplicate).
//!
//! It also keeps the status of the periodic reconcile (`serve --reconcile-from`), shown
//! beside the consumer's in `GET /api/verdict/v1/consume`.

use super::consume::{BusMessage, message_bodies};
use super::import::Imported;
use super::local::ReadOnly;
use super::{Config, Service, ServiceError};
use crate::log::Body;
use crate::model::check_result;
use crate::model::reconcile::{Claimed, Missing, MissingLine, Report, Stored, compare};
use crate::model::{GroupInput, ModelError, ResultInput, ResultQuery, ResultRecord, Timestamp, check_data_keys};
use serde::Serialize;
use std::sync::Mutex;

/// Stored results read per query while building the stored side.
const PAGE: i64 = 1000;

impl ReadOnly {
    /// The stored results matching `q` (its `page` and `limit` ignored), all read in one
    /// snapshot so results written meanwhile neither shift the pages nor count twice.
    pub fn stored_matching(&self, q: &ResultQuery) -> Result<Stored, ServiceError> {
        let mut q = q.clone();
        q.limit = PAGE;
        self.read(|r| {
            let mut stored = Stored::default();
            let mut page = 0;
            loop {
                q.page = page;
                let rows = r.results(&q)?;
                let more = rows.len() as i64 > PAGE;
                for v in rows.iter().take(PAGE as usize) {
                    stored.add(&Claimed::from_record(&v.record));
                }
                if !more {
                    return Ok(stored);
                }
                page += 1;
            }
        })
    }

    /// Whether each of these ingest keys is recorded (files and bus messages alike).
    pub fn ingested(&self, keys: &[String]) -> Result<Vec<bool>, ServiceError> {
        self.read(|r| keys.iter().map(|k| Ok(r.is_ingested(k)?)).collect())
    }
}

/// Compares a source's results with the stored ones; the report and what is missing.
pub fn compare_results(source: &str, claimed: Vec<Claimed>, stored: Stored) -> (Report, Vec<Missing>) {
    let c = compare(claimed, stored);
    let report = Report {
        source: source.to_owned(),
        compared: c.compared,
        present: c.present,
        missing: c.missing.len() as u64,
        missing_results: c.missing.iter().map(|m| MissingLine::of(&m.claimed, &m.uuid, None)).collect(),
        ..Report::default()
    };
    (report, c.missing)
}

/// The record a missing result is stored as, checked against this store's outcomes and
/// size caps; an error says why it cannot be.
pub fn missing_record(config: &Config, source: &str, m: Missing) -> Result<ResultRecord, String> {
    let what = format!("{} {} at {}", m.claimed.testcase, m.claimed.outcome, Timestamp(m.claimed.submit_time).to_iso());
    let record = m.claimed.into_record(m.uuid, source);
    if !config.outcomes.contains(&record.outcome) {
        return Err(format!("{what}: outcome {:?} is not allowed here (--outcomes)", record.outcome));
    }
    check_data_keys(record.data.keys()).map_err(|e| format!("{what}: {e}"))?;
    let input = ResultInput {
        uuid: Some(record.uuid.clone()),
        testcase: record.testcase.clone(),
        outcome: record.outcome.clone(),
        note: record.note.clone(),
        ref_url: record.ref_url.clone(),
        groups: record
            .groups
            .iter()
            .map(|g| GroupInput { uuid: Some(g.uuid.clone()), description: None, ref_url: None })
            .collect(),
        data: record.data.clone(),
        submit_time: Some(Timestamp(record.submit_time)),
    };
    let over = check_result(&input, &config.input_limits);
    if !over.is_empty() {
        return Err(format!("{what}: {}", ModelError::Validation(over)));
    }
    Ok(record)
}

/// Reconciles a source's results with this store: `reads` is the stored side, `q` the
/// filter the source was asked with; with `apply` the missing ones are stored through it.
/// Blocking (it waits on the write queue).
pub fn reconcile_results(
    reads: &ReadOnly,
    apply: Option<&Service>,
    config: &Config,
    source: &str,
    q: &ResultQuery,
    claimed: Vec<Claimed>,
) -> Result<Report, ServiceError> {
    let stored = reads.stored_matching(q)?;
    let (mut report, missing) = compare_results(source, claimed, stored);
    let Some(service) = apply else { return Ok(report) };
    let mut records = Vec::with_capacity(missing.len());
    for m in missing {
        match missing_record(config, source, m) {
            Ok(r) => records.push(r),
            Err(e) => report.refused.push(e),
        }
    }
    let mut done = Imported::default();
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        done += service.import_results(records.by_ref().take(500).collect())?;
    }
    // A result stored by a racing reconciler (its uuid already here) is filled in too.
    report.stored = done.stored + done.present;
    Ok(report)
}

/// An archived bus message and the file it was read from.
#[derive(Debug, Clone)]
pub struct Archived {
    pub name: String,
    pub msg: BusMessage,
}

/// Reconciles archived messages with this store: a message whose ingest key is not
/// recorded is missing (the counts are of messages; the listing names their results);
/// with `apply` it is stored exactly as the consumer stores it. A message the consumer
/// would refuse is reported as refused. Blocking.
pub fn reconcile_messages(
    reads: &ReadOnly,
    apply: Option<&Service>,
    config: &Config,
    source: &str,
    archived: Vec<Archived>,
) -> Result<Report, ServiceError> {
    let mut report = Report { source: source.to_owned(), compared: archived.len() as u64, ..Report::default() };
    let now = Timestamp::now();
    let mut mapped = Vec::with_capacity(archived.len());
    for a in archived {
        match message_bodies(config, &a.msg, now) {
            Ok(bodies) => {
                let key = match bodies.first() {
                    Some(Body::Ingest(i)) => i.blake3.clone(),
                    _ => String::new(),
                };
                mapped.push((a, key, bodies));
            }
            Err(e) => report.refused.push(format!("{}: {e}", a.name)),
        }
    }
    let keys: Vec<String> = mapped.iter().map(|(_, k, _)| k.clone()).collect();
    let held = reads.ingested(&keys)?;
    for ((a, _, bodies), held) in mapped.into_iter().zip(held) {
        if held {
            report.present += 1;
            continue;
        }
        report.missing += 1;
        for b in &bodies {
            if let Body::Result(r) = b {
                let line = MissingLine::of(&Claimed::from_record(r), &r.uuid, Some(&a.name));
                report.missing_results.push(line);
            }
        }
        if let Some(service) = apply {
            // The bodies the consumer would write, through the same queue: a message the
            // bus delivers meanwhile (or another reconciler) makes this one a duplicate,
            // which is filled in all the same.
            service.inner.queue.write_blocking(bodies).map_err(ServiceError::from)?;
            report.stored += 1;
        }
    }
    Ok(report)
}

/// One source's part of a periodic run.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SourceRun {
    /// The source (URL with credentials masked, or directory).
    pub source: String,
    /// When the run of this source ended.
    pub at: String,
    /// The window asked for (`START,END`; none for a directory).
    pub since: Option<String>,
    pub compared: u64,
    pub present: u64,
    pub missing: u64,
    pub stored: u64,
    /// Missing results that could not be stored, with their reasons (at most 20).
    pub refused: Vec<String>,
    /// Why the run of this source failed (nothing is counted then).
    pub error: Option<String>,
}

/// The periodic reconcile's status (`reconcile` in `GET /api/verdict/v1/consume`).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ReconcileState {
    /// Whether this server reconciles periodically (`serve --reconcile-from`).
    pub enabled: bool,
    pub sources: Vec<String>,
    /// Seconds between runs.
    pub every_seconds: u64,
    /// Runs finished since start.
    pub runs: u64,
    /// Results (or messages) stored by all runs since start.
    pub stored: u64,
    /// When the last run ended.
    pub last_run_at: Option<String>,
    /// The last run, one entry per source.
    pub last_run: Vec<SourceRun>,
}

/// The periodic reconcile's status, updated by its task.
#[derive(Debug, Default)]
pub struct ReconcileStatus {
    inner: Mutex<ReconcileState>,
}

impl ReconcileStatus {
    fn with<T>(&self, f: impl FnOnce(&mut ReconcileState) -> T) -> T {
        // A panic while holding the lock leaves counters, not invariants: keep going.
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Marks the periodic reconcile configured.
    pub fn enable(&self, sources: Vec<String>, every_seconds: u64) {
        self.with(|s| {
            s.enabled = true;
            s.sources = sources;
            s.every_seconds = every_seconds;
        });
    }

    /// Records a finished run.
    pub fn finished(&self, runs: Vec<SourceRun>) {
        self.with(|s| {
            s.runs += 1;
            s.stored += runs.iter().map(|r| r.stored).sum::<u64>();
            s.last_run_at = Some(Timestamp::now().to_iso());
            s.last_run = runs;
        });
    }

    pub fn report(&self) -> ReconcileState {
        self.with(|s| s.clone())
    }
}

impl Service {
    /// The periodic reconcile's status (its task updates it).
    pub fn reconcile_status(&self) -> &ReconcileStatus {
        &self.inner.reconcile
    }

    /// Records a finished periodic run: its status and its counts in the metrics.
    pub fn reconcile_finished(&self, runs: Vec<SourceRun>) {
        for r in &runs {
            self.inner.metrics.reconciled(r.error.is_none(), r.missing, r.stored);
        }
        self.inner.reconcile.finished(runs);
    }
}
