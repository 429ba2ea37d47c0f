//! `GET /metrics` (Prometheus text format 0.0.4) and the middleware that counts every
//! request by its matched route template (never the raw path) and status, with latency.

use super::AppState;
use crate::service::metrics::CONTENT_TYPE;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::time::Instant;

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String),
))]
/// The metrics.
async fn metrics(State(s): State<AppState>) -> Response {
    let spool = s.spool.as_ref().and_then(|st| st.lock().ok().map(|g| g.clone()));
    let text = s.service.metrics_text(spool, s.replication.peers()).await;
    let mut resp = (StatusCode::OK, text).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

/// Records the request once its response head is ready.
pub async fn record(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let resp = next.run(req).await;
    s.service.metrics().request(
        method.as_str(),
        route.as_ref().map(MatchedPath::as_str),
        resp.status().as_u16(),
        started.elapsed(),
    );
    resp
}
