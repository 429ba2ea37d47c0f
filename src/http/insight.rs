//! Insight endpoints: `/api/verdict/v1/history` (a key's results and statistics),
//! `/api/verdict/v1/flaky` (every key's state in a window, with its evidence),
//! `/api/verdict/v1/compare` (base against head, bucketed) and
//! `/api/verdict/v1/results/{id}/similar` (earlier results that failed the same way). Parameters
//! are checked by `model::insight`; a bad one is a 400 naming it.

use super::AppState;
use super::error::ApiError;
use super::json_response;
use super::openapi::params::{CompareParams, FlakyParams, HistoryParams, SimilarParams};
use super::openapi::schemas::{CompareAnswer, FlakyAnswer, HistoryAnswer, Message, SimilarAnswer};
use super::request::Ctx;
use crate::model::{CompareQuery, FlakyQuery, HistoryQuery, SimilarQuery};
use crate::service::ServiceError;
use axum::Router;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/verdict/v1/history", get(history))
        .route("/api/verdict/v1/flaky", get(flaky))
        .route("/api/verdict/v1/compare", get(compare))
        .route("/api/verdict/v1/results/{id}/similar", get(similar))
}

#[utoipa::path(get, path = "/api/verdict/v1/history", tag = "insight", params(HistoryParams), responses(
    (status = 200, description = "Each matching key's statistics and newest results", body = HistoryAnswer),
    (status = 400, description = "A parameter is missing, invalid, unknown or repeated", body = Message),
))]
/// A key's results and statistics.
async fn history(State(s): State<AppState>, ctx: Ctx) -> Result<Response, ApiError> {
    let q = HistoryQuery::parse(&ctx.pairs)?;
    let data = s.service.history(q).await?;
    Ok(json_response(StatusCode::OK, &json!({ "data": data })))
}

#[utoipa::path(get, path = "/api/verdict/v1/flaky", tag = "insight", params(FlakyParams), responses(
    (status = 200, description = "Every key's state in the window, with its evidence", body = FlakyAnswer),
    (status = 400, description = "A parameter is invalid, unknown or repeated", body = Message),
))]
/// Flaky, broken and healthy keys.
async fn flaky(State(s): State<AppState>, ctx: Ctx) -> Result<Response, ApiError> {
    let q = FlakyQuery::parse(&ctx.pairs)?;
    Ok(json_response(StatusCode::OK, &s.service.flaky(q).await?))
}

#[utoipa::path(get, path = "/api/verdict/v1/results/{id}/similar", tag = "insight",
    params(("id" = String, Path, description = "The result id"), SimilarParams), responses(
    (status = 200, description = "Earlier results that failed the same way", body = SimilarAnswer),
    (status = 400, description = "A parameter is invalid, unknown or repeated", body = Message),
    (status = 404, description = "No such result", body = Message),
))]
/// Earlier results with the same failure signature.
async fn similar(State(s): State<AppState>, Path(id): Path<String>, ctx: Ctx) -> Result<Response, ApiError> {
    let q = SimilarQuery::parse(&ctx.pairs)?;
    let id: i64 = id.parse().map_err(|_| ServiceError::NotFound(format!("Result {id} not found")))?;
    Ok(json_response(StatusCode::OK, &s.service.similar(id, q).await?))
}

#[utoipa::path(get, path = "/api/verdict/v1/compare", tag = "insight", params(CompareParams), responses(
    (status = 200, description = "The keys of both sides, bucketed", body = CompareAnswer),
    (status = 400, description = "A side is missing, or a parameter is invalid, unknown or repeated", body = Message),
    (status = 404, description = "A side names nothing stored", body = Message),
))]
/// Base against head.
async fn compare(State(s): State<AppState>, ctx: Ctx) -> Result<Response, ApiError> {
    let q = CompareQuery::parse(&ctx.pairs)?;
    Ok(json_response(StatusCode::OK, &s.service.compare(q).await?))
}
