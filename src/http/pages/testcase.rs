//! `/testcases/{name}`: a TestGrid-style history — rows are the keys (scenario/arch),
//! columns the newest items, each cell coloured by its result's outcome with a tooltip
//! (outcome, time, note) and a link to the result; per row the flaky state and reason
//! from the insight API, and the pass-rate and duration trends as inline SVG.

use super::flaky::state_name;
use super::layout::{Nav, empty, enc, item_link, outcome_class, page, testcase_link};
use super::svg::{rolling_pass_rate, sparkline};
use super::{PageResult, html_response, respond};
use crate::http::AppState;
use crate::http::request::Ctx;
use crate::insight::Classification;
use crate::model::FlakyQuery;
use crate::model::{ResultQuery, ResultView, Timestamp};
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{Markup, html};
use std::collections::{BTreeMap, HashMap};

/// Results read for the grid (newest first).
const GRID_RESULTS: i64 = 500;
/// Columns shown by default, and at most.
const COLUMNS: usize = 30;
const MAX_COLUMNS: usize = 100;

pub async fn testcase(State(s): State<AppState>, Path(name): Path<String>, ctx: Ctx) -> Response {
    respond(render(s, name, ctx)).await
}

/// One row's key: (scenario, arch).
type RowKey = (String, String);

/// The grid built from results (newest first): the column items (newest first), and per
/// key its results oldest first.
pub struct Grid<'a> {
    pub columns: Vec<String>,
    pub rows: BTreeMap<RowKey, Vec<&'a ResultView>>,
}

fn data<'a>(r: &'a ResultView, k: &str) -> &'a str {
    r.record.data.get(k).and_then(|v| v.first()).map_or("", String::as_str)
}

impl<'a> Grid<'a> {
    pub fn of(results: &'a [ResultView], columns: usize) -> Grid<'a> {
        let mut cols: Vec<String> = Vec::new();
        let mut rows: BTreeMap<RowKey, Vec<&ResultView>> = BTreeMap::new();
        for r in results {
            let item = data(r, "item");
            if cols.len() < columns && !cols.iter().any(|c| c == item) {
                cols.push(item.to_owned());
            }
            rows.entry((data(r, "scenario").to_owned(), data(r, "arch").to_owned())).or_default().push(r);
        }
        for list in rows.values_mut() {
            list.reverse();
        }
        Grid { columns: cols, rows }
    }

    /// The newest result of `key` for `item`.
    pub fn cell(&self, key: &RowKey, item: &str) -> Option<&'a ResultView> {
        self.rows.get(key)?.iter().rev().find(|r| data(r, "item") == item).copied()
    }
}

/// One letter per outcome, so a cell reads without colour too.
fn letter(outcome: &str) -> &'static str {
    match outcome {
        "PASSED" => "P",
        "FAILED" => "F",
        "ERROR" => "E",
        "INFO" => "I",
        "NEEDS_INSPECTION" => "N",
        "QUEUED" => "Q",
        "RUNNING" => "R",
        _ => "?",
    }
}

async fn render(s: AppState, name: String, ctx: Ctx) -> PageResult {
    let columns = ctx
        .pairs
        .iter()
        .find(|(k, _)| k == "columns")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(COLUMNS)
        .clamp(1, MAX_COLUMNS);
    let tc = s.service.testcase(name.clone()).await?;
    let q = ResultQuery { testcases: vec![name.clone()], limit: GRID_RESULTS, ..ResultQuery::default() };
    let results = s.service.results(q).await?.items;
    // The rows' states: this testcase's keys as the flaky board classifies them.
    let flaky = s.service.flaky(FlakyQuery::parse(&[("testcase".to_owned(), name.clone())])?).await?;
    let main = html! {
        h1 { "Testcase " (tc.name) }
        p {
            a href={"/results?testcases:like=" (enc(&tc.name))} { "All results" } " · "
            a href={"/flaky?testcases:like=" (enc(&tc.name)) "&state=all"} { "Flaky board" } " · "
            a href={"/api/verdict/v1/history?testcase=" (enc(&tc.name))} { "History (JSON)" }
            @if let Some(u) = &tc.ref_url { " · " (super::layout::ext_link(u, "documentation")) }
        }
        (grid(&tc.name, &results, columns, &flaky.data))
    };
    Ok(html_response(page(&tc.name, Nav::None, main)))
}

/// The history grid of one testcase (also in the offline report).
pub fn grid(testcase: &str, results: &[ResultView], columns: usize, flaky: &[Classification]) -> Markup {
    if results.is_empty() {
        return empty("No results for this testcase.");
    }
    let g = Grid::of(results, columns);
    let states: HashMap<(&str, &str), &Classification> =
        flaky.iter().filter(|c| c.testcase == testcase).map(|c| ((c.scenario.as_str(), c.arch.as_str()), c)).collect();
    html! {
        p.muted { "The newest " (g.columns.len()) " items, newest on the left; "
            "P passed, F failed, E error, I info, N needs inspection." }
        div.scroll { table.grid aria-label={"History of " (testcase)} {
            thead { tr {
                th scope="col" { "Scenario / arch" }
                @for c in &g.columns { th.col scope="col" title=(c) { a href={"/items/" (enc(c))} { (c) } } }
                th scope="col" { "Flaky state" } th scope="col" { "Pass rate" } th scope="col" { "Duration" }
            } }
            tbody { @for (key, list) in &g.rows {
                @let state = states.get(&(key.0.as_str(), key.1.as_str()));
                @let passes: Vec<Option<bool>> = list.iter().map(|r| match r.record.outcome.as_str() {
                    "PASSED" | "INFO" => Some(true), "FAILED" | "ERROR" | "NEEDS_INSPECTION" => Some(false), _ => None }).collect();
                @let durations: Vec<f64> = list.iter().filter_map(|r| data(r, "duration").parse::<f64>().ok()).collect();
                tr id={"k-" (enc(&key.0)) "-" (enc(&key.1))} {
                    th scope="row" { (key.0) @if !key.1.is_empty() { " / " (key.1) } }
                    @for c in &g.columns {
                        @match g.cell(key, c) {
                            Some(r) => td class={"cell " (outcome_class(&r.record.outcome))} data-outcome=(r.record.outcome) {
                                a href={"/results/" (r.id)}
                                  title={(r.record.outcome) " · " (Timestamp(r.record.submit_time).to_iso()) " · " (r.record.note.as_deref().unwrap_or(""))} {
                                    (letter(&r.record.outcome))
                                }
                            },
                            None => td.cell.none {},
                        }
                    }
                    td.flaky-state { @if let Some(c) = state {
                        span class={"state-" (state_name(c.state))} title=(c.reason) { (state_name(c.state)) }
                        br; span.muted.reason { (c.reason) }
                    } @else { span.muted { "—" } } }
                    td { (sparkline(&rolling_pass_rate(&passes, 5), Some(0.0), Some(1.0), "pass rate, rolling over 5 runs")) }
                    td { (sparkline(&durations, None, None, "duration (seconds)")) }
                }
            } }
        } }
        p.muted { "Keys: " (g.rows.len()) ". Columns link each item; cells link each result. "
            @if let Some(first) = g.columns.first() { "Newest item: " (item_link(first)) "." } }
        p { (testcase_link(testcase)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ResultRecord, TestcaseRecord};

    fn view(id: i64, item: &str, arch: &str, outcome: &str) -> ResultView {
        let mut data = BTreeMap::new();
        data.insert("item".to_owned(), vec![item.to_owned()]);
        data.insert("arch".to_owned(), vec![arch.to_owned()]);
        ResultView {
            id,
            record: ResultRecord {
                data,
                groups: vec![],
                note: None,
                outcome: outcome.into(),
                ref_url: None,
                request: None,
                submit_time: id,
                testcase: TestcaseRecord { name: "t".into(), ref_url: None },
                uuid: format!("u{id}"),
            },
            testcase_ref_url: None,
        }
    }

    #[test]
    fn grid_columns_are_newest_items_and_cells_their_newest_result() {
        // Newest first, as the store lists them.
        let rs = vec![
            view(4, "b", "x86_64", "FAILED"),
            view(3, "b", "x86_64", "PASSED"),
            view(2, "a", "aarch64", "PASSED"),
            view(1, "a", "x86_64", "FAILED"),
        ];
        let g = Grid::of(&rs, 10);
        assert_eq!(g.columns, vec!["b", "a"]);
        let x86 = (String::new(), "x86_64".to_owned());
        assert_eq!(g.cell(&x86, "b").map(|r| r.id), Some(4));
        assert_eq!(g.cell(&x86, "a").map(|r| r.id), Some(1));
        assert!(g.cell(&(String::new(), "aarch64".into()), "b").is_none());
        assert_eq!(g.rows[&x86].iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 3, 4], "oldest first");
        assert_eq!(Grid::of(&rs, 1).columns, vec!["b"]);
    }
}
