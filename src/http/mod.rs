//! The HTTP adapter: ResultsDB API v2.0 on axum, served with a header-read timeout and a
//! connection cap (axum has neither by default).

mod error;
mod events;
mod gating;
mod replication;
mod request;
mod routes;

pub use error::ApiError;
pub use request::prev_next;

use crate::service::Service;
use crate::service::ingest::SpoolStatus;
use crate::service::render::to_wire;
use crate::service::replication::ReplicationState;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service as _;

/// Limits of the HTTP server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Concurrent connections accepted; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Time allowed to send the request head (also closes idle keep-alive connections).
    pub header_timeout: Duration,
    /// Time allowed to send the request body.
    pub body_timeout: Duration,
    /// Largest request body accepted.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            max_body: 16 * 1024 * 1024,
        }
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub limits: Arc<Limits>,
    /// The spool's live status, when the server runs one.
    pub spool: Option<Arc<Mutex<SpoolStatus>>>,
    /// Peer token and the pull loops' status (replication).
    pub replication: Arc<ReplicationState>,
}

/// A JSON response in ResultsDB's wire format.
pub fn json_response<T: serde::Serialize + ?Sized>(status: StatusCode, v: &T) -> Response {
    let mut resp = (status, to_wire(v)).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// The application's routes.
pub fn router(service: Service, limits: Limits, spool: Option<Arc<Mutex<SpoolStatus>>>) -> Router {
    router_with_replication(service, limits, spool, Arc::new(ReplicationState::default()))
}

/// The application's routes, with the replication endpoints using `replication`.
pub fn router_with_replication(
    service: Service,
    limits: Limits,
    spool: Option<Arc<Mutex<SpoolStatus>>>,
    replication: Arc<ReplicationState>,
) -> Router {
    routes::router(AppState { service, limits: Arc::new(limits), spool, replication })
}

/// Serves `app` on `listener` until `shutdown` resolves: at most `max_connections`
/// connections at once, each closed if it does not send its request head within
/// `header_timeout`. Returns after in-flight connections finish (or 10 s pass).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            serve_connection(stream, peer, app, header_timeout).await;
        });
    }
    // Let in-flight requests finish: wait until every connection permit is back.
    let all = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(10), permits.acquire_many(all)).await;
    Ok(())
}

async fn serve_connection(stream: tokio::net::TcpStream, peer: SocketAddr, app: Router, header_timeout: Duration) {
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let mut app = app.clone();
        async move { app.call(req.map(axum::body::Body::new)).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
    if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
