//! `verdict import-resultsdb`: copy an upstream ResultsDB 2.x (and WaiverDB 1.x) PostgreSQL
//! database into the store as log entries, idempotently and resumably (issue 14).

use super::{ImportResultsdbArgs, progress_count};
use crate::model::upstream::{UpstreamResult, UpstreamWaiver};
use crate::service::import::Imported;
use crate::service::{Config, Service};
use crate::upstream::{RESULTSDB_TABLES, Upstream, WAIVERDB_TABLES};
use anyhow::{Context, Result};
use std::path::Path;
use std::time::Instant;

/// What was imported from each kind of record.
#[derive(Debug, Default)]
struct Summary {
    testcases_and_groups: Imported,
    results: Imported,
    waivers: Imported,
}

pub(super) fn import_resultsdb(db: &Path, args: ImportResultsdbArgs) -> Result<i32> {
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    // Both connections are made (and their schemas checked) before the store is opened: a
    // wrong URL creates nothing.
    let trusted = args.ca_cert.as_deref().map(crate::http::tls::read_chain).transpose()?;
    let ca = trusted.as_deref();
    let resultsdb = rt.block_on(Upstream::connect(&args.resultsdb, ca, &RESULTSDB_TABLES, "ResultsDB 2.x"))?;
    let waiverdb = match &args.waiverdb {
        Some(url) => Some(rt.block_on(Upstream::connect(url, ca, &WAIVERDB_TABLES, "WaiverDB 1.x"))?),
        None => None,
    };
    let (service, writer) = Service::open_batch(db, Config::default())?;
    let started = Instant::now();
    let batch = i64::from(args.batch.max(1));
    let mut sum = Summary::default();
    let outcome = (|| -> Result<()> {
        let testcases = rt.block_on(resultsdb.testcases())?;
        let groups = rt.block_on(resultsdb.groups())?;
        sum.testcases_and_groups = service.import_catalog(testcases, groups)?;
        pages(
            &mut sum.results,
            &rt,
            rt.block_on(resultsdb.count("result"))?,
            "results",
            |after| resultsdb.results_after(after, batch),
            |r| r.id,
            |page| service.import_results(page.into_iter().map(UpstreamResult::into_record).collect()),
        )?;
        if let Some(waiverdb) = &waiverdb {
            pages(
                &mut sum.waivers,
                &rt,
                rt.block_on(waiverdb.count("waiver"))?,
                "waivers",
                |after| waiverdb.waivers_after(after, batch),
                |w| w.id,
                |page| service.import_waivers(page.into_iter().map(UpstreamWaiver::into_record).collect()),
            )?;
        }
        Ok(())
    })();
    if let Err(e) = service.finish(writer) {
        tracing::warn!(error = %e, "WAL checkpoint after the import failed");
    }
    let secs = started.elapsed().as_secs_f64();
    let line = |what: &str, i: Imported| format!("{what}: {} stored, {} already here", i.stored, i.present);
    println!("{}", line("testcases and groups", sum.testcases_and_groups));
    println!(
        "{} ({:.0} results/s)",
        line("results", sum.results),
        (sum.results.stored + sum.results.present) as f64 / secs.max(1e-9)
    );
    if waiverdb.is_some() {
        println!("{}", line("waivers", sum.waivers));
    }
    match outcome {
        Ok(()) => {
            println!("imported in {secs:.2}s");
            Ok(0)
        }
        Err(e) => {
            eprintln!(
                "error: {e:#}\nwhat was stored above is kept; run the same command again to go on where it stopped"
            );
            Ok(1)
        }
    }
}

/// Reads upstream rows a page at a time in id order (`fetch` returns the rows after an id)
/// and stores each page in one transaction, with a progress bar over `total` rows; counts
/// into `done` as it goes, so a run that fails part-way still reports what it stored.
fn pages<T, F>(
    done: &mut Imported,
    rt: &tokio::runtime::Runtime,
    total: u64,
    noun: &str,
    fetch: impl Fn(i64) -> F,
    id: impl Fn(&T) -> i64,
    mut store: impl FnMut(Vec<T>) -> Result<Imported, crate::service::ServiceError>,
) -> Result<()>
where
    F: std::future::Future<Output = Result<Vec<T>, crate::upstream::UpstreamError>>,
{
    let bar = progress_count(total, "importing", noun);
    let mut after = 0;
    loop {
        let page = rt.block_on(fetch(after))?;
        let Some(last) = page.last().map(&id) else { break };
        let n = page.len() as u64;
        *done += store(page)?;
        bar.inc(n);
        after = last;
    }
    bar.finish_and_clear();
    Ok(())
}
