//! ResultsDB API v2.0 routes and their handlers.

use super::error::ApiError;
use super::openapi::params::{GroupParams, ResultParams, TestcaseParams};
use super::openapi::schemas::{
    Alive, BadRequest, CreateGroup, CreateResult, CreateTestcase, Landing, Message, Readiness,
};
use super::request::{Ctx, prev_next, read_json};
use super::{AppState, json_response};
use crate::model::{GroupQuery, ResultQuery, TestcaseQuery};
use crate::service::ingest::SpoolStatus;
use crate::service::render::{
    DataOnly, Envelope, GroupJson, ResultJson, TestcaseJson, Urls, group_json, result_json, testcase_json,
};
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
        .route("/api/v2.0/testcases/{*name}", get(testcase_path))
        .route("/api/v2.0/groups", get(list_groups).post(create_group))
        .route("/api/v2.0/groups/{uuid}", get(get_group))
        .route("/api/v2.0/groups/{uuid}/results", get(group_results))
        .route("/api/verdict/v1/spool", get(spool_status))
        .route("/api/verdict/v1/consume", get(consume_status))
        .route("/api/v2.0/events", get(super::events::events))
        .merge(super::decisions::routes())
        .merge(super::waivers::routes())
        .merge(super::quarantines::routes())
        .merge(super::replication::routes())
        .merge(super::insight::routes())
        .merge(super::ingest::routes())
        .merge(super::pages::routes())
        .merge(super::metrics::routes())
        .merge(super::openapi::routes())
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

#[utoipa::path(get, path = "/api/v2.0", tag = "resultsdb",
    responses((status = 300, description = "Links to the collections (upstream answers 300)", body = Landing)))]
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

#[utoipa::path(get, path = "/api/v2.0/healthcheck", tag = "operations", responses(
    (status = 200, description = "The store answers and takes writes", body = Message),
    (status = 503, description = "The store does not answer, or refuses writes (disk full)", body = Message),
))]
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

#[utoipa::path(get, path = "/livez", tag = "operations",
    responses((status = 200, description = "The process answers", body = Alive)))]
/// Liveness: the process answers HTTP (for a supervisor's restart decision).
async fn livez() -> Response {
    json_response(StatusCode::OK, &json!({"status": "alive"}))
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready, with the number of policies loaded", body = Readiness),
    (status = 503, description = "Not ready, with the reason", body = Readiness),
))]
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

#[utoipa::path(get, path = "/api/v2.0/results", tag = "resultsdb", params(ResultParams), responses(
    (status = 200, description = "A page of results, newest first", body = Envelope<ResultJson>),
    (status = 400, description = "A parameter is invalid", body = BadRequest),
))]
/// Results, filtered.
async fn list_results(State(s): State<AppState>, ctx: Ctx) -> ApiResult {
    let q = result_query(&s.service, &ctx)?;
    let page = s.service.results(q).await?;
    envelope(&ctx, &page, result_json)
}

#[utoipa::path(get, path = "/api/v2.0/results/latest", tag = "resultsdb", params(ResultParams), responses(
    (status = 200, description = "The newest result of each testcase (or `_distinct_on` value)", body = DataOnly<ResultJson>),
    (status = 400, description = "A parameter is invalid", body = BadRequest),
))]
/// The newest result of each testcase matching the filters.
async fn latest_results(State(s): State<AppState>, ctx: Ctx) -> ApiResult {
    let q = result_query(&s.service, &ctx)?;
    let results = s.service.latest(q).await?;
    let data: Vec<_> = results.iter().map(|r| result_json(r, &ctx.urls)).collect();
    ok(&DataOnly { data })
}

#[utoipa::path(get, path = "/api/v2.0/results/{id}", tag = "resultsdb",
    params(("id" = String, Path, description = "The result id")), responses(
    (status = 200, description = "The result", body = ResultJson),
    (status = 404, description = "No such result", body = Message),
))]
/// One result.
async fn get_result(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let r = s.service.result(&id).await?;
    ok(&result_json(&r, &ctx.urls))
}

#[utoipa::path(post, path = "/api/v2.0/results", tag = "resultsdb",
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key and body store the result once")),
    request_body = CreateResult,
    security((), ("basic" = []), ("bearer" = [])),
    responses(
    (status = 201, description = "Stored (or, with `Idempotent-Replayed: true`, stored before)", body = ResultJson,
        headers(("Idempotent-Replayed" = String, description = "`true` when the key's result was stored before"))),
    (status = 400, description = "The body is invalid", body = BadRequest),
    (status = 401, description = "Credentials missing or wrong (tokens mode)", body = Message),
    (status = 403, description = "The user may not submit this testcase", body = Message),
    (status = 409, description = "The uuid names a different result", body = Message),
    (status = 415, description = "The body is not declared JSON", body = Message),
    (status = 422, description = "The idempotency key was used with another body", body = Message),
    (status = 507, description = "The disk is full", body = Message),
))]
/// Stores a result.
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

#[utoipa::path(get, path = "/api/v2.0/testcases", tag = "resultsdb", params(TestcaseParams), responses(
    (status = 200, description = "A page of testcases", body = Envelope<TestcaseJson>),
    (status = 400, description = "A parameter is invalid", body = BadRequest),
))]
/// Testcases, filtered.
async fn list_testcases(State(s): State<AppState>, ctx: Ctx) -> ApiResult {
    let q = TestcaseQuery::parse(&ctx.pairs, s.service.config().max_limit)?;
    let page = s.service.testcases(q).await?;
    envelope(&ctx, &page, |t, urls| testcase_json(&t.name, t.ref_url.as_deref(), urls))
}

/// `/testcases/<path:name>` and `/testcases/<path:name>/results`: names may contain `/`,
/// and like upstream's router we prefer the `…/results` reading.
async fn testcase_path(State(s): State<AppState>, ctx: Ctx, Path(name): Path<String>) -> ApiResult {
    match name.strip_suffix("/results").filter(|n| !n.is_empty()) {
        Some(tc) => testcase_results(s, ctx, tc.to_owned()).await,
        None => get_testcase(s, ctx, name).await,
    }
}

#[utoipa::path(get, path = "/api/v2.0/testcases/{name}", tag = "resultsdb",
    params(("name" = String, Path,
        description = "The testcase name; it may contain `/`, but one ending in `/results` reads as that testcase's results, as upstream")),
    responses(
    (status = 200, description = "The testcase", body = TestcaseJson),
    (status = 404, description = "No such testcase", body = Message),
))]
/// One testcase.
async fn get_testcase(s: AppState, ctx: Ctx, name: String) -> ApiResult {
    let t = s.service.testcase(name).await?;
    ok(&testcase_json(&t.name, t.ref_url.as_deref(), &ctx.urls))
}

#[utoipa::path(get, path = "/api/v2.0/testcases/{name}/results", tag = "resultsdb",
    params(("name" = String, Path, description = "The testcase name"), ResultParams), responses(
    (status = 200, description = "A page of the testcase's results", body = Envelope<ResultJson>),
    (status = 400, description = "A parameter is invalid", body = BadRequest),
    (status = 404, description = "No such testcase", body = Message),
))]
/// A testcase's results.
async fn testcase_results(s: AppState, ctx: Ctx, name: String) -> ApiResult {
    let q = result_query(&s.service, &ctx)?;
    let page = s.service.testcase_results(name, q).await?;
    envelope(&ctx, &page, result_json)
}

#[utoipa::path(post, path = "/api/v2.0/testcases", tag = "resultsdb", request_body = CreateTestcase,
    security((), ("basic" = []), ("bearer" = [])), responses(
    (status = 201, description = "Stored (or updated)", body = TestcaseJson),
    (status = 400, description = "The body is invalid", body = BadRequest),
    (status = 401, description = "Credentials missing or wrong (tokens mode)", body = Message),
    (status = 403, description = "The user may not write this testcase", body = Message),
    (status = 415, description = "The body is not declared JSON", body = Message),
    (status = 507, description = "The disk is full", body = Message),
))]
/// Creates a testcase or updates its `ref_url`.
async fn create_testcase(State(s): State<AppState>, ctx: Ctx, body: Body) -> ApiResult {
    let body = read_json(&ctx.headers, body, s.limits.max_body, s.limits.body_timeout).await?;
    let t = s.service.create_testcase(&body, &ctx.credentials()).await?;
    Ok(json_response(StatusCode::CREATED, &testcase_json(&t.name, t.ref_url.as_deref(), &ctx.urls)))
}

#[utoipa::path(get, path = "/api/v2.0/groups", tag = "resultsdb", params(GroupParams), responses(
    (status = 200, description = "A page of groups, newest first", body = Envelope<GroupJson>),
    (status = 400, description = "A parameter is invalid", body = BadRequest),
))]
/// Groups, filtered.
async fn list_groups(State(s): State<AppState>, ctx: Ctx) -> ApiResult {
    let q = GroupQuery::parse(&ctx.pairs, s.service.config().max_limit)?;
    let page = s.service.groups(q).await?;
    envelope(&ctx, &page, group_json)
}

#[utoipa::path(get, path = "/api/v2.0/groups/{uuid}", tag = "resultsdb",
    params(("uuid" = String, Path, description = "The group uuid")), responses(
    (status = 200, description = "The group", body = GroupJson),
    (status = 404, description = "No such group", body = Message),
))]
/// One group.
async fn get_group(State(s): State<AppState>, ctx: Ctx, Path(uuid): Path<String>) -> ApiResult {
    let g = s.service.group(uuid).await?;
    ok(&group_json(&g, &ctx.urls))
}

#[utoipa::path(get, path = "/api/v2.0/groups/{uuid}/results", tag = "resultsdb",
    params(("uuid" = String, Path, description = "The group uuid"), ResultParams), responses(
    (status = 200, description = "A page of the group's results", body = Envelope<ResultJson>),
    (status = 400, description = "A parameter is invalid", body = BadRequest),
    (status = 404, description = "No such group", body = Message),
))]
/// A group's results.
async fn group_results(State(s): State<AppState>, ctx: Ctx, Path(uuid): Path<String>) -> ApiResult {
    let q = result_query(&s.service, &ctx)?;
    let page = s.service.group_results(uuid, q).await?;
    envelope(&ctx, &page, result_json)
}

#[utoipa::path(post, path = "/api/v2.0/groups", tag = "resultsdb", request_body = CreateGroup,
    security((), ("basic" = []), ("bearer" = [])), responses(
    (status = 201, description = "Stored (or updated)", body = GroupJson),
    (status = 400, description = "The body is invalid", body = BadRequest),
    (status = 401, description = "Credentials missing or wrong (tokens mode)", body = Message),
    (status = 403, description = "The user may not change this group", body = Message),
    (status = 415, description = "The body is not declared JSON", body = Message),
    (status = 507, description = "The disk is full", body = Message),
))]
/// Creates a group or updates its description and `ref_url`.
async fn create_group(State(s): State<AppState>, ctx: Ctx, body: Body) -> ApiResult {
    let body = read_json(&ctx.headers, body, s.limits.max_body, s.limits.body_timeout).await?;
    let g = s.service.create_group(&body, &ctx.credentials()).await?;
    Ok(json_response(StatusCode::CREATED, &group_json(&g, &ctx.urls)))
}

#[utoipa::path(get, path = "/api/verdict/v1/consume", tag = "operations", responses(
    (status = 200, description = "The bus consumer's status (`enabled: false` when this server consumes nothing)", body = crate::service::consume::ConsumeReport),
))]
/// The message-bus consumer's counters, connection, backlog and recent refusals.
async fn consume_status(State(s): State<AppState>) -> Response {
    json_response(StatusCode::OK, &s.service.consume_report())
}

#[utoipa::path(get, path = "/api/verdict/v1/spool", tag = "operations", responses(
    (status = 200, description = "The spool's status", body = SpoolStatus),
    (status = 404, description = "This server runs no spool", body = Message),
))]
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
