//! WaiverDB's API v1.0: `/api/v1.0/waivers…` and `/about`.

use super::AppState;
use super::error::ApiError;
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

async fn about(State(s): State<AppState>) -> Response {
    let method = match s.service.config().auth.mode {
        crate::service::auth::AuthMode::None => "none",
        crate::service::auth::AuthMode::Dummy => "dummy",
        crate::service::auth::AuthMode::Tokens(_) => "tokens",
    };
    py_body(StatusCode::OK, to_wire_py(&json!({"version": "1.4.0", "auth_method": method})))
}

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

async fn get_waiver(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let w = s.service.waiver(&id).await?;
    Ok(py_body(StatusCode::OK, to_wire_py(&w.to_json())))
}

async fn list_waivers(State(s): State<AppState>, ctx: Ctx) -> ApiResult {
    let base = ctx.request_url.split('?').next().unwrap_or(&ctx.request_url).to_owned();
    Ok(py_body(StatusCode::OK, s.service.list_waivers(ctx.pairs, base).await?))
}

async fn filtered(State(s): State<AppState>, ctx: Ctx, body: Body) -> ApiResult {
    let body = read_json(&ctx.headers, body, s.limits.max_body, s.limits.body_timeout).await?;
    Ok(py_body(StatusCode::OK, s.service.filtered_waivers(&body).await?))
}

async fn by_subjects(State(s): State<AppState>, ctx: Ctx, body: Body) -> ApiResult {
    let body: Value = read_json(&ctx.headers, body, s.limits.max_body, s.limits.body_timeout).await?;
    Ok(py_body(StatusCode::OK, s.service.waivers_by_subjects(&body).await?))
}
