//! `/`: the overview — counts, newest results, latest failures, flaky and broken counts,
//! spool status, replication peers and their lag, and a search box.

use super::layout::{Nav, empty, enc, item_link, outcome, page, testcase_link, time};
use super::{PageResult, html_response, respond, see_other};
use crate::http::AppState;
use crate::http::request::Ctx;
use crate::insight::State as KeyState;
use crate::model::FlakyQuery;
use crate::model::{ResultQuery, ResultView, Timestamp};
use crate::service::ingest::SpoolStatus;
use crate::service::replication::PeerStatus;
use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};

pub async fn overview(State(s): State<AppState>, ctx: Ctx) -> Response {
    respond(render(s, ctx)).await
}

/// What the search box was given: a group uuid, a testcase, or else an item.
fn search_target(q: &str, testcases: &[String]) -> String {
    let q = q.trim();
    let is_uuid = q.len() == 36 && q.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if is_uuid {
        format!("/results?groups={}", enc(q))
    } else if testcases.iter().any(|t| t == q) {
        format!("/testcases/{}", enc(q))
    } else if q.contains('*') {
        format!("/results?testcases:like={}", enc(q))
    } else {
        format!("/items/{}", enc(q))
    }
}

async fn render(s: AppState, ctx: Ctx) -> PageResult {
    let svc = &s.service;
    if let Some((_, q)) = ctx.pairs.iter().find(|(k, _)| k == "q").filter(|(_, q)| !q.trim().is_empty()) {
        let tc = svc.testcase(q.trim().to_owned()).await.ok().map(|t| vec![t.name]).unwrap_or_default();
        return Ok(see_other(&search_target(q, &tc)));
    }
    let (stats, heads) = svc.reads().stats()?;
    let newest = svc.results(ResultQuery { limit: 10, ..ResultQuery::default() }).await?.items;
    let failures = svc
        .results(ResultQuery { limit: 10, outcomes: vec!["FAILED".into(), "ERROR".into()], ..ResultQuery::default() })
        .await?
        .items;
    let flaky = svc.flaky(FlakyQuery::parse(&[])?).await?;
    let count = |state: KeyState| flaky.data.iter().filter(|c| c.state == state).count();
    let (n_flaky, n_broken) = (count(KeyState::Flaky), count(KeyState::Broken));
    let spool = s.spool.as_ref().and_then(|st| st.lock().ok().map(|g| g.clone()));
    let peers = s.replication.peers();
    let main = html! {
        h1 { "Overview" }
        form.search role="search" action="/" method="get" {
            label.sr for="q" { "Search an item, testcase or group uuid" }
            input id="q" name="q" type="search" placeholder="item NVR, testcase name (or pattern with *), group uuid";
            button type="submit" { "Search" }
        }
        dl.cards {
            div { dt { "Results" } dd { (stats.results) } }
            div { dt { "Testcases" } dd { (stats.testcases) } }
            div { dt { "Groups" } dd { (stats.groups) } }
            div { dt { "Log entries" } dd { (stats.log_entries) } }
            div { dt { a href="/flaky?state=flaky" { "Flaky keys" } } dd.state-flaky { (n_flaky) } }
            div { dt { a href="/flaky?state=broken" { "Broken keys" } } dd.state-broken { (n_broken) } }
        }
        p.muted { "Flaky and broken: keys judged over the window since " (time(&flaky.since)) "." }
        div.cols {
            section { h2 { "Newest results" } (result_table(&newest)) p { a href="/results" { "All results →" } } }
            section {
                h2 { "Latest failures" }
                (result_table(&failures))
                p { a href="/results?outcome=FAILED&outcome=ERROR" { "All failures →" } }
            }
        }
        div.cols {
            section { h2 { "Spool" } (spool_section(spool.as_ref())) }
            section { h2 { "Replication" } (peers_section(&peers, &heads, svc.node_id())) }
        }
    };
    Ok(html_response(page("Overview", Nav::Overview, main)))
}

/// A compact table of results (outcome, testcase, item, time).
pub fn result_table(rows: &[ResultView]) -> Markup {
    if rows.is_empty() {
        return empty("No results.");
    }
    html! {
        div.scroll { table.stack {
            thead { tr { th { "Outcome" } th { "Testcase" } th { "Item" } th { "Time" } } }
            tbody { @for r in rows {
                tr {
                    td data-label="Outcome" { (outcome(&r.record.outcome)) }
                    td.wrap data-label="Testcase" { (testcase_link(&r.record.testcase.name)) }
                    td.wrap data-label="Item" { @if let Some(i) = r.record.data.get("item").and_then(|v| v.first()) { (item_link(i)) } }
                    td data-label="Time" { a href={"/results/" (r.id)} { (time(&Timestamp(r.record.submit_time).to_iso())) } }
                }
            } }
        } }
    }
}

fn spool_section(spool: Option<&SpoolStatus>) -> Markup {
    let Some(st) = spool else { return empty("This server runs no spool (start it with --spool DIR).") };
    html! {
        dl.fields {
            dt { "Directory" } dd { code { (st.dir) } }
            dt { "Pending" } dd { (st.pending) }
            dt { "In progress" } dd { (st.in_progress) }
            dt { "Ingested" } dd { (st.done) " files, " (st.results) " results" }
            dt { "Duplicates" } dd { (st.duplicates) }
            dt { "Failed" } dd { (st.failed) }
            dt { "Last scan" } dd { @if let Some(t) = &st.last_scan { (time(t)) } @else { "never" } }
            @if let Some(e) = &st.last_error {
                dt { "Last error" } dd.notice.error { code { (e.file) } ": " (e.message) " (" (time(&e.at)) ")" }
            }
        }
    }
}

fn peers_section(peers: &[PeerStatus], heads: &[crate::service::OriginHead], node: &str) -> Markup {
    html! {
        p { "This node: " code { (node) } " · " (heads.len()) " origin(s) in the log" }
        @if peers.is_empty() {
            (empty("No peers: this server pulls from none (--peer URL)."))
        } @else {
            div.scroll { table {
                thead { tr { th { "Peer" } th { "State" } th { "Lag (entries)" } th { "Last success" } th { "Last error" } } }
                tbody { @for p in peers {
                    tr {
                        td.wrap { (p.url) @if let Some(n) = &p.node { br; span.muted { (n) } } }
                        td { (p.state) }
                        td { @if let Some(l) = p.lag { (l) } @else { "—" } }
                        td { @if let Some(t) = &p.last_success { (time(t)) } @else { "never" } }
                        td.wrap { @if let Some(e) = &p.last_error { (e) } }
                    }
                } }
            } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::search_target;

    #[test]
    fn search_goes_where_the_text_points() {
        let tcs = vec!["dist.rpmlint".to_owned()];
        assert_eq!(search_target("dist.rpmlint", &tcs), "/testcases/dist.rpmlint");
        assert_eq!(search_target("bash-5.2-1.fc40", &tcs), "/items/bash-5.2-1.fc40");
        assert_eq!(search_target("dist.*", &tcs), "/results?testcases:like=dist.%2A");
        let uuid = "0c8d4a3e-8f3c-4a4e-9a5e-2b1f3c4d5e6f";
        assert_eq!(search_target(uuid, &tcs), format!("/results?groups={uuid}"));
    }
}
