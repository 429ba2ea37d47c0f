//! Our quarantine API: `/api/verdict/v1/quarantines` (create with POST, revoke with POST
//! `{"id": ..., "revoked": true}` or DELETE, list and read with GET).

use super::error::ApiError;
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

/// 201 with the new rule; 200 with the rule when the body revoked one.
async fn post(State(s): State<AppState>, ctx: Ctx, body: Body) -> ApiResult {
    let body = read_json(&ctx.headers, body, s.limits.max_body, s.limits.body_timeout).await?;
    let (rule, created) = s.service.post_quarantine(&body, &ctx.credentials()).await?;
    Ok(json_response(if created { StatusCode::CREATED } else { StatusCode::OK }, &rule))
}

async fn revoke(State(s): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    Ok(json_response(StatusCode::OK, &s.service.revoke_quarantine(&id, &ctx.credentials()).await?))
}

async fn list(State(s): State<AppState>, ctx: Ctx) -> ApiResult {
    let filter = QuarantineFilter::parse(&ctx.pairs).map_err(crate::service::ServiceError::from)?;
    let data = s.service.list_quarantines(filter).await?;
    Ok(json_response(StatusCode::OK, &json!({ "data": data })))
}

async fn one(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    Ok(json_response(StatusCode::OK, &s.service.quarantine(id).await?))
}
