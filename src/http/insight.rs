//! Insight endpoints: `/api/verdict/v1/history` (a key's results and statistics) and
//! `/api/verdict/v1/flaky` (every key's state in a window, with its evidence). Parameters
//! are checked by `model::insight`; a bad one is a 400 naming it.

use super::AppState;
use super::error::ApiError;
use super::json_response;
use super::request::Ctx;
use crate::model::{FlakyQuery, HistoryQuery};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/verdict/v1/history", get(history)).route("/api/verdict/v1/flaky", get(flaky))
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
