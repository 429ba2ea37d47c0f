//! Insight commands: `verdict history` (a key's results and statistics), `verdict flaky`
//! (every key's state in a window, with its evidence) and `verdict compare` (base
//! against head). The flags become the HTTP
//! API's parameters, so both are checked by the same rules and answer the same.

use crate::model::{CompareQuery, FlakyQuery, HistoryQuery, Timestamp};
use crate::service::compare::{CompareAnswer, SideShown};
use crate::service::insight::{FlakyAnswer, KeyHistoryAnswer};
use crate::service::local::ReadOnly;
use anyhow::{Result, bail};
use clap::Args;
use std::path::Path;

/// Which keys, at which instant, in which form (shared by every insight command).
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// One testcase by name.
    #[arg(long)]
    pub testcase: Option<String>,
    /// Testcases by pattern (`*` any text, `_` one character).
    #[arg(long = "testcases-like", value_name = "PATTERN")]
    pub testcases_like: Option<String>,
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

/// Which keys and results (`history`, `flaky`).
#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Only results of this item (subject), e.g. an NVR.
    #[arg(long)]
    pub item: Option<String>,
    /// Only results whose data.type is this.
    #[arg(long = "type", value_name = "TYPE")]
    pub item_type: Option<String>,
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

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The base: a group uuid, or `last_good` (the newest earlier build of the head's
    /// package whose tests all passed).
    #[arg(long)]
    pub base: Option<String>,
    /// The base as an item (subject), e.g. an NVR.
    #[arg(long = "base-item", value_name = "ITEM")]
    pub base_item: Option<String>,
    #[arg(long = "base-type", value_name = "TYPE")]
    pub base_type: Option<String>,
    /// The head: a group uuid.
    #[arg(long)]
    pub head: Option<String>,
    /// The head as an item.
    #[arg(long = "head-item", value_name = "ITEM")]
    pub head_item: Option<String>,
    #[arg(long = "head-type", value_name = "TYPE")]
    pub head_type: Option<String>,
    #[command(flatten)]
    pub select: SelectArgs,
}

/// Flags as API parameters (`name=value` pairs), in the API's names.
fn pairs(named: &[(&str, &Option<String>)]) -> Vec<(String, String)> {
    named.iter().filter_map(|(k, v)| v.as_ref().map(|v| ((*k).to_owned(), v.clone()))).collect()
}

fn select_pairs(k: &SelectArgs) -> Vec<(String, String)> {
    pairs(&[
        ("testcase", &k.testcase),
        ("testcases:like", &k.testcases_like),
        ("scenario", &k.scenario),
        ("arch", &k.arch),
        ("when", &k.when),
    ])
}

fn key_pairs(k: &KeyArgs) -> Vec<(String, String)> {
    let mut p = select_pairs(&k.select);
    p.extend(pairs(&[("item", &k.item), ("type", &k.item_type)]));
    p
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
    if args.keys.select.json {
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
        if let Some(p) = &k.pruned {
            let rate = p.pass_rate.map_or("-".to_owned(), |r| format!("{:.0}%", r * 100.0));
            println!(
                "  pruned {}..{}: {} runs, {} passed, {} failed ({rate} pass) kept as daily counts",
                p.first_day, p.last_day, p.runs, p.passes, p.fails
            );
        }
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
    if args.keys.select.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print_flaky(&answer);
    }
    Ok(0)
}

pub fn compare(db: &Path, args: CompareArgs) -> Result<i32> {
    let mut p = pairs(&[
        ("base", &args.base),
        ("base_item", &args.base_item),
        ("base_type", &args.base_type),
        ("head", &args.head),
        ("head_item", &args.head_item),
        ("head_type", &args.head_type),
    ]);
    p.extend(select_pairs(&args.select));
    let q = CompareQuery::parse(&p).map_err(flag_error)?;
    let answer = ReadOnly::open(db)?.compare(&q, Timestamp::now())?;
    if args.select.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print_compare(&answer);
    }
    Ok(0)
}

fn print_compare(a: &CompareAnswer) {
    let side = |s: &SideShown| match (&s.group, &s.item) {
        (Some(g), _) => format!("group {g}"),
        (None, Some(i)) => format!("item {i}"),
        (None, None) => "nothing (no last good build found)".to_owned(),
    };
    println!("base: {} ({} keys); head: {} ({} keys)", side(&a.base), a.base.keys, side(&a.head), a.head.keys);
    let c = &a.comparison;
    let buckets = [
        ("NEW FAILURE", &c.new_failures),
        ("still failing", &c.still_failing),
        ("fixed", &c.fixed),
        ("flaky", &c.flaky),
        ("new test", &c.new_tests),
        ("missing", &c.missing),
        ("pending", &c.pending),
    ];
    for (label, entries) in buckets {
        for e in entries {
            let id = |x: Option<i64>| x.map_or("-".to_owned(), |i| i.to_string());
            let seen = e.seen_before.filter(|n| *n > 0).map(|n| format!("; seen {n}× before")).unwrap_or_default();
            let failing = e.failing_for.map(|n| format!("; failing for {n} runs")).unwrap_or_default();
            println!(
                "{label:<13} {} [{}/{}]  base {} {}  head {} {}{seen}{failing}",
                e.key.testcase,
                dash(&e.key.scenario),
                dash(&e.key.arch),
                id(e.base_id),
                e.base_outcome.as_deref().unwrap_or("-"),
                id(e.head_id),
                e.head_outcome.as_deref().unwrap_or("-"),
            );
        }
    }
    println!("{} unchanged passing", c.unchanged_passing);
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
