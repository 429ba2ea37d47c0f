//! `/flaky`: the flaky/broken board — every key's state in the window with the rule that
//! fired and its evidence results, and a quarantine control per key.

use super::layout::{Nav, empty, outcome_class, page, testcase_link, time};
use super::{PageResult, auth_fields, html_response, respond};
use crate::http::AppState;
use crate::http::request::Ctx;
use crate::insight::{Classification, State};
use crate::model::FlakyQuery;
use crate::service::QuarantineFilter;
use crate::service::auth::AuthMode;
use axum::extract::State as AxState;
use axum::response::Response;
use maud::{Markup, html};

pub async fn board(AxState(s): AxState<AppState>, ctx: Ctx) -> Response {
    respond(render(s, ctx)).await
}

/// Which states the board lists (`state=flaky|broken|healthy|all`; default flaky and broken).
fn wanted(state: Option<&str>, c: State) -> bool {
    match state {
        Some("all") => true,
        Some("flaky") => c == State::Flaky,
        Some("broken") => c == State::Broken,
        Some("healthy") => c == State::Healthy,
        _ => c != State::Healthy,
    }
}

pub fn state_name(s: State) -> &'static str {
    match s {
        State::Flaky => "flaky",
        State::Broken => "broken",
        State::Healthy => "healthy",
    }
}

async fn render(s: AppState, ctx: Ctx) -> PageResult {
    let state = ctx.pairs.iter().find(|(k, _)| k == "state").map(|(_, v)| v.as_str());
    let pairs: Vec<(String, String)> = ctx
        .pairs
        .iter()
        .filter(|(k, v)| k != "state" && !v.trim().is_empty() && FlakyQuery::PARAMS.contains(&k.as_str()))
        .cloned()
        .collect();
    // Exact as of now: the service classifies again only the keys that changed.
    let answer = s.service.flaky(FlakyQuery::parse(&pairs)?).await?;
    let active =
        s.service.list_quarantines(QuarantineFilter { active: Some(true), ..QuarantineFilter::default() }).await?;
    let rows: Vec<&Classification> = answer.data.iter().filter(|c| wanted(state, c.state)).collect();
    let field = |k: &str| ctx.pairs.iter().find(|(n, _)| n == k).map_or("", |(_, v)| v.as_str());
    let main = html! {
        h1 { "Flaky and broken tests" }
        form.filters method="get" action="/flaky" aria-label="Filters" {
            label { "Testcase (pattern, * any)" input name="testcases:like" value=(field("testcases:like")); }
            label { "Item" input name="item" value=(field("item")); }
            label { "Since (ISO 8601)" input name="since" value=(field("since")); }
            label { "State" select name="state" {
                @for (v, l) in [("", "flaky and broken"), ("flaky", "flaky"), ("broken", "broken"), ("healthy", "healthy"), ("all", "all")] {
                    option value=(v) selected[state.unwrap_or("") == v] { (l) }
                }
            } }
            div { button type="submit" { "Show" } }
        }
        p.muted {
            "Window " (time(&answer.since)) " – " (time(&answer.until)) "; thresholds: at least "
            (answer.params.min_runs) " runs, flip rate ≥ " (answer.params.flip_rate) "."
        }
        (board_table(&rows, &active, Some(&s.service.config().auth.mode)))
    };
    Ok(html_response(page("Flaky", Nav::Flaky, main)))
}

/// The board: one row per key with its state, reason and evidence; with `mode`, a
/// quarantine form (or the standing rule) per row — `None` renders read-only (the report).
pub fn board_table(rows: &[&Classification], active: &[serde_json::Value], mode: Option<&AuthMode>) -> Markup {
    if rows.is_empty() {
        return empty("No key in this state.");
    }
    html! {
        div.scroll { table.stack.board {
            thead { tr {
                th { "Testcase" } th { "Scenario / arch" } th { "State" } th { "Reason" } th { "Runs" } th { "Evidence" }
                @if mode.is_some() { th { "Quarantine" } }
            } }
            tbody { @for c in rows {
                tr data-state=(state_name(c.state)) {
                    td.wrap data-label="Testcase" { (testcase_link(&c.testcase)) }
                    td.wrap data-label="Key" { (c.scenario) @if !c.arch.is_empty() { " / " (c.arch) } }
                    td data-label="State" { span class={"state-" (state_name(c.state))} { (state_name(c.state)) } }
                    td.wrap.reason data-label="Reason" { (c.reason) }
                    td data-label="Runs" { (c.fails) " failed of " (c.runs) }
                    td data-label="Evidence" { @for e in &c.evidence {
                        a class={"badge " (outcome_class(&e.outcome))} href={"/results/" (e.id)}
                          title={(e.outcome) " · " (e.item) " · " (e.submit_time.to_iso())} { (e.id) } " "
                    } }
                    @if let Some(mode) = mode { td data-label="Quarantine" { (quarantine_cell(c, active, mode)) } }
                }
            } }
        } }
    }
}

fn quarantine_cell(c: &Classification, active: &[serde_json::Value], mode: &AuthMode) -> Markup {
    let standing = active.iter().find(|q| {
        q["testcase"].as_str() == Some(c.testcase.as_str()) && q["scenario"].as_str().is_none_or(|sc| sc == c.scenario)
    });
    if let Some(q) = standing {
        let id = q["id"].as_str().unwrap_or("");
        return html! {
            span.badge.o-inspect { "quarantined" } " "
            a href={"/quarantines#q-" (id)} { "rule" }
        };
    }
    html! {
        details.quarantine {
            summary { "Quarantine…" }
            form.inline method="post" action="/quarantines" {
                input type="hidden" name="testcase" value=(c.testcase);
                input type="hidden" name="scenario" value=(c.scenario);
                input type="hidden" name="back" value="/flaky";
                label { "Reason" input name="reason" required value=(c.reason); }
                (auth_fields(mode))
                button type="submit" { "Quarantine" }
            }
        }
    }
}
