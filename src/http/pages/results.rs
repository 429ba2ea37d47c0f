//! `/results`: the API's result filters as a form, and a paged table newest first. Every
//! filter is a URL parameter, so a filtered list is a link to share.

use super::layout::{Nav, empty, ext_link, item_link, outcome, page, pager, testcase_link, time};
use super::{PageResult, html_response, respond};
use crate::http::AppState;
use crate::http::request::Ctx;
use crate::model::{ResultQuery, ResultView, Timestamp};
use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};

/// Rows per page.
const PAGE_ROWS: i64 = 50;

/// The page's form fields.
#[derive(Debug, Default, PartialEq)]
pub struct Filters {
    pub item: String,
    pub item_type: String,
    pub testcase: String,
    pub outcomes: Vec<String>,
    pub since: String,
    pub groups: String,
    /// `key=value` data filters, one per line (or separated by `&`).
    pub data: String,
    pub page: i64,
}

impl Filters {
    /// The form's values from the URL's parameters (blank ones ignored).
    pub fn from_pairs(pairs: &[(String, String)]) -> Filters {
        let mut f = Filters::default();
        for (k, v) in pairs {
            let v = v.trim();
            match k.as_str() {
                "item" => v.clone_into(&mut f.item),
                "type" => v.clone_into(&mut f.item_type),
                "testcases:like" | "testcase" => v.clone_into(&mut f.testcase),
                "outcome" if !v.is_empty() => f.outcomes.extend(v.split(',').map(|o| o.trim().to_uppercase())),
                "since" => v.clone_into(&mut f.since),
                "groups" => v.clone_into(&mut f.groups),
                "data" => v.clone_into(&mut f.data),
                "page" => f.page = v.parse::<i64>().unwrap_or(0).max(0),
                _ => {}
            }
        }
        f
    }

    /// The API's parameters for these filters.
    pub fn api_pairs(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = Vec::new();
        let mut add = |k: &str, v: &str| {
            if !v.is_empty() {
                p.push((k.to_owned(), v.to_owned()));
            }
        };
        add("item", &self.item);
        add("type", &self.item_type);
        add("testcases:like", &self.testcase);
        add("outcome", &self.outcomes.join(","));
        add("since", &self.since);
        add("groups", &self.groups);
        for kv in self.data.split(['\n', '&']).map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            add(k.trim(), v.trim());
        }
        p.push(("page".into(), self.page.to_string()));
        p.push(("limit".into(), PAGE_ROWS.to_string()));
        p
    }
}

pub async fn list(State(s): State<AppState>, ctx: Ctx) -> Response {
    respond(render(s, ctx)).await
}

async fn render(s: AppState, ctx: Ctx) -> PageResult {
    let f = Filters::from_pairs(&ctx.pairs);
    let c = s.service.config();
    let q = ResultQuery::parse(&f.api_pairs(), &c.outcomes, c.max_limit)?;
    let outcomes: Vec<String> = c.outcomes.as_slice().to_vec();
    let results = s.service.results(q).await?;
    let main = html! {
        h1 { "Results" }
        (filter_form(&f, &outcomes))
        (results_table(&results.items))
        (pager("/results", &ctx.pairs, f.page, results.has_next))
    };
    Ok(html_response(page("Results", Nav::Results, main)))
}

fn filter_form(f: &Filters, outcomes: &[String]) -> Markup {
    html! {
        form.filters method="get" action="/results" aria-label="Filters" {
            label { "Item" input name="item" value=(f.item); }
            label { "Type" input name="type" value=(f.item_type) placeholder="koji_build"; }
            label { "Testcase (pattern, * any)" input name="testcases:like" value=(f.testcase); }
            label { "Outcome"
                select name="outcome" multiple size="3" {
                    @for o in outcomes { option value=(o) selected[f.outcomes.contains(o)] { (o) } }
                }
            }
            label { "Since (ISO 8601[,until])" input name="since" value=(f.since) placeholder="2026-01-01T00:00:00"; }
            label { "Group uuid" input name="groups" value=(f.groups); }
            label { "Data key=value (one a line)" textarea name="data" rows="2" { (f.data) } }
            div { button type="submit" { "Filter" } " " a href="/results" { "Clear" } }
        }
    }
}

/// The results table: outcome coloured, note, testcase, item, time, ref_url link.
pub fn results_table(rows: &[ResultView]) -> Markup {
    if rows.is_empty() {
        return empty("No results match.");
    }
    html! {
        div.scroll { table.stack {
            thead { tr { th { "Outcome" } th { "Testcase" } th { "Item" } th { "Note" } th { "Time" } th { "Link" } } }
            tbody { @for r in rows {
                @let rec = &r.record;
                tr {
                    td data-label="Outcome" { (outcome(&rec.outcome)) }
                    td.wrap data-label="Testcase" { (testcase_link(&rec.testcase.name)) }
                    td.wrap data-label="Item" { @if let Some(i) = rec.data.get("item").and_then(|v| v.first()) { (item_link(i)) } }
                    td.wrap data-label="Note" { (rec.note.as_deref().unwrap_or("")) }
                    td data-label="Time" { a href={"/results/" (r.id)} { (time(&Timestamp(rec.submit_time).to_iso())) } }
                    td data-label="Link" { @if let Some(u) = &rec.ref_url { (ext_link(u, "ref_url")) } }
                }
            } }
        } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn form_values_become_api_parameters() {
        let f = Filters::from_pairs(&pairs(&[
            ("item", " bash-1-1.fc40 "),
            ("type", ""),
            ("outcome", "FAILED"),
            ("outcome", "error"),
            ("data", "arch=x86_64\nscenario=a=b"),
            ("page", "2"),
        ]));
        assert_eq!(
            f.api_pairs(),
            pairs(&[
                ("item", "bash-1-1.fc40"),
                ("outcome", "FAILED,ERROR"),
                ("arch", "x86_64"),
                ("scenario", "a=b"),
                ("page", "2"),
                ("limit", "50"),
            ])
        );
    }
}
