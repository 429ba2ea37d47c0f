//! ResultsDB API v2.0 routes and their handlers.

use super::error::ApiError;
use super::request::{Ctx, prev_next, read_json};
use super::{AppState, json_response};
use crate::model::{GroupQuery, ResultQuery, TestcaseQuery};
use crate::service::render::{DataOnly, Envelope, Urls, group_json, result_json, testcase_json};
use crate::service::{Health, Page, Service};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

type ApiResult = Result<Response, ApiError>;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v2.0", get(landing))
        .route("/api/v2.0/", get(landing))
        .route("/api/v2.0/healthcheck", get(healthcheck))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/api/v2.0/results", get(list_results).post(create_result))
        .route("/api/v2.0/results/latest", get(latest_results))
        .route("/api/v2.0/results/{id}", get(get_result))
        .route("/api/v2.0/testcases", get(list_testcases).post(create_testcase))
        .route("/api/v2.0/testcases/{*name}", get(get_testcase_path))
        .route("/api/v2.0/groups", get(list_groups).post(create_group))
        .route("/api/v2.0/groups/{uuid}", get(get_group))
        .route("/api/v2.0/groups/{uuid}/results", get(group_results))
        .route("/api/verdict/v1/spool", get(spool_status))
        .route("/api/v2.0/events", get(super::events::events))
        .merge(super::decisions::routes())
        .merge(super::waivers::routes())
        .merge(super::quarantines::routes())
        .merge(super::replication::routes())
        .merge(super::insight::routes())
        .merge(super::ingest::routes())
        .merge(super::pages::routes())
        .merge(super::metrics::routes())
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, &json!({"message": "Not found"}))
}

fn ok<T: serde::Serialize + ?Sized>(v: &T) -> ApiResult {
    Ok(json_response(StatusCode::OK, v))
}

/// The collection envelope with upstream's textual prev/next links.
fn envelope<'a, T, J: serde::Serialize>(ctx: &Ctx, page: &'a Page<T>, item: impl Fn(&'a T, &Urls) -> J) -> ApiResult {
    let (prev, next) = prev_next(&ctx.request_url, page.has_next);
    let data: Vec<J> = page.items.iter().map(|i| item(i, &ctx.urls)).collect();
    ok(&Envelope { data, next, prev })
}

async fn landing(State(s): State<AppState>, ctx: Ctx) -> ApiResult {
    let body = json!({
        "documentation": "http://docs.resultsdb20.apiary.io/",
        "groups": ctx.urls.api("/groups"),
        "message": "Everything is fine. But choose wisely, for while the true Grail will bring you life, the false Grail will take it from you.",
        "outcomes": s.service.config().outcomes.as_slice(),
        "results": ctx.urls.api("/results"),
        "testcases": ctx.urls.api("/testcases"),
    });
    // Yes, 300: upstream answers the API root with "Multiple Choices".
    Ok(json_response(StatusCode::MULTIPLE_CHOICES, &body))
}

/// Upstream's answers (200 OK, 503 when the database does not answer), plus 503 with its
/// own message while the disk is full: reads are still served then, but every submitted
/// result would be lost, and a monitor that only looks at the status must see that.
async fn healthcheck(State(s): State<AppState>) -> Response {
    match s.service.health().await {
        Health::Ok => json_response(StatusCode::OK, &json!({"message": "Health check OK"})),
        Health::Unreachable => {
            json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({"message": "Unable to communicate with database"}))
        }
        Health::Unwritable(why) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"message": format!("Unable to write to database: {why}")}),
        ),
    }
}

/// Liveness: the process answers HTTP (for a supervisor's restart decision).
async fn livez() -> Response {
    json_response(StatusCode::OK, &json!({"status": "alive"}))
}

/// Readiness: the store answers and takes writes, the policies are loaded, and the server
/// is not shutting down (for a load balancer's routing decision).
async fn readyz(State(s): State<AppState>) -> Response {
    let policies = s.service.config().gate.policies.len();
    let not_ready = |reason: String| {
        json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({"status": "not ready", "reason": reason}))
    };
    if s.shutdown.is_begun() {
        return not_ready("shutting down".into());
    }
    match s.service.health().await {
        Health::Ok => json_response(StatusCode::OK, &json!({"status": "ready", "policies": policies})),
        Health::Unreachable => not_ready("the database does not answer".into()),
        Health::Unwritable(why) => not_ready(format!("writes are refused: {why}")),
    }
}

fn result_query(service: &Service, ctx: &Ctx) -> Result<ResultQuery, ApiError> {
    let c = service.config();
    Ok(ResultQuery::parse(&ctx.pairs, &c.outcomes, c.max_limit)?)
}

async fn list_results(State(s): State<AppState>, ctx: Ctx) -> ApiResult {
    let q = result_query(&s.service, &ctx)?;
    let page = s.service.results(q).await?;
    envelope(&ctx, &page, result_json)
}

async fn latest_results(State(s): State<AppState>, ctx: Ctx) -> ApiResult {
    let q = result_query(&s.service, &ctx)?;
    let results = s.service.latest(q).await?;
    let data: Vec<_> = results.iter().map(|r| result_json(r, &ctx.urls)).collect();
    ok(&DataOnly { data })
}

async fn get_result(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let r = s.service.result(&id).await?;
    ok(&result_json(&r, &ctx.urls))
}

async fn create_result(State(s): State<AppState>, ctx: Ctx, body: Body) -> ApiResult {
    let body = read_json(&ctx.headers, body, s.limits.max_body, s.limits.body_timeout).await?;
    let key = ctx.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).filter(|k| !k.is_empty());
    let (view, created) = s.service.submit_result(&body, key, &ctx.credentials()).await?;
    let mut resp = json_response(StatusCode::CREATED, &result_json(&view, &ctx.urls));
    if !created {
        resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

async fn list_testcases(State(s): State<AppState>, ctx: Ctx) -> ApiResult {
    let q = TestcaseQuery::parse(&ctx.pairs, s.service.config().max_limit)?;
    let page = s.service.testcases(q).await?;
    envelope(&ctx, &page, |t, urls| testcase_json(&t.name, t.ref_url.as_deref(), urls))
}

/// `/testcases/<path:name>` and `/testcases/<path:name>/results`: names may contain `/`,
/// and like upstream's router we prefer the `…/results` reading.
async fn get_testcase_path(State(s): State<AppState>, ctx: Ctx, Path(name): Path<String>) -> ApiResult {
    if let Some(tc) = name.strip_suffix("/results").filter(|n| !n.is_empty()) {
        let q = result_query(&s.service, &ctx)?;
        let page = s.service.testcase_results(tc.to_owned(), q).await?;
        return envelope(&ctx, &page, result_json);
    }
    let t = s.service.testcase(name).await?;
    ok(&testcase_json(&t.name, t.ref_url.as_deref(), &ctx.urls))
}

async fn create_testcase(State(s): State<AppState>, ctx: Ctx, body: Body) -> ApiResult {
    let body = read_json(&ctx.headers, body, s.limits.max_body, s.limits.body_timeout).await?;
    let t = s.service.create_testcase(&body, &ctx.credentials()).await?;
    Ok(json_response(StatusCode::CREATED, &testcase_json(&t.name, t.ref_url.as_deref(), &ctx.urls)))
}

async fn list_groups(State(s): State<AppState>, ctx: Ctx) -> ApiResult {
    let q = GroupQuery::parse(&ctx.pairs, s.service.config().max_limit)?;
    let page = s.service.groups(q).await?;
    envelope(&ctx, &page, group_json)
}

async fn get_group(State(s): State<AppState>, ctx: Ctx, Path(uuid): Path<String>) -> ApiResult {
    let g = s.service.group(uuid).await?;
    ok(&group_json(&g, &ctx.urls))
}

async fn group_results(State(s): State<AppState>, ctx: Ctx, Path(uuid): Path<String>) -> ApiResult {
    let q = result_query(&s.service, &ctx)?;
    let page = s.service.group_results(uuid, q).await?;
    envelope(&ctx, &page, result_json)
}

async fn create_group(State(s): State<AppState>, ctx: Ctx, body: Body) -> ApiResult {
    let body = read_json(&ctx.headers, body, s.limits.max_body, s.limits.body_timeout).await?;
    let g = s.service.create_group(&body, &ctx.credentials()).await?;
    Ok(json_response(StatusCode::CREATED, &group_json(&g, &ctx.urls)))
}

/// The spool's counters and last error, for operators.
async fn spool_status(State(s): State<AppState>) -> Response {
    let status = s.spool.as_ref().and_then(|st| st.lock().ok().map(|g| g.clone()));
    match status {
        Some(st) => json_response(StatusCode::OK, &st),
        None => json_response(
            StatusCode::NOT_FOUND,
            &json!({"message": "This server runs no spool (start it with --spool DIR)"}),
        ),
    }
}
