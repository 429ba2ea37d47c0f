//! Greenwave's API under `/api/v1.0`: decisions, policies, subject types and gating-YAML
//! validation.

use super::error::ApiError;
use super::openapi::schemas::{Decision, DecisionRequest, Message, Policies, SubjectTypes};
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

#[utoipa::path(post, path = "/api/v1.0/decision", tag = "greenwave", request_body = DecisionRequest, responses(
    (status = 200, description = "The decision", body = Decision),
    (status = 400, description = "The request is invalid", body = Message),
    (status = 404, description = "No policy applies to the subject", body = Message),
    (status = 415, description = "No JSON payload in the request", body = Message),
    (status = 502, description = "A remote rule's gating.yaml could not be fetched", body = Message),
))]
/// Whether a subject passes the policies of a decision context.
async fn decision(State(s): State<AppState>, ctx: Ctx, body: Body) -> ApiResult {
    // Greenwave reads the body with `request.get_json()`: no JSON content type, or no JSON
    // at all, is "No JSON payload in request" (415).
    let value = read_json(&ctx.headers, body, s.limits.max_body, s.limits.body_timeout).await.ok();
    let d = s.service.decide(value, ctx.urls.clone()).await?;
    Ok(json_response(StatusCode::OK, &d))
}

#[utoipa::path(get, path = "/api/v1.0/policies", tag = "greenwave",
    responses((status = 200, description = "The loaded policies", body = Policies)))]
/// The policies loaded at start-up.
async fn policies(State(s): State<AppState>) -> Response {
    json_response(StatusCode::OK, &s.service.config().gate.policies_json())
}

#[utoipa::path(get, path = "/api/v1.0/subject_types", tag = "greenwave",
    responses((status = 200, description = "The subject types", body = SubjectTypes)))]
/// The subject types the policies may name.
async fn subject_types(State(s): State<AppState>) -> Response {
    json_response(StatusCode::OK, &s.service.config().gate.subject_types_json())
}

#[utoipa::path(post, path = "/api/v1.0/validate-gating-yaml", tag = "greenwave",
    request_body(content = String, description = "A gating.yaml file", content_type = "text/plain",
        example = json!("--- !Policy\nid: gate\nproduct_versions: [fedora-*]\ndecision_context: ctx\nrules:\n  - !PassingTestCaseRule {test_case_name: dist.rpmdeplint}\n")),
    responses(
    (status = 200, description = "The policies are valid", body = Message),
    (status = 400, description = "What is wrong, with the line", body = Message),
))]
/// Checks a gating.yaml file (any content type; read as text).
async fn validate(State(s): State<AppState>, body: Body) -> ApiResult {
    let bytes = axum::body::to_bytes(body, s.limits.max_body).await.map_err(|e| ApiError::BodyRead(e.to_string()))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(match validate_gating_yaml(&text, &s.service.config().gate.policies) {
        Ok(msg) => json_response(StatusCode::OK, &json!({ "message": msg })),
        Err(msg) => json_response(StatusCode::BAD_REQUEST, &json!({ "message": msg })),
    })
}
