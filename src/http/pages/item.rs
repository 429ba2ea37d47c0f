//! `/items/{item}`: one subject — the latest result of every testcase × scenario/arch,
//! each linking its history, and the gating decision of every decision context the
//! policies (`--policies`) apply to it, with its progress as a bar and each unsatisfied
//! requirement with its reason and a waive form.

use super::layout::{Nav, empty, enc, ext_link, outcome, page, result_link, testcase_link, time};
use super::{PageResult, auth_fields, html_response, respond};
use crate::gating::Gate;
use crate::http::AppState;
use crate::http::request::Ctx;
use crate::model::{ResultQuery, ResultView, Timestamp};
use crate::service::auth::AuthMode;
use axum::extract::{Path, State};
use axum::response::Response;
use maud::{Markup, html};
use serde_json::{Value, json};
use std::collections::BTreeSet;

pub async fn item(State(s): State<AppState>, Path(item): Path<String>, ctx: Ctx) -> Response {
    respond(render(s, item, ctx)).await
}

/// The product version a koji-style NVR's release names (`….fc40` → `fedora-40`,
/// `….el9` → `rhel-9`), as Greenwave guesses it.
pub fn guess_product_version(item: &str) -> Option<String> {
    let release = item.rsplit('-').next()?;
    for part in release.split('.') {
        for (prefix, product) in [("fc", "fedora"), ("el", "rhel")] {
            if let Some(n) = part.strip_prefix(prefix)
                && !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
            {
                return Some(format!("{product}-{n}"));
            }
        }
    }
    None
}

/// The (decision context, product version) pairs the local policies apply to `item` of
/// `item_type`; `given` (the URL's `product_version`) overrides the guess. Pairs whose
/// product version cannot be known are returned with `None`.
pub fn decision_contexts(
    gate: &Gate,
    item: &str,
    item_type: &str,
    given: Option<&str>,
) -> Vec<(String, Option<String>)> {
    let t = gate.subject_types.resolve(item_type);
    let mut out: BTreeSet<(String, Option<String>)> = BTreeSet::new();
    for p in gate.policies.iter().filter(|p| p.kind == crate::gating::PolicyKind::Local && p.matches_subject_type(&t)) {
        let pv = given
            .map(str::to_owned)
            .or_else(|| guess_product_version(item).filter(|g| p.matches_product_version(g)))
            .or_else(|| p.product_versions.iter().find(|v| !v.contains(['*', '?', '['])).cloned())
            .filter(|v| p.matches_product_version(v));
        for c in p.all_decision_contexts() {
            out.insert((c.to_owned(), pv.clone()));
        }
    }
    out.into_iter().collect()
}

async fn render(s: AppState, item: String, ctx: Ctx) -> PageResult {
    let param = |k: &str| ctx.pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
    let mut pairs = vec![("item".to_owned(), item.clone()), ("_distinct_on".into(), "scenario,arch".into())];
    if let Some(t) = param("type") {
        pairs.push(("type".into(), t.to_owned()));
    }
    let c = s.service.config();
    let mut latest = s.service.latest(ResultQuery::parse(&pairs, &c.outcomes, c.max_limit)?).await?;
    latest.sort_by_key(key);
    let item_type = param("type")
        .map(str::to_owned)
        .or_else(|| latest.iter().find_map(|r| r.record.data.get("type").and_then(|v| v.first()).cloned()))
        .unwrap_or_else(|| "koji_build".into());
    let mut decisions = Vec::new();
    for (context, pv) in decision_contexts(&c.gate, &item, &item_type, param("product_version")) {
        let d = match &pv {
            Some(pv) => {
                let body = json!({
                    "decision_context": context, "product_version": pv,
                    "subject_type": item_type, "subject_identifier": item,
                });
                Some(s.service.decide(Some(body), ctx.urls.clone()).await?)
            }
            None => None,
        };
        decisions.push((context, pv, d));
    }
    let back = format!("/items/{}{}", enc(&item), super::layout::query_string(&ctx.pairs));
    let main = html! {
        h1 { span.muted { (item_type) " " } (item) }
        p { a href={"/results?item=" (enc(&item))} { "All results of this item" } " · "
            a href={"/compare?base=last_good&head_item=" (enc(&item)) "&head_type=" (enc(&item_type))} { "Compare with the last good build" } }
        h2 { "Gating" }
        @if decisions.is_empty() { (empty("No policy applies to this subject type.")) }
        @for (context, pv, d) in &decisions {
            (decision(context, pv.as_deref(), d.as_ref(), &c.auth.mode, &back))
        }
        h2 { "Latest results" }
        (latest_table(&latest))
    };
    Ok(html_response(page(&item, Nav::None, main)))
}

fn key(r: &ResultView) -> (String, String, String) {
    let get = |k: &str| r.record.data.get(k).and_then(|v| v.first()).cloned().unwrap_or_default();
    (r.record.testcase.name.clone(), get("scenario"), get("arch"))
}

/// Why a requirement is unmet, in words.
fn reason(req: &Value) -> String {
    let testcase = req["testcase"].as_str().unwrap_or("");
    match req["type"].as_str().unwrap_or("") {
        "test-result-missing" => format!("no result for {testcase} yet"),
        "test-result-failed" => format!("{testcase} failed"),
        "test-result-errored" => {
            format!("{testcase} errored: {}", req["error_reason"].as_str().unwrap_or("no reason given"))
        }
        other => format!("{other} ({testcase})"),
    }
}

fn decision(context: &str, pv: Option<&str>, d: Option<&Value>, mode: &AuthMode, back: &str) -> Markup {
    let Some(d) = d else {
        return html! { section.decision { h3 { (context) } p.muted { "The product version is not known: add ?product_version=… to the URL." } } };
    };
    let ok = d["policies_satisfied"].as_bool() == Some(true);
    let (done, total) =
        (d["progress"]["satisfied"].as_u64().unwrap_or(0), d["progress"]["required"].as_u64().unwrap_or(0));
    let pct = (done * 100).checked_div(total).unwrap_or(100);
    let unmet = d["unsatisfied_requirements"].as_array().cloned().unwrap_or_default();
    let met = d["satisfied_requirements"].as_array().cloned().unwrap_or_default();
    html! {
        section.decision.(if ok { "ok" } else { "no" }) data-context=(context) data-satisfied=(ok) {
            h3 { (context) " · " (pv.unwrap_or("")) " — " @if ok { span.badge.o-pass { "passes" } } @else { span.badge.o-fail { "blocked" } } }
            p { (d["summary"].as_str().unwrap_or("")) }
            div.bar role="progressbar" aria-valuemin="0" aria-valuemax=(total) aria-valuenow=(done) aria-label={"requirements met in " (context)} {
                span style={"width:" (pct) "%"} {}
            }
            p.muted { (done) " of " (total) " requirements met" }
            @if !unmet.is_empty() { ul.unmet { @for r in &unmet { li {
                (reason(r)) @if let Some(sc) = r["scenario"].as_str() { " (" (sc) ")" }
                @if let Some(id) = r["result_id"].as_i64() { " " (result_link(id, &format!("#{id}"))) }
                @if matches!(mode, AuthMode::None) { } @else {
                    details.waive { summary { "Waive…" }
                        form.inline method="post" action="/waivers" {
                            input type="hidden" name="subject_type" value=(r["subject_type"].as_str().unwrap_or(""));
                            input type="hidden" name="subject_identifier" value=(r["subject_identifier"].as_str().unwrap_or(""));
                            input type="hidden" name="testcase" value=(r["testcase"].as_str().unwrap_or(""));
                            input type="hidden" name="product_version" value=(pv.unwrap_or(""));
                            @if let Some(sc) = r["scenario"].as_str() { input type="hidden" name="scenario" value=(sc); }
                            input type="hidden" name="back" value=(back);
                            label { "Comment" input name="comment" required; }
                            (auth_fields(mode))
                            button type="submit" { "Waive" }
                        }
                    }
                }
            } } } }
            @if !met.is_empty() {
                details.met { summary { (met.len()) " met requirement(s)" }
                    ul { @for r in &met { li {
                        (r["testcase"].as_str().unwrap_or("")) @if let Some(sc) = r["scenario"].as_str() { " (" (sc) ")" } " — "
                        span class={"badge " (if r["type"].as_str().is_some_and(|t| t.ends_with("-waived")) { "o-inspect" } else { "o-pass" })} {
                            (met_words(r["type"].as_str().unwrap_or("")))
                        }
                        @if let Some(id) = r["result_id"].as_i64() { " " (result_link(id, &format!("#{id}"))) }
                    } } }
                }
            }
        }
    }
}

/// A met requirement's type in words (`test-result-failed-waived` → `failed, waived`).
fn met_words(t: &str) -> String {
    let t = t.strip_prefix("test-result-").unwrap_or(t);
    match t.strip_suffix("-waived") {
        Some(why) => format!("{why}, waived"),
        None => t.to_owned(),
    }
}

fn latest_table(rows: &[ResultView]) -> Markup {
    if rows.is_empty() {
        return empty("No results for this item.");
    }
    html! {
        div.scroll { table.stack {
            thead { tr { th { "Testcase" } th { "Scenario" } th { "Arch" } th { "Outcome" } th { "Time" } th { "Note" } th { "Link" } } }
            tbody { @for r in rows {
                @let (tc, scenario, arch) = key(r);
                tr {
                    td.wrap data-label="Testcase" { (testcase_link(&tc)) }
                    td.wrap data-label="Scenario" { (scenario) }
                    td data-label="Arch" { (arch) }
                    td data-label="Outcome" { (outcome(&r.record.outcome)) }
                    td data-label="Time" { a href={"/results/" (r.id)} { (time(&Timestamp(r.record.submit_time).to_iso())) } }
                    td.wrap data-label="Note" { (r.record.note.as_deref().unwrap_or("")) }
                    td data-label="Link" {
                        a href={"/testcases/" (enc(&tc)) "#k-" (enc(&scenario)) "-" (enc(&arch))} { "history" }
                        @if let Some(u) = &r.record.ref_url { " · " (ext_link(u, "ref_url")) }
                    }
                }
            } }
        } }
    }
}

#[cfg(test)]
mod tests {
    use super::guess_product_version;

    #[test]
    fn met_requirements_in_words() {
        assert_eq!(super::met_words("test-result-passed"), "passed");
        assert_eq!(super::met_words("test-result-failed-waived"), "failed, waived");
        assert_eq!(super::met_words("fetched-gating-yaml"), "fetched-gating-yaml");
    }

    #[test]
    fn product_versions_from_nvrs() {
        assert_eq!(guess_product_version("bash-5.2.26-3.fc40").as_deref(), Some("fedora-40"));
        assert_eq!(guess_product_version("pkg00042-1.2-0.fc40").as_deref(), Some("fedora-40"));
        assert_eq!(guess_product_version("glibc-2.34-60.el9").as_deref(), Some("rhel-9"));
        assert_eq!(guess_product_version("Fedora-40-20240101.0"), None);
    }
}
