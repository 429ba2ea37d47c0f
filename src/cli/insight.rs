//! Insight commands: `verdict history` (a key's results and statistics) and `verdict
//! flaky` (every key's state in a window, with its evidence). The flags become the HTTP
//! API's parameters, so both are checked by the same rules and answer the same.

use crate::model::{FlakyQuery, HistoryQuery, Timestamp};
use crate::service::insight::{FlakyAnswer, KeyHistoryAnswer};
use crate::service::local::ReadOnly;
use anyhow::{Result, bail};
use clap::Args;
use std::path::Path;

/// Which keys and results (shared by both commands).
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// One testcase by name.
    #[arg(long)]
    pub testcase: Option<String>,
    /// Testcases by pattern (`*` any text, `_` one character).
    #[arg(long = "testcases-like", value_name = "PATTERN")]
    pub testcases_like: Option<String>,
    /// Only results of this item (subject), e.g. an NVR.
    #[arg(long)]
    pub item: Option<String>,
    /// Only results whose data.type is this.
    #[arg(long = "type", value_name = "TYPE")]
    pub item_type: Option<String>,
    #[arg(long)]
    pub scenario: Option<String>,
    #[arg(long)]
    pub arch: Option<String>,
    /// Answer as this node would have at that instant (ISO 8601).
    #[arg(long, value_name = "TIME")]
    pub when: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Only results submitted at or after this time (ISO 8601).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only results submitted at or before this time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Results listed per key (the statistics count them all).
    #[arg(long)]
    pub limit: Option<String>,
}

#[derive(Debug, Args)]
pub struct FlakyArgs {
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Start of the window (default: 14 days before --when or now).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Fewest runs for the flip-rate rule.
    #[arg(long = "min-runs", value_name = "N")]
    pub min_runs: Option<String>,
    /// Flip rate (0..1) from which a key is flaky.
    #[arg(long = "flip-rate", value_name = "RATE")]
    pub flip_rate: Option<String>,
    /// Consecutive fails that are breakage, not flakiness.
    #[arg(long = "breakage-run", value_name = "N")]
    pub breakage_run: Option<String>,
    /// Consecutive passes after the latest evidence that clear a flaky key.
    #[arg(long = "clear-after", value_name = "N")]
    pub clear_after: Option<String>,
}

/// Flags as API parameters (`name=value` pairs), in the API's names.
fn pairs(named: &[(&str, &Option<String>)]) -> Vec<(String, String)> {
    named.iter().filter_map(|(k, v)| v.as_ref().map(|v| ((*k).to_owned(), v.clone()))).collect()
}

fn key_pairs(k: &KeyArgs) -> Vec<(String, String)> {
    pairs(&[
        ("testcase", &k.testcase),
        ("testcases:like", &k.testcases_like),
        ("item", &k.item),
        ("type", &k.item_type),
        ("scenario", &k.scenario),
        ("arch", &k.arch),
        ("when", &k.when),
    ])
}

/// A parameter error in the flags' own words (`--testcases-like`, not `testcases:like`).
fn flag_error(e: impl std::fmt::Display) -> anyhow::Error {
    let text = e.to_string().replace("\"testcases:like\"", "--testcases-like").replace("\"type\"", "--type");
    anyhow::anyhow!("{text}")
}

pub fn history(db: &Path, args: HistoryArgs) -> Result<i32> {
    let mut p = key_pairs(&args.keys);
    p.extend(pairs(&[("since", &args.since), ("until", &args.until), ("limit", &args.limit)]));
    let q = HistoryQuery::parse(&p).map_err(flag_error)?;
    let answer = ReadOnly::open(db)?.history(&q)?;
    if args.keys.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "data": answer }))?);
    } else {
        print_history(&answer);
    }
    Ok(0)
}

fn print_history(keys: &[KeyHistoryAnswer]) {
    if keys.is_empty() {
        println!("no results for these keys");
    }
    for k in keys {
        let s = &k.summary;
        let rate = s.pass_rate.map_or("-".to_owned(), |r| format!("{:.0}%", r * 100.0));
        let streak = s
            .current_streak
            .as_ref()
            .map_or("-".to_owned(), |st| format!("{} ×{} since {}", st.outcome, st.length, st.since.to_iso()));
        println!(
            "{} [{}/{}]: {} runs, {} passed, {} failed ({rate} pass), {} flips; now {streak}",
            k.key.testcase,
            dash(&k.key.scenario),
            dash(&k.key.arch),
            s.runs,
            s.passes,
            s.fails,
            s.transitions
        );
        for r in &k.results {
            println!("  {:>10}  {:<16} {}  {}", r.id, r.outcome, r.submit_time, r.item);
        }
    }
}

fn dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

pub fn flaky(db: &Path, args: FlakyArgs) -> Result<i32> {
    let mut p = key_pairs(&args.keys);
    p.extend(pairs(&[
        ("since", &args.since),
        ("min_runs", &args.min_runs),
        ("flip_rate", &args.flip_rate),
        ("breakage_run", &args.breakage_run),
        ("clear_after", &args.clear_after),
    ]));
    let q = FlakyQuery::parse(&p).map_err(flag_error)?;
    if q.keys.testcase.is_some() && q.keys.testcases_like.is_some() {
        bail!("give --testcase or --testcases-like, not both");
    }
    let answer = ReadOnly::open(db)?.flaky(&q, Timestamp::now())?;
    if args.keys.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print_flaky(&answer);
    }
    Ok(0)
}

fn print_flaky(a: &FlakyAnswer) {
    println!("window {} .. {}", a.since, a.until);
    println!("{:<8} {:<48} {:<24} {:>5}  reason", "state", "testcase", "scenario", "flips");
    for c in &a.data {
        let state = serde_json::to_value(c.state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let flips = c.flip_rate.map_or("-".to_owned(), |r| format!("{r:.2}"));
        println!("{state:<8} {:<48} {:<24} {flips:>5}  {}", c.testcase, dash(&c.scenario), c.reason);
    }
}
