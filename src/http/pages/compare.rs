//! `/compare?base=…&head=…`: two runs of the tests side by side — new failures, fixed,
//! still failing, new tests, missing, flaky and pending.

use super::layout::{Nav, empty, outcome, page, result_link, testcase_link};
use super::{PageResult, html_response, respond};
use crate::http::AppState;
use crate::http::request::Ctx;
use crate::insight::CompareEntry;
use crate::model::CompareQuery;
use crate::service::compare::{CompareAnswer, SideShown};
use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};

pub async fn compare(State(s): State<AppState>, ctx: Ctx) -> Response {
    respond(render(s, ctx)).await
}

async fn render(s: AppState, ctx: Ctx) -> PageResult {
    let pairs: Vec<(String, String)> = ctx.pairs.iter().filter(|(_, v)| !v.trim().is_empty()).cloned().collect();
    let field = |k: &str| pairs.iter().find(|(n, _)| n == k).map_or("", |(_, v)| v.as_str());
    let form = html! {
        form.filters method="get" action="/compare" aria-label="What to compare" {
            label { "Base group uuid (or last_good)" input name="base" value=(field("base")); }
            label { "or base item" input name="base_item" value=(field("base_item")); }
            label { "Head group uuid" input name="head" value=(field("head")); }
            label { "or head item" input name="head_item" value=(field("head_item")); }
            label { "Item type" input name="head_type" value=(field("head_type")) placeholder="koji_build"; }
            div { button type="submit" { "Compare" } }
        }
    };
    let body = if pairs.is_empty() {
        html! { p.muted { "Give a base and a head: group uuids, or items (base_item, head_item)." } }
    } else {
        let mut pairs = pairs.clone();
        // One type field: it serves both sides when both are items.
        if let Some(t) = pairs.iter().find(|(k, _)| k == "head_type").map(|(_, v)| v.clone())
            && pairs.iter().any(|(k, _)| k == "base_item")
            && !pairs.iter().any(|(k, _)| k == "base_type")
        {
            pairs.push(("base_type".into(), t));
        }
        let answer = s.service.compare(CompareQuery::parse(&pairs)?).await?;
        comparison(&answer)
    };
    let main = html! { h1 { "Compare" } (form) (body) };
    Ok(html_response(page("Compare", Nav::Compare, main)))
}

fn side(s: &SideShown) -> Markup {
    html! {
        @if let Some(g) = &s.group { "group " code { (g) } }
        @if let Some(i) = &s.item { (super::layout::item_link(i)) }
        " · " (s.keys) " keys"
    }
}

/// The buckets (also in the offline report): counts first, then each non-empty bucket.
pub fn comparison(a: &CompareAnswer) -> Markup {
    let c = &a.comparison;
    let buckets: [(&str, &str, &[CompareEntry]); 7] = [
        ("new-failures", "New failures", &c.new_failures),
        ("fixed", "Fixed", &c.fixed),
        ("still-failing", "Still failing", &c.still_failing),
        ("new-tests", "New tests", &c.new_tests),
        ("missing", "Missing", &c.missing),
        ("flaky", "Flaky", &c.flaky),
        ("pending", "Pending", &c.pending),
    ];
    html! {
        dl.fields { dt { "Base" } dd { (side(&a.base)) } dt { "Head" } dd { (side(&a.head)) } }
        dl.cards {
            @for (id, name, list) in &buckets { div { dt { a href={"#" (id)} { (name) } } dd { (list.len()) } } }
            div { dt { "Unchanged passing" } dd { (c.unchanged_passing) } }
        }
        @for (id, name, list) in &buckets {
            section id=(id) {
                h3 { (name) " (" (list.len()) ")" }
                @if list.is_empty() { (empty("None.")) } @else { (entries(list)) }
            }
        }
    }
}

fn entries(list: &[CompareEntry]) -> Markup {
    html! {
        div.scroll { table.stack {
            thead { tr { th { "Testcase" } th { "Key" } th { "Base" } th { "Head" } th { "Known" } } }
            tbody { @for e in list { tr {
                td.wrap data-label="Testcase" { (testcase_link(&e.key.testcase)) }
                td.wrap data-label="Key" { (e.key.scenario) @if !e.key.arch.is_empty() { " / " (e.key.arch) } }
                td data-label="Base" { @if let (Some(id), Some(o)) = (e.base_id, &e.base_outcome) { (outcome(o)) " " (result_link(id, &format!("#{id}"))) } @else { "—" } }
                td data-label="Head" { @if let (Some(id), Some(o)) = (e.head_id, &e.head_outcome) { (outcome(o)) " " (result_link(id, &format!("#{id}"))) } @else { "—" } }
                td.wrap data-label="Known" {
                    @if let Some(n) = e.seen_before { "seen " (n) "× before" }
                    @if let Some(n) = e.failing_for { " · failing for " (n) " runs" }
                }
            } } }
        } }
    }
}
