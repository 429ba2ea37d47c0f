//! `/results/{id}`: one result — every field, its data and groups, its log position and
//! chain hash with a "verify this entry" indicator, and earlier results that failed the
//! same way.

use super::layout::{Nav, empty, ext_link, item_link, outcome, page, result_link, testcase_link, time};
use super::{PageResult, html_response, respond};
use crate::http::AppState;
use crate::model::{SimilarQuery, Timestamp};
use crate::service::ServiceError;
use crate::service::insight::HistoryRow;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{Markup, html};

pub async fn one(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    respond(render(s, id)).await
}

async fn render(s: AppState, id: String) -> PageResult {
    let r = s.service.result(&id).await?;
    let n: i64 = id.parse().map_err(|_| ServiceError::NotFound(format!("Result {id} not found")))?;
    let entry = s.service.entry_check(n).await?;
    let similar = s.service.similar(n, SimilarQuery { limit: 10, when: None }).await?;
    let rec = &r.record;
    let title = format!("Result {} · {}", r.id, rec.testcase.name);
    let main = html! {
        h1 { "Result " (r.id) " " (outcome(&rec.outcome)) }
        dl.fields {
            dt { "Testcase" } dd { (testcase_link(&rec.testcase.name)) }
            dt { "Outcome" } dd { (outcome(&rec.outcome)) }
            dt { "Item" } dd { @if let Some(i) = rec.data.get("item").and_then(|v| v.first()) { (item_link(i)) } @else { "—" } }
            dt { "Submitted" } dd { (time(&Timestamp(rec.submit_time).to_iso())) }
            dt { "Note" } dd { (rec.note.as_deref().unwrap_or("—")) }
            dt { "ref_url" } dd { @if let Some(u) = &rec.ref_url { (ext_link(u, u)) } @else { "—" } }
            dt { "uuid" } dd { code { (rec.uuid) } }
            dt { "JSON" } dd { a href={"/api/v2.0/results/" (r.id)} { "/api/v2.0/results/" (r.id) } }
        }
        h2 { "Data" }
        @if rec.data.is_empty() { (empty("No data.")) } @else {
            div.scroll { table {
                thead { tr { th { "Key" } th { "Value" } } }
                tbody { @for (k, vs) in &rec.data { @for v in vs {
                    tr { td { code { (k) } } td.wrap { (v) } }
                } } }
            } }
        }
        h2 { "Groups" }
        @if rec.groups.is_empty() { (empty("In no group.")) } @else {
            ul { @for g in &rec.groups {
                li { a href={"/results?groups=" (g.uuid)} { code { (g.uuid) } }
                     @if let Some(Some(d)) = &g.description { " — " (d) } }
            } }
        }
        h2 { "Log entry" }
        @match &entry {
            None => (empty("No log entry at this position.")),
            Some(e) => dl.fields {
                dt { "Log position" } dd { (e.seq) }
                dt { "Origin" } dd { code { (e.origin) } " #" (e.origin_seq) }
                dt { "Chain hash" } dd { code { (e.hash) } }
                dt { "Previous hash" } dd { code { (e.prev_hash.as_deref().unwrap_or("not held")) } }
                dt { "Verify this entry" }
                dd { @if e.verified {
                    span.badge.o-pass data-verified="true" { "✓ hash verified" }
                    " the hash recomputed from the previous one and this entry's content matches"
                } @else {
                    span.badge.o-fail data-verified="false" { "✗ not verified" }
                    " the recomputed hash differs, or the previous entry is not held — run " code { "verdict verify" }
                } }
            },
        }
        h2 { "Similar failures" }
        (similar_section(similar.signature.as_deref(), similar.seen_before, &similar.results))
    };
    Ok(html_response(page(&title, Nav::Results, main)))
}

fn similar_section(signature: Option<&str>, seen_before: usize, rows: &[HistoryRow]) -> Markup {
    let Some(sig) = signature else {
        return empty("Not a failure with a note or reason: nothing to compare.");
    };
    html! {
        p { "Signature " code { (sig) } " · seen " (seen_before) " time(s) before." }
        @if rows.is_empty() { (empty("Never seen before.")) } @else {
            div.scroll { table.stack {
                thead { tr { th { "Result" } th { "Item" } th { "Outcome" } th { "Time" } th { "Note" } } }
                tbody { @for h in rows { tr {
                    td data-label="Result" { (result_link(h.id, &h.id.to_string())) }
                    td.wrap data-label="Item" { (item_link(&h.item)) }
                    td data-label="Outcome" { (outcome(&h.outcome)) }
                    td data-label="Time" { (time(&h.submit_time)) }
                    td.wrap data-label="Note" { (h.note.as_deref().unwrap_or("")) }
                } } }
            } }
        }
    }
}
