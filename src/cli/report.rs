//! `verdict report`: the offline report — one self-contained HTML file with the history
//! grids, the flaky board and a comparison of the selection, the store's `verify` verdict
//! and its chain heads (rendered by `http::pages::report`).

use crate::http::pages::report::{Report, render};
use crate::model::{CompareQuery, FlakyQuery, Outcomes, ResultQuery, Timestamp};
use crate::service::local::ReadOnly;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};

/// Most testcases drawn as grids.
const MAX_GRIDS: usize = 30;
/// Results read per grid (newest first).
const GRID_RESULTS: &str = "500";

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Report on one item (subject): its testcases' grids, its flaky keys, and a
    /// comparison with the last good build of its package.
    #[arg(long)]
    pub item: Option<String>,
    /// The item's type (for the comparison; default: from its results, else koji_build).
    #[arg(long = "type", value_name = "TYPE")]
    pub item_type: Option<String>,
    /// Report on testcases by pattern (`*` any text, `_` one character).
    #[arg(long = "testcase-like", alias = "testcases-like", value_name = "PATTERN")]
    pub testcase_like: Option<String>,
    /// Only results since this time (ISO 8601); also the start of the flaky window.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Make the report's links point at this server (e.g. https://verdict.example.org).
    #[arg(long, value_name = "URL")]
    pub link_base: Option<String>,
    /// The file to write.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
}

fn result_query(pairs: &[(&str, &str)]) -> Result<ResultQuery> {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    ResultQuery::parse(&pairs, &Outcomes::default_set(), 1000).map_err(|e| anyhow::anyhow!("{e}"))
}

pub fn report(db: &Path, args: ReportArgs) -> Result<i32> {
    if args.item.is_none() && args.testcase_like.is_none() && args.since.is_none() {
        bail!("give --item, --testcase-like or --since (or several)");
    }
    let store = ReadOnly::open(db)?;
    let mut filters: Vec<(&str, &str)> = Vec::new();
    let mut words = Vec::new();
    if let Some(i) = &args.item {
        filters.push(("item", i));
        words.push(format!("item {i}"));
    }
    if let Some(p) = &args.testcase_like {
        filters.push(("testcases:like", p));
        words.push(format!("testcases like {p}"));
    }
    if let Some(s) = &args.since {
        filters.push(("since", s));
        words.push(format!("since {s}"));
    }
    // The testcases to draw: those with results in the selection.
    let mut q = filters.clone();
    q.push(("limit", "1000"));
    let matched = store.results(&result_query(&q)?)?.items;
    let mut testcases: Vec<String> = Vec::new();
    for r in &matched {
        if !testcases.contains(&r.record.testcase.name) {
            testcases.push(r.record.testcase.name.clone());
        }
    }
    testcases.sort();
    let left_out = testcases.len().saturating_sub(MAX_GRIDS);
    testcases.truncate(MAX_GRIDS);
    let mut grids = Vec::new();
    for tc in testcases {
        let mut q: Vec<(&str, &str)> = vec![("testcases", &tc), ("limit", GRID_RESULTS)];
        if let Some(s) = &args.since {
            q.push(("since", s));
        }
        let results = store.results(&result_query(&q)?)?.items;
        grids.push((tc.clone(), results));
    }
    // The flaky board judges each key over all its items (one item's results alone are
    // too few), kept to the testcases drawn.
    let flaky_pairs: Vec<(String, String)> =
        filters.iter().filter(|(k, _)| *k != "item").map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let mut flaky =
        store.flaky(&FlakyQuery::parse(&flaky_pairs).map_err(|e| anyhow::anyhow!("{e}"))?, Timestamp::now())?;
    flaky.data.retain(|c| grids.iter().any(|(tc, _)| *tc == c.testcase));
    let compared = match &args.item {
        None => Err("No comparison: give --item to compare it with the last good build of its package.".to_owned()),
        Some(item) => {
            let item_type = args
                .item_type
                .clone()
                .or_else(|| matched.iter().find_map(|r| r.record.data.get("type").and_then(|v| v.first()).cloned()))
                .unwrap_or_else(|| "koji_build".into());
            let p = [("base", "last_good"), ("head_item", item.as_str()), ("head_type", item_type.as_str())];
            let p: Vec<(String, String)> = p.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            let q = CompareQuery::parse(&p).map_err(|e| anyhow::anyhow!("{e}"))?;
            store.compare(&q, Timestamp::now()).map_err(|e| format!("No comparison: {e}"))
        }
    };
    let verify = super::commands::verify_line(&store.verify(|_| {})?);
    let heads = store.heads()?;
    let report = Report {
        selection: words.join(", "),
        generated: Timestamp::now().to_iso(),
        node: store.node_id().to_owned(),
        grids,
        grids_left_out: left_out,
        flaky: &flaky,
        comparison: compared.as_ref().map_err(Clone::clone),
        verify,
        heads: &heads,
        link_base: args.link_base.clone(),
    };
    let html = render(&report);
    std::fs::write(&args.output, &html).with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "wrote {} ({} bytes): {} grid(s), {} flaky/broken key(s); store {}",
        args.output.display(),
        html.len(),
        report.grids.len(),
        flaky.data.iter().filter(|c| c.state != crate::insight::State::Healthy).count(),
        if report.verify.1 { "verified" } else { "BROKEN" }
    );
    Ok(if report.verify.1 { 0 } else { 1 })
}
