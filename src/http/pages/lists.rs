//! `/waivers` and `/quarantines`: lists with filters, the forms to add or revoke, and the
//! form posts (also used by the item page's waive buttons and the flaky board's
//! quarantine controls). A post runs the same use case as the API's JSON endpoint.

use super::layout::{Nav, empty, item_link, page, testcase_link, time};
use super::{
    PageError, PageResult, auth_fields, back_to, field, form_credentials, html_response, read_form, respond, see_other,
};
use crate::http::AppState;
use crate::http::request::Ctx;
use crate::service::QuarantineFilter;
use crate::service::auth::AuthMode;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use serde_json::{Map, Value, json};

fn get<'a>(pairs: &'a [(String, String)], k: &str) -> &'a str {
    pairs.iter().find(|(n, _)| n == k).map_or("", |(_, v)| v.as_str())
}

pub async fn waivers(State(s): State<AppState>, ctx: Ctx) -> Response {
    respond(render_waivers(s, ctx)).await
}

async fn render_waivers(s: AppState, ctx: Ctx) -> PageResult {
    let pairs: Vec<(String, String)> = ctx.pairs.iter().filter(|(_, v)| !v.trim().is_empty()).cloned().collect();
    let bytes = s.service.list_waivers(pairs.clone(), "/waivers".into()).await?;
    let list: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let rows = list["data"].as_array().cloned().unwrap_or_default();
    let mode = &s.service.config().auth.mode;
    let main = html! {
        h1 { "Waivers" }
        form.filters method="get" action="/waivers" aria-label="Filters" {
            label { "Subject identifier" input name="subject_identifier" value=(get(&pairs, "subject_identifier")); }
            label { "Testcase" input name="testcase" value=(get(&pairs, "testcase")); }
            label { "Product version" input name="product_version" value=(get(&pairs, "product_version")); }
            label { "User" input name="username" value=(get(&pairs, "username")); }
            div { button type="submit" { "Filter" } " " a href="/waivers" { "Clear" } }
        }
        (waiver_table(&rows, mode))
        nav.pager aria-label="Pages" {
            @if let Some(p) = list["prev"].as_str() { a rel="prev" href=(p) { "← newer" } }
            @if let Some(n) = list["next"].as_str() { a rel="next" href=(n) { "older →" } }
        }
        h2 { "Add a waiver" }
        form.filters method="post" action="/waivers" aria-label="Add a waiver" {
            label { "Subject type" input name="subject_type" value="koji_build" required; }
            label { "Subject identifier" input name="subject_identifier" required; }
            label { "Testcase" input name="testcase" required; }
            label { "Product version" input name="product_version" required placeholder="fedora-40"; }
            label { "Scenario (optional)" input name="scenario"; }
            label { "Comment" input name="comment" required; }
            (auth_fields(mode))
            div { button type="submit" { "Waive" } }
        }
    };
    Ok(html_response(page("Waivers", Nav::Waivers, main)))
}

fn waiver_table(rows: &[Value], mode: &AuthMode) -> Markup {
    if rows.is_empty() {
        return empty("No waivers match.");
    }
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    html! {
        div.scroll { table.stack {
            thead { tr { th { "Subject" } th { "Testcase" } th { "Product version" } th { "Waived" } th { "By" } th { "Comment" } th { "Time" } th { "Revoke" } } }
            tbody { @for w in rows { tr {
                td.wrap data-label="Subject" { (s(&w["subject_type"])) ": " (item_link(&s(&w["subject_identifier"]))) }
                td.wrap data-label="Testcase" { (testcase_link(&s(&w["testcase"]))) @if let Some(sc) = w["scenario"].as_str() { br; span.muted { (sc) } } }
                td data-label="Product version" { (s(&w["product_version"])) }
                td data-label="Waived" { @if w["waived"].as_bool() == Some(true) { span.badge.o-pass { "waived" } } @else { span.badge.o-other { "revoked" } } }
                td data-label="By" { (s(&w["username"])) }
                td.wrap data-label="Comment" { (s(&w["comment"])) }
                td data-label="Time" { (time(&s(&w["timestamp"]))) }
                td data-label="Revoke" { @if w["waived"].as_bool() == Some(true) {
                    form.inline method="post" action="/waivers" {
                        @for k in ["subject_type", "subject_identifier", "testcase", "product_version"] {
                            input type="hidden" name=(k) value=(s(&w[k]));
                        }
                        @if let Some(sc) = w["scenario"].as_str() { input type="hidden" name="scenario" value=(sc); }
                        input type="hidden" name="waived" value="false";
                        input type="hidden" name="comment" value={"revoked: " (s(&w["comment"]))};
                        (auth_fields(mode))
                        button.secondary type="submit" { "Revoke" }
                    }
                } }
            } } }
        } }
    }
}

/// `POST /waivers` (form): one waiver, through `Service::create_waivers` as the API's
/// `POST /api/v1.0/waivers/`.
pub async fn waive(State(s): State<AppState>, ctx: Ctx, body: Body) -> Response {
    respond(async move {
        let form = read_form(&ctx.headers, body, s.limits.max_body).await?;
        let mut w = Map::new();
        for k in ["subject_type", "subject_identifier", "testcase", "product_version", "comment", "scenario"] {
            if let Some(v) = field(&form, k) {
                w.insert(k.into(), json!(v));
            }
        }
        w.insert("waived".into(), json!(field(&form, "waived") != Some("false")));
        s.service.create_waivers(&Value::Object(w), &form_credentials(&form, &ctx.headers)).await?;
        Ok(see_other(&back_to(&form, "/waivers")))
    })
    .await
}

pub async fn quarantines(State(s): State<AppState>, ctx: Ctx) -> Response {
    respond(render_quarantines(s, ctx)).await
}

async fn render_quarantines(s: AppState, ctx: Ctx) -> PageResult {
    let pairs: Vec<(String, String)> = ctx.pairs.iter().filter(|(_, v)| !v.trim().is_empty()).cloned().collect();
    let filter = QuarantineFilter::parse(&pairs).map_err(crate::service::ServiceError::Quarantine)?;
    let rows = s.service.list_quarantines(filter).await?;
    let mode = &s.service.config().auth.mode;
    let main = html! {
        h1 { "Quarantines" }
        form.filters method="get" action="/quarantines" aria-label="Filters" {
            label { "Testcase" input name="testcase" value=(get(&pairs, "testcase")); }
            label { "Standing" select name="active" {
                @for (v, l) in [("", "all"), ("true", "standing"), ("false", "revoked or expired")] {
                    option value=(v) selected[get(&pairs, "active") == v] { (l) }
                }
            } }
            div { button type="submit" { "Filter" } }
        }
        (quarantine_table(&rows, Some(mode)))
        h2 { "Add a quarantine" }
        form.filters method="post" action="/quarantines" aria-label="Add a quarantine" {
            label { "Testcase (glob)" input name="testcase" required; }
            label { "Scenario (optional)" input name="scenario"; }
            label { "Product version (optional)" input name="product_version"; }
            label { "Reason" input name="reason" required; }
            label { "Expires at (ISO 8601, optional)" input name="expires_at"; }
            label { "Release after passes (optional)" input name="release_after_passes" type="number" min="1"; }
            (auth_fields(mode))
            div { button type="submit" { "Quarantine" } }
        }
    };
    Ok(html_response(page("Quarantines", Nav::Quarantines, main)))
}

/// The rules (with revoke buttons when `mode` is given).
pub fn quarantine_table(rows: &[Value], mode: Option<&AuthMode>) -> Markup {
    if rows.is_empty() {
        return empty("No quarantines match.");
    }
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    html! {
        div.scroll { table.stack {
            thead { tr { th { "Testcase" } th { "Scenario" } th { "Reason" } th { "Owner" } th { "Created" } th { "Expires" } th { "State" } @if mode.is_some() { th { "Revoke" } } } }
            tbody { @for q in rows { tr id={"q-" (s(&q["id"]))} {
                td.wrap data-label="Testcase" { (s(&q["testcase"])) }
                td.wrap data-label="Scenario" { (s(&q["scenario"])) }
                td.wrap data-label="Reason" { (s(&q["reason"])) }
                td data-label="Owner" { (s(&q["owner"])) }
                td data-label="Created" { (time(&s(&q["created_at"]))) }
                td data-label="Expires" { @if let Some(e) = q["expires_at"].as_str() { (time(e)) } @else { "never" } }
                td data-label="State" { @if q["active"].as_bool() == Some(true) { span.badge.o-inspect { "standing" } } @else if q["revoked"].as_bool() == Some(true) { span.badge.o-other { "revoked" } } @else { span.badge.o-other { "expired" } } }
                @if let Some(mode) = mode { td data-label="Revoke" { @if q["active"].as_bool() == Some(true) {
                    form.inline method="post" action="/quarantines/revoke" {
                        input type="hidden" name="id" value=(s(&q["id"]));
                        (auth_fields(mode))
                        button.secondary type="submit" { "Revoke" }
                    }
                } } }
            } } }
        } }
    }
}

/// `POST /quarantines` (form): a new rule through `Service::post_quarantine`.
pub async fn quarantine(State(s): State<AppState>, ctx: Ctx, body: Body) -> Response {
    respond(async move {
        let form = read_form(&ctx.headers, body, s.limits.max_body).await?;
        let mut q = Map::new();
        for k in ["testcase", "scenario", "product_version", "subject_type", "reason", "owner", "expires_at"] {
            if let Some(v) = field(&form, k) {
                q.insert(k.into(), json!(v));
            }
        }
        if let Some(n) = field(&form, "release_after_passes") {
            let n: u64 = n.parse().map_err(|_| {
                PageError::BadForm(format!("release_after_passes: {n:?} is not a whole number of passes"))
            })?;
            q.insert("release_after_passes".into(), json!(n));
        }
        s.service.post_quarantine(&Value::Object(q), &form_credentials(&form, &ctx.headers)).await?;
        Ok(see_other(&back_to(&form, "/quarantines")))
    })
    .await
}

/// `POST /quarantines/revoke` (form, field `id`): through `Service::revoke_quarantine`.
pub async fn revoke(State(s): State<AppState>, ctx: Ctx, body: Body) -> Response {
    respond(async move {
        let form = read_form(&ctx.headers, body, s.limits.max_body).await?;
        let id =
            field(&form, "id").ok_or_else(|| PageError::BadForm("id: the quarantine to revoke is required".into()))?;
        s.service.revoke_quarantine(id, &form_credentials(&form, &ctx.headers)).await?;
        Ok(see_other(&back_to(&form, "/quarantines")))
    })
    .await
}
