//! Greenwave's API under `/api/v1.0`: decisions, policies, subject types and gating-YAML
//! validation.

use super::error::ApiError;
use super::request::{Ctx, read_json};
use super::{AppState, json_response};
use crate::gating::validate_gating_yaml;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;

type ApiResult = Result<Response, ApiError>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1.0/decision", post(decision))
        .route("/api/v1.0/policies", get(policies))
        .route("/api/v1.0/subject_types", get(subject_types))
        .route("/api/v1.0/validate-gating-yaml", post(validate))
}

async fn decision(State(s): State<AppState>, ctx: Ctx, body: Body) -> ApiResult {
    // Greenwave reads the body with `request.get_json()`: no JSON content type, or no JSON
    // at all, is "No JSON payload in request" (415).
    let value = read_json(&ctx.headers, body, s.limits.max_body, s.limits.body_timeout).await.ok();
    let d = s.service.decide(value, ctx.urls.clone()).await?;
    Ok(json_response(StatusCode::OK, &d))
}

async fn policies(State(s): State<AppState>) -> Response {
    json_response(StatusCode::OK, &s.service.config().gate.policies_json())
}

async fn subject_types(State(s): State<AppState>) -> Response {
    json_response(StatusCode::OK, &s.service.config().gate.subject_types_json())
}

async fn validate(State(s): State<AppState>, body: Body) -> ApiResult {
    let bytes = axum::body::to_bytes(body, s.limits.max_body).await.map_err(|e| ApiError::BodyRead(e.to_string()))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(match validate_gating_yaml(&text, &s.service.config().gate.policies) {
        Ok(msg) => json_response(StatusCode::OK, &json!({ "message": msg })),
        Err(msg) => json_response(StatusCode::BAD_REQUEST, &json!({ "message": msg })),
    })
}
