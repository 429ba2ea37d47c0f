//! `verdict reconcile --from URL|DIR` (issue 15): what a source claims against what is
//! stored, the missing part listed, and with `--apply` stored idempotently; and the
//! periodic run of `serve --reconcile-from … --reconcile-every …`.
//!
//! The source is read here (`source`: HTTP or a directory); the stored side is read
//! through the service (`ReadOnly` on `--db`, or the target server's API with `--url`),
//! and the comparison is `model::reconcile`'s.

mod source;

use super::remote::RemoteArgs;
use super::{OutcomeArgs, outcomes};
use crate::model::reconcile::{Report, Stored};
use crate::model::{ResultQuery, Timestamp};
use crate::service::local::ReadOnly;
use crate::service::reconcile::{SourceRun, compare_results, missing_record, reconcile_messages, reconcile_results};
use crate::service::{Config, Service};
use anyhow::{Context, Result, bail};
use clap::Args;
use source::{Server, api_root, shown};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// What claims the results: a server's URL (another verdict, or ResultsDB; read through
    /// `GET /api/v2.0/results`), or a directory of archived bus messages (`*.json`, each
    /// `{"topic": …, "message_id": …, "body": {…}}`).
    #[arg(long, value_name = "URL|DIR")]
    pub from: String,
    /// Only results of this item (repeatable).
    #[arg(long = "item", value_name = "ITEM")]
    pub items: Vec<String>,
    /// Only results whose data.type is this.
    #[arg(long = "type", value_name = "TYPE")]
    pub item_type: Option<String>,
    /// Only results submitted in `START` or `START,END` (ISO 8601); the end defaults to
    /// now, so results arriving during the run do not move the pages.
    #[arg(long, value_name = "START[,END]")]
    pub since: Option<String>,
    /// Only these testcases (comma list).
    #[arg(long)]
    pub testcases: Option<String>,
    /// Only testcases matching these patterns (`*` any text; comma list).
    #[arg(long = "testcases-like", value_name = "PATTERNS")]
    pub testcases_like: Option<String>,
    /// Store what is missing (idempotent: a second run stores nothing).
    #[arg(long)]
    pub apply: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Results asked for per request.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub page_size: u32,
    /// The target server (instead of the store file --db): its results are read and the
    /// missing ones posted through its API (--token to write).
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub outcomes: OutcomeArgs,
}

/// Seconds an HTTP request of reconcile may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The HTTP agent for sources and targets (every status handed back as an answer).
fn agent(ca_cert: Option<&Path>) -> Result<ureq::Agent> {
    super::remote::agent(ca_cert, Some(REQUEST_TIMEOUT))
}

/// The API parameters of the selection (asked of source and target alike); `since`
/// always gets an end, now unless given.
fn selection(args: &ReconcileArgs, now: Timestamp) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    if !args.items.is_empty() {
        pairs.push(("item".to_owned(), args.items.join(",")));
    }
    let mut push = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            pairs.push((k.to_owned(), v.clone()));
        }
    };
    push("type", &args.item_type);
    push("testcases", &args.testcases);
    push("testcases:like", &args.testcases_like);
    let since = match &args.since {
        Some(s) if s.contains(',') => s.clone(),
        Some(s) => format!("{s},{}", now.to_iso()),
        None => format!("1970-01-01T00:00:00,{}", now.to_iso()),
    };
    pairs.push(("since".to_owned(), since));
    pairs
}

/// `verdict reconcile`: exit 0 when nothing is missing (or all of it was stored), 1 when
/// something is, 2 when the run failed.
pub(super) fn reconcile(db: &Path, args: ReconcileArgs) -> Result<i32> {
    match run(db, &args) {
        Ok(report) => {
            print_report(&report, args.apply, args.json)?;
            Ok(report.exit_code())
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(2)
        }
    }
}

fn run(db: &Path, args: &ReconcileArgs) -> Result<Report> {
    let config = Config { outcomes: outcomes(&args.outcomes)?, ..Config::default() };
    let dir = Path::new(&args.from);
    let is_url = args.from.starts_with("http://") || args.from.starts_with("https://");
    if !is_url && !dir.is_dir() {
        bail!("--from {:?} is neither an http(s) URL nor a directory", args.from);
    }
    let agent = agent(args.remote.ca_cert.as_deref())?;
    let now = Timestamp::now();
    let pairs = selection(args, now);
    let q = ResultQuery::parse(&pairs, &config.outcomes, i64::MAX).context("the selection")?;
    if let Some(target) = &args.remote.url {
        if !is_url {
            bail!("a directory source is reconciled with the store file (--db), not a server (--url)");
        }
        let target = Server { root: api_root(target), token: args.remote.token.as_deref(), agent: &agent };
        return over_http(&config, args, &agent, &target, &pairs);
    }
    // The source is read before the store is opened: a wrong URL creates nothing.
    enum Claims {
        Results(Vec<crate::model::reconcile::Claimed>),
        Messages(Vec<crate::service::reconcile::Archived>, Vec<String>),
    }
    let source = shown(&api_root(&args.from));
    let claims = if is_url {
        let from = Server { root: api_root(&args.from), token: None, agent: &agent };
        Claims::Results(from.results(&pairs, args.page_size.max(1))?)
    } else {
        let (archived, bad) = source::archive(dir)?;
        Claims::Messages(archived, bad)
    };
    let (service, writer) = if args.apply {
        let (s, w) = Service::open_batch(db, config.clone())?;
        (Some(s), Some(w))
    } else {
        (None, None)
    };
    let opened;
    let reads = match &service {
        Some(s) => s.reads(),
        None => {
            opened = ReadOnly::open(db)?;
            &opened
        }
    };
    let outcome = match claims {
        Claims::Results(claimed) => reconcile_results(reads, service.as_ref(), &config, &source, &q, claimed),
        Claims::Messages(archived, bad) => reconcile_messages(reads, service.as_ref(), &config, &args.from, archived)
            .map(|mut report| {
                report.refused.extend(bad);
                report
            }),
    };
    if let (Some(service), Some(writer)) = (service, writer)
        && let Err(e) = service.finish(writer)
    {
        tracing::warn!(error = %e, "WAL checkpoint after reconcile failed");
    }
    Ok(outcome?)
}

/// Source and target both servers: both listed, compared here, missing ones posted.
fn over_http(
    config: &Config,
    args: &ReconcileArgs,
    agent: &ureq::Agent,
    target: &Server,
    pairs: &[(String, String)],
) -> Result<Report> {
    let from = Server { root: api_root(&args.from), token: None, agent };
    let page = args.page_size.max(1);
    let claimed = from.results(pairs, page)?;
    let mut stored = Stored::default();
    for c in target.results(pairs, page)? {
        stored.add(&c);
    }
    let source = shown(&from.root);
    let (mut report, missing) = compare_results(&source, claimed, stored);
    if args.apply {
        for m in missing {
            match missing_record(config, &source, m) {
                Ok(record) => {
                    target.post(&record)?;
                    report.stored += 1;
                }
                Err(e) => report.refused.push(e),
            }
        }
    }
    Ok(report)
}

fn print_report(r: &Report, applied: bool, json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, r)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "source:   {}", r.source)?;
    writeln!(out, "compared: {}", r.compared)?;
    writeln!(out, "present:  {}", r.present)?;
    writeln!(out, "missing:  {}", r.missing)?;
    if applied {
        writeln!(out, "stored:   {}", r.stored)?;
    }
    if !r.missing_results.is_empty() {
        writeln!(out, "\n{:<26}  {:<16}  {:<40}  ITEM", "SUBMIT_TIME", "OUTCOME", "TESTCASE")?;
        for m in &r.missing_results {
            let from = m.message.as_deref().map(|n| format!("  ({n})")).unwrap_or_default();
            writeln!(out, "{:<26}  {:<16}  {:<40}  {}{from}", m.submit_time, m.outcome, m.testcase, m.item)?;
        }
    }
    for e in &r.refused {
        writeln!(out, "refused: {e}")?;
    }
    if !applied && r.missing > 0 {
        writeln!(out, "\n{} missing: run again with --apply to store them", r.missing)?;
    }
    Ok(())
}

/// How far back the first periodic run looks.
const FIRST_WINDOW: i64 = 24 * 3600 * 1_000_000;
/// How far before the previous run's start a later run looks again: a result the source
/// stored late, stamped a little earlier, is still seen.
const OVERLAP: i64 = 3600 * 1_000_000;

/// How long before a periodic run begins its window ends: a result on its way to this
/// server by its usual path (a POST, the consumer) gets there before reconcile looks.
const GRACE: i64 = 120 * 1_000_000;

/// `serve --reconcile-from … --reconcile-every …`: reconciles every source with `--apply`
/// semantics, now and then every `every`. The first run looks at the last 24 hours; each
/// later one from an hour before the previous successful run began; every window ends two
/// minutes before its run. The runs show in
/// `GET /api/verdict/v1/consume` under `reconcile`.
pub(super) fn start_periodic(
    service: Service,
    sources: Vec<String>,
    every: Duration,
    ca_cert: Option<&Path>,
) -> Result<tokio::task::JoinHandle<()>> {
    let agent = agent(ca_cert)?;
    let shown_sources = sources.iter().map(|s| shown(s)).collect();
    service.reconcile_status().enable(shown_sources, every.as_secs());
    Ok(tokio::spawn(async move {
        let mut last_start: Option<i64> = None;
        loop {
            let started = Timestamp::now().0;
            let from = last_start.map_or(started - FIRST_WINDOW, |s| s - OVERLAP);
            let (svc, srcs, agent2) = (service.clone(), sources.clone(), agent.clone());
            let runs = tokio::task::spawn_blocking(move || {
                let to = Timestamp(started - GRACE);
                srcs.iter().map(|s| periodic_run(&svc, &agent2, s, Timestamp(from), to)).collect()
            })
            .await
            .unwrap_or_else(|e| {
                vec![SourceRun { error: Some(format!("the run failed: {e}")), ..SourceRun::default() }]
            });
            let ok = runs.iter().all(|r: &SourceRun| r.error.is_none());
            for r in &runs {
                match &r.error {
                    Some(e) => tracing::warn!(source = %r.source, error = %e, "reconcile failed"),
                    None if r.missing > 0 => tracing::info!(
                        source = %r.source, compared = r.compared, missing = r.missing, stored = r.stored,
                        "reconcile stored missing results"
                    ),
                    None => tracing::debug!(source = %r.source, compared = r.compared, "reconcile: nothing missing"),
                }
            }
            service.reconcile_finished(runs);
            if ok {
                last_start = Some(started);
            }
            tokio::time::sleep(every).await;
        }
    }))
}

/// One source's part of a periodic run.
fn periodic_run(service: &Service, agent: &ureq::Agent, src: &str, from: Timestamp, to: Timestamp) -> SourceRun {
    let is_url = src.starts_with("http://") || src.starts_with("https://");
    let since = is_url.then(|| format!("{},{}", from.to_iso(), to.to_iso()));
    let outcome = (|| -> Result<Report> {
        let config = service.config();
        if is_url {
            let pairs = vec![("since".to_owned(), since.clone().unwrap_or_default())];
            let q = ResultQuery::parse(&pairs, &config.outcomes, i64::MAX)?;
            let from = Server { root: api_root(src), token: None, agent };
            let claimed = from.results(&pairs, 500)?;
            Ok(reconcile_results(service.reads(), Some(service), config, &shown(&from.root), &q, claimed)?)
        } else {
            let (archived, bad) = source::archive(Path::new(src))?;
            let mut report = reconcile_messages(service.reads(), Some(service), config, src, archived)?;
            report.refused.extend(bad);
            Ok(report)
        }
    })();
    let at = Timestamp::now().to_iso();
    match outcome {
        Ok(r) => SourceRun {
            source: r.source,
            at,
            since,
            compared: r.compared,
            present: r.present,
            missing: r.missing,
            stored: r.stored,
            refused: r.refused.into_iter().take(20).collect(),
            error: None,
        },
        Err(e) => SourceRun {
            source: shown(src),
            at,
            since,
            error: Some(crate::service::redact::scrub(&format!("{e:#}"), src)),
            ..SourceRun::default()
        },
    }
}
