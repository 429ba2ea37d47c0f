//! The access log: one line per request — method, path, status, response bytes, duration
//! and the caller's identity (a user name; never a token or password) — under the
//! `verdict::access` target, so `VERDICT_LOG=info,verdict::access=off` turns it off.

use super::AppState;
use crate::service::auth::Credentials;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// Logs the request once its response head is ready.
pub async fn access_log(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let user = identity(&s, req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    let resp = next.run(req).await;
    // The body's exact size when it is known up front (every buffered answer); streams
    // (events, change streams) log "-".
    let bytes = match axum::body::HttpBody::size_hint(resp.body()).exact() {
        Some(n) => n.to_string(),
        None => resp.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned(),
    };
    log_request(method.as_str(), &path, resp.status().as_u16(), &bytes, started.elapsed().as_micros() as u64, &user);
    resp
}

/// Writes one access line (public for `benches/access_log.rs`, which measures its cost).
pub fn log_request(method: &str, path: &str, status: u16, bytes: &str, micros: u64, user: &str) {
    tracing::info!(target: "verdict::access", %method, path, status, bytes, micros, user);
}

/// The caller's user name as the server knows it: a Basic user name, or the user a
/// bearer token belongs to; "-" for none (or an unknown token).
fn identity(s: &AppState, authorization: Option<&str>) -> String {
    let Some(value) = authorization else { return "-".to_owned() };
    match Credentials::from_header(Some(value)) {
        Credentials::None => "-".to_owned(),
        Credentials::Basic { user, .. } => user,
        creds @ Credentials::Bearer(_) => match s.service.config().auth.authenticate(&creds) {
            Ok(Some(who)) => who.name,
            _ => "-".to_owned(),
        },
    }
}
