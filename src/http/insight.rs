//! Insight endpoints: `/api/verdict/v1/history` (a key's results and statistics),
//! `/api/verdict/v1/flaky` (every key's state in a window, with its evidence),
//! `/api/verdict/v1/compare` (base against head, bucketed) and
//! `/api/verdict/v1/results/{id}/similar` (earlier results that failed the same way). Parameters
//! are checked by `model::insight`; a bad one is a 400 naming it.

use super::AppState;
use super::error::ApiError;
use super::json_response;
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

async fn history(State(s): State<AppState>, ctx: Ctx) -> Result<Response, ApiError> {
    let q = HistoryQuery::parse(&ctx.pairs)?;
    let data = s.service.history(q).await?;
    Ok(json_response(StatusCode::OK, &json!({ "data": data })))
}

async fn flaky(State(s): State<AppState>, ctx: Ctx) -> Result<Response, ApiError> {
    let q = FlakyQuery::parse(&ctx.pairs)?;
    Ok(json_response(StatusCode::OK, &s.service.flaky(q).await?))
}

async fn similar(State(s): State<AppState>, Path(id): Path<String>, ctx: Ctx) -> Result<Response, ApiError> {
    let q = SimilarQuery::parse(&ctx.pairs)?;
    let id: i64 = id.parse().map_err(|_| ServiceError::NotFound(format!("Result {id} not found")))?;
    Ok(json_response(StatusCode::OK, &s.service.similar(id, q).await?))
}

async fn compare(State(s): State<AppState>, ctx: Ctx) -> Result<Response, ApiError> {
    let q = CompareQuery::parse(&ctx.pairs)?;
    Ok(json_response(StatusCode::OK, &s.service.compare(q).await?))
}
