//! The offline report (`verdict report`): one self-contained HTML file — the stylesheet
//! inline, no script from anywhere (its Content-Security-Policy forbids any) — with the
//! history grids, the flaky board and a comparison, plus the store's `verify` verdict and
//! its chain heads, so an air-gapped site can hand an auditor one file.

use super::compare::comparison;
use super::flaky::board_table;
use super::testcase::grid;
use crate::insight::Classification;
use crate::model::ResultView;
use crate::service::OriginHead;
use crate::service::compare::CompareAnswer;
use crate::service::insight::FlakyAnswer;
use maud::{DOCTYPE, html};

/// What a report shows; the caller (the CLI) reads it through the service.
pub struct Report<'a> {
    /// What was selected, in words (`item foo-1-1.fc40`, …).
    pub selection: String,
    /// When the report was made (ISO 8601).
    pub generated: String,
    pub node: String,
    /// Per testcase, its newest results (newest first).
    pub grids: Vec<(String, Vec<ResultView>)>,
    /// Testcases matched beyond those drawn.
    pub grids_left_out: usize,
    pub flaky: &'a FlakyAnswer,
    /// The comparison, or why there is none.
    pub comparison: Result<&'a CompareAnswer, String>,
    /// `verify`'s one-line verdict and whether every chain holds.
    pub verify: (String, bool),
    pub heads: &'a [OriginHead],
    /// `<base href>` for the links (the server the report describes), if given.
    pub link_base: Option<String>,
}

/// The report as one HTML document.
pub fn render(r: &Report) -> String {
    let noteworthy: Vec<&Classification> =
        r.flaky.data.iter().filter(|c| c.state != crate::insight::State::Healthy).collect();
    html! {
        (DOCTYPE)
        html lang="en" {
            (super::layout::head(&format!("verdict report · {}", r.selection), html! {
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'";
                @if let Some(b) = &r.link_base { base href=(b); }
            }))
            body {
                header.top { span.brand { "verdict report" } span { (r.selection) } }
                main {
                    h1 { "Report: " (r.selection) }
                    dl.fields {
                        dt { "Generated" } dd { (r.generated) }
                        dt { "Store node" } dd { code { (r.node) } }
                        dt { "Store verification" } dd {
                            @if r.verify.1 { span.badge.o-pass data-verified="true" { "verified" } }
                            @else { span.badge.o-fail data-verified="false" { "BROKEN" } }
                            " " (r.verify.0)
                        }
                    }
                    h2 { "Chain heads" }
                    div.scroll { table {
                        thead { tr { th { "Origin" } th { "Position" } th { "Head hash (blake3)" } } }
                        tbody { @for h in r.heads { tr { td { code { (h.origin) } } td { (h.seq) } td.wrap { code { (h.hash.to_hex()) } } } } }
                    } }
                    h2 { "Flaky and broken keys" }
                    p.muted { "Window " (r.flaky.since) " – " (r.flaky.until) "." }
                    (board_table(&noteworthy, &[], None))
                    h2 { "Comparison" }
                    @match &r.comparison {
                        Ok(c) => (comparison(c)),
                        Err(why) => p.muted { (why) },
                    }
                    h2 { "History grids" }
                    @if r.grids_left_out > 0 { p.muted { (r.grids_left_out) " more testcase(s) matched; narrow the selection to see them." } }
                    @for (tc, results) in &r.grids {
                        section.report-grid { h3 { (tc) } (grid(tc, results, 30, &r.flaky.data)) }
                    }
                }
                footer { "verdict " (env!("CARGO_PKG_VERSION")) " · one self-contained file: no script, no external resource" }
            }
        }
    }
    .into_string()
}
