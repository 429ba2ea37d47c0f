//! Our quarantine API: `/api/verdict/v1/quarantines` (create with POST, revoke with POST
//! `{"id": ..., "revoked": true}` or DELETE, list and read with GET).

use super::error::ApiError;
use super::openapi::params::QuarantineParams;
use super::openapi::schemas::{Message, Quarantine, QuarantineBadRequest, QuarantineBody, QuarantineList};
use super::request::{Ctx, read_json};
use super::{AppState, json_response};
use crate::service::QuarantineFilter;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

type ApiResult = Result<Response, ApiError>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/verdict/v1/quarantines", get(list).post(post))
        .route("/api/verdict/v1/quarantines/{id}", get(one).delete(revoke))
}

#[utoipa::path(post, path = "/api/verdict/v1/quarantines", tag = "quarantines", request_body = QuarantineBody,
    security(("basic" = []), ("bearer" = [])), responses(
    (status = 201, description = "The rule created", body = Quarantine),
    (status = 200, description = "The rule revoked", body = Quarantine),
    (status = 400, description = "The body is invalid (naming the field)", body = QuarantineBadRequest),
    (status = 401, description = "No identity (auth mode `none`) or wrong credentials", body = Message),
    (status = 403, description = "The user may not quarantine (or revoke) this", body = Message),
    (status = 404, description = "No such rule to revoke", body = Message),
    (status = 415, description = "The body is not declared JSON", body = Message),
    (status = 507, description = "The disk is full", body = Message),
))]
/// 201 with the new rule; 200 with the rule when the body revoked one.
async fn post(State(s): State<AppState>, ctx: Ctx, body: Body) -> ApiResult {
    let body = read_json(&ctx.headers, body, s.limits.max_body, s.limits.body_timeout).await?;
    let (rule, created) = s.service.post_quarantine(&body, &ctx.credentials()).await?;
    Ok(json_response(if created { StatusCode::CREATED } else { StatusCode::OK }, &rule))
}

#[utoipa::path(delete, path = "/api/verdict/v1/quarantines/{id}", tag = "quarantines",
    params(("id" = String, Path, description = "The rule id")),
    security(("basic" = []), ("bearer" = [])), responses(
    (status = 200, description = "The rule revoked", body = Quarantine),
    (status = 401, description = "No identity (auth mode `none`) or wrong credentials", body = Message),
    (status = 403, description = "The user may not revoke it", body = Message),
    (status = 404, description = "No such rule", body = Message),
    (status = 507, description = "The disk is full", body = Message),
))]
/// Revokes a rule.
async fn revoke(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    Ok(json_response(StatusCode::OK, &s.service.revoke_quarantine(&id, &ctx.credentials()).await?))
}

#[utoipa::path(get, path = "/api/verdict/v1/quarantines", tag = "quarantines", params(QuarantineParams),
    responses(
    (status = 200, description = "The rules, oldest first", body = QuarantineList),
    (status = 400, description = "A parameter is invalid or unknown", body = QuarantineBadRequest),
))]
/// The rules, filtered.
async fn list(State(s): State<AppState>, ctx: Ctx) -> ApiResult {
    let filter = QuarantineFilter::parse(&ctx.pairs).map_err(crate::service::ServiceError::from)?;
    let data = s.service.list_quarantines(filter).await?;
    Ok(json_response(StatusCode::OK, &json!({ "data": data })))
}

#[utoipa::path(get, path = "/api/verdict/v1/quarantines/{id}", tag = "quarantines",
    params(("id" = String, Path, description = "The rule id")), responses(
    (status = 200, description = "The rule as it stands", body = Quarantine),
    (status = 404, description = "No such rule", body = Message),
))]
/// One rule.
async fn one(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    Ok(json_response(StatusCode::OK, &s.service.quarantine(id).await?))
}
