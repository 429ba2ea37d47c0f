//! The HTTP adapter: ResultsDB API v2.0 on axum, served by our own loop (`server`) with
//! per-address and global connection caps, idle, header and write timeouts, a response
//! memory budget and graceful shutdown (axum's `serve` has none of these), over TLS
//! (`tls`) when given a certificate.

mod access;
mod conn;
mod decisions;
mod error;
mod events;
mod ingest;
mod insight;
mod metrics;
pub mod openapi;
pub mod pages;
mod quarantines;
mod replication;
mod request;
mod routes;
mod server;
pub mod tls;
mod waivers;

pub use access::log_request;
pub use error::ApiError;
pub use request::prev_next;
pub use server::{Shutdown, serve};
pub use tls::{TlsError, server_config as tls_config};

use crate::service::Service;
use crate::service::ingest::SpoolStatus;
use crate::service::render::to_wire;
use crate::service::replication::ReplicationState;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Limits of the HTTP server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections; at the cap a new one sheds the longest-idle connection, or
    /// waits in the listen backlog when every connection is busy.
    pub max_connections: usize,
    /// Open connections from one client address (0: only the global cap); over it a
    /// new one sheds that address's longest-idle connection, or is closed.
    pub max_connections_per_ip: usize,
    /// A connection with no request in flight and no traffic for this long is closed
    /// (a new one that sends nothing, a keep-alive one between requests).
    pub idle_timeout: Duration,
    /// Time allowed to send a whole request head, from when the server waits for it.
    pub header_timeout: Duration,
    /// Time allowed to send the request body.
    pub body_timeout: Duration,
    /// A response the client reads nothing of for this long closes the connection.
    pub write_timeout: Duration,
    /// Bytes of large (over 1 MiB) response bodies waiting to be sent; beyond it such
    /// requests get 503.
    pub max_response_memory: usize,
    /// How long shutdown waits for in-flight requests before dropping their connections.
    pub shutdown_timeout: Duration,
    /// Largest request body accepted.
    pub max_body: usize,
    /// Log one line per request (`--access-log`; ~3 µs of CPU per request, measured).
    pub access_log: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_connections_per_ip: 256,
            idle_timeout: Duration::from_secs(5),
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            max_response_memory: 256 << 20,
            shutdown_timeout: Duration::from_secs(5),
            max_body: 16 * 1024 * 1024,
            access_log: false,
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
    /// Event streams end when the server shuts down.
    pub shutdown: Shutdown,
}

/// A JSON response in ResultsDB's wire format.
pub fn json_response<T: serde::Serialize + ?Sized>(status: StatusCode, v: &T) -> Response {
    let mut resp = (status, to_wire(v)).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// The application's routes.
pub fn router(service: Service, limits: Limits, spool: Option<Arc<Mutex<SpoolStatus>>>) -> Router {
    router_with_replication(service, limits, spool, Arc::new(ReplicationState::default()), Shutdown::default())
}

/// The application's routes, with the replication endpoints using `replication`; event
/// streams end when `shutdown` begins.
pub fn router_with_replication(
    service: Service,
    limits: Limits,
    spool: Option<Arc<Mutex<SpoolStatus>>>,
    replication: Arc<ReplicationState>,
    shutdown: Shutdown,
) -> Router {
    let state = AppState { service, limits: Arc::new(limits), spool, replication, shutdown };
    let app = routes::router(state.clone()).layer(axum::middleware::from_fn_with_state(state.clone(), metrics::record));
    if state.limits.access_log {
        app.layer(axum::middleware::from_fn_with_state(state, access::access_log))
    } else {
        app
    }
}
