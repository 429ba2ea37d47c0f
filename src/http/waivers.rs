//! WaiverDB's API v1.0: `/api/v1.0/waivers…` and `/about`.

use super::AppState;
use super::error::ApiError;
use super::openapi::params::WaiverParams;
use super::openapi::schemas::{
    About, CreateWaivers, CreatedWaivers, FilterWaivers, Message, Waiver, WaiverBadRequest, WaiverList, WaiverPage,
    WaiversBySubjects,
};
use super::request::{Ctx, read_json};
use crate::service::ServiceError;
use crate::service::render::to_wire_py;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

type ApiResult = Result<Response, ApiError>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1.0/about", get(about))
        .route("/api/v1.0/about/", get(about))
        .route("/api/v1.0/waivers/", get(list_waivers).post(create_waivers))
        .route("/api/v1.0/waivers", get(list_waivers).post(create_waivers))
        .route("/api/v1.0/waivers/{id}", get(get_waiver))
        .route("/api/v1.0/waivers/+filtered", post(filtered))
        .route("/api/v1.0/waivers/+by-subjects-and-testcases", post(by_subjects))
}

/// A WaiverDB success body (Python `json.dumps` layout), already serialised.
fn py_body(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut r = (status, bytes).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[utoipa::path(get, path = "/api/v1.0/about", tag = "waiverdb",
    responses((status = 200, description = "The WaiverDB API version and the auth method", body = About)))]
/// WaiverDB's version and authentication method.
async fn about(State(s): State<AppState>) -> Response {
    let method = match s.service.config().auth.mode {
        crate::service::auth::AuthMode::None => "none",
        crate::service::auth::AuthMode::Dummy => "dummy",
        crate::service::auth::AuthMode::Tokens(_) => "tokens",
    };
    py_body(StatusCode::OK, to_wire_py(&json!({"version": "1.4.0", "auth_method": method})))
}

#[utoipa::path(post, path = "/api/v1.0/waivers/", tag = "waiverdb", request_body = CreateWaivers,
    security(("basic" = []), ("bearer" = [])), responses(
    (status = 201, description = "The waiver created, or the list created", body = CreatedWaivers),
    (status = 400, description = "The body is invalid", body = WaiverBadRequest),
    (status = 401, description = "No identity (auth mode `none`) or wrong credentials", body = Message),
    (status = 403, description = "The user may not waive this (or for that user)", body = Message),
    (status = 415, description = "The body is not declared JSON", body = Message),
    (status = 507, description = "The disk is full", body = Message),
))]
/// Creates one waiver or a list of them, all or nothing.
async fn create_waivers(State(s): State<AppState>, ctx: Ctx, body: Body) -> ApiResult {
    let body = read_json(&ctx.headers, body, s.limits.max_body, s.limits.body_timeout).await?;
    let (waivers, is_list) = s.service.create_waivers(&body, &ctx.credentials()).await?;
    let bytes = if is_list {
        to_wire_py(&waivers.iter().map(|w| w.to_json()).collect::<Vec<_>>())
    } else {
        match waivers.first() {
            Some(w) => to_wire_py(&w.to_json()),
            None => return Err(ServiceError::Unavailable("no waiver was stored".into()).into()),
        }
    };
    Ok(py_body(StatusCode::CREATED, bytes))
}

#[utoipa::path(get, path = "/api/v1.0/waivers/{id}", tag = "waiverdb",
    params(("id" = String, Path, description = "The waiver id")), responses(
    (status = 200, description = "The waiver", body = Waiver),
    (status = 404, description = "No such waiver", body = Message),
))]
/// One waiver.
async fn get_waiver(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let w = s.service.waiver(&id).await?;
    Ok(py_body(StatusCode::OK, to_wire_py(&w.to_json())))
}

#[utoipa::path(get, path = "/api/v1.0/waivers/", tag = "waiverdb", params(WaiverParams), responses(
    (status = 200, description = "A page of waivers, newest first", body = WaiverPage),
    (status = 400, description = "A parameter is invalid", body = WaiverBadRequest),
))]
/// Waivers, filtered (current ones only unless `include_obsolete`).
async fn list_waivers(State(s): State<AppState>, ctx: Ctx) -> ApiResult {
    let base = ctx.request_url.split('?').next().unwrap_or(&ctx.request_url).to_owned();
    Ok(py_body(StatusCode::OK, s.service.list_waivers(ctx.pairs, base).await?))
}

#[utoipa::path(post, path = "/api/v1.0/waivers/+filtered", tag = "waiverdb", request_body = FilterWaivers,
    responses(
    (status = 200, description = "The waivers matching any filter", body = WaiverList),
    (status = 400, description = "The body is invalid", body = WaiverBadRequest),
    (status = 415, description = "The body is not declared JSON", body = Message),
))]
/// Waivers matching any of the filters.
async fn filtered(State(s): State<AppState>, ctx: Ctx, body: Body) -> ApiResult {
    let body = read_json(&ctx.headers, body, s.limits.max_body, s.limits.body_timeout).await?;
    Ok(py_body(StatusCode::OK, s.service.filtered_waivers(&body).await?))
}

#[utoipa::path(post, path = "/api/v1.0/waivers/+by-subjects-and-testcases", tag = "waiverdb",
    request_body = WaiversBySubjects, responses(
    (status = 200, description = "The waivers of those subjects and testcases", body = WaiverList),
    (status = 400, description = "The body is invalid", body = WaiverBadRequest),
    (status = 415, description = "The body is not declared JSON", body = Message),
))]
/// Waivers by subjects and testcases (deprecated upstream).
async fn by_subjects(State(s): State<AppState>, ctx: Ctx, body: Body) -> ApiResult {
    let body: Value = read_json(&ctx.headers, body, s.limits.max_body, s.limits.body_timeout).await?;
    Ok(py_body(StatusCode::OK, s.service.waivers_by_subjects(&body).await?))
}
