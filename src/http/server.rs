//! The server loop: accepts every connection at once (so silent sockets cannot fill the
//! listen backlog), admits it under the per-address and global caps (`conn`), serves it
//! with hyper under the idle, header and write timeouts (over TLS when configured, the
//! handshake held to the same timeouts), and shuts down gracefully.
//!
//! hyper_util's `GracefulShutdown` closes every connection at once; shedding one idle
//! connection under pressure needs a per-connection trigger anyway, so each connection
//! task waits on its own, and shutdown pulls them all.

use super::conn::{Admission, Chunked, ConnGuard, ConnState, Guarded, InFlight, Registry, Watched};
use super::request::OverTls;
use super::{ApiError, Limits};
use crate::service::ServiceError;
use axum::Router;
use axum::response::{IntoResponse, Response};
use hyper::body::Body as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::Service as _;

/// Response bodies up to this size are not counted against the response memory budget:
/// the connection caps already bound them (1024 × 256 KiB).
const LARGE_BODY: u64 = 256 << 10;

/// hyper's per-connection buffer size (its default is ~400 KiB): bounds what a
/// connection's write queue holds of a large response besides the budgeted body.
const CONN_BUFFER: usize = 64 << 10;

/// Tells the server, and the event streams it serves, that it is shutting down.
#[derive(Clone)]
pub struct Shutdown(Arc<watch::Sender<bool>>);

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown(Arc::new(watch::channel(false).0))
    }
}

impl Shutdown {
    /// Starts the shutdown: stop accepting, end event streams, drain connections.
    pub fn begin(&self) {
        self.0.send_replace(true);
    }

    /// Whether the shutdown has begun.
    pub fn is_begun(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the shutdown has begun.
    pub async fn begun(&self) {
        let mut rx = self.0.subscribe();
        // An error means the sender is gone, which cannot happen while `self` holds it.
        let _ = rx.wait_for(|closing| *closing).await;
    }
}

/// What every connection task needs.
struct ConnConfig {
    app: Router,
    idle_timeout: Duration,
    header_timeout: Duration,
    write_timeout: Duration,
    /// Large response bodies in flight, in KiB.
    memory: Arc<Semaphore>,
    memory_kib: u32,
    /// Set: every connection is TLS (`serve --tls-cert/--tls-key`).
    tls: Option<TlsAcceptor>,
}

/// Serves `app` on `listener` (HTTPS when `tls` is given) until `shutdown` begins; then
/// stops accepting, ends event streams, lets in-flight requests finish and closes idle
/// connections at once, and returns when every connection is closed or
/// `limits.shutdown_timeout` has passed (the rest are dropped).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let registry = Registry::new(limits.max_connections, limits.max_connections_per_ip);
    let memory_kib = u32::try_from(limits.max_response_memory.div_ceil(1024)).unwrap_or(u32::MAX).max(1);
    let cfg = Arc::new(ConnConfig {
        app,
        idle_timeout: limits.idle_timeout,
        header_timeout: limits.header_timeout,
        write_timeout: limits.write_timeout,
        memory: Arc::new(Semaphore::new(memory_kib as usize)),
        memory_kib,
        tls: tls.map(TlsAcceptor::from),
    });
    let mut tasks = JoinSet::new();
    loop {
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
            Some(_) = tasks.join_next() => continue,
            () = shutdown.begun() => break,
        };
        let guard = tokio::select! {
            g = admit(&registry, peer.ip()) => g,
            () = shutdown.begun() => break,
        };
        let Some(guard) = guard else {
            tracing::debug!(%peer, "connection refused: its address holds its cap of busy connections");
            continue; // dropping the stream closes it
        };
        let _ = stream.set_nodelay(true);
        tasks.spawn(serve_connection(stream, cfg.clone(), guard));
    }
    drop(listener);
    registry.shed_all();
    let drained =
        tokio::time::timeout(limits.shutdown_timeout, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(open = registry.open(), "connections still open after the shutdown timeout are dropped");
        tasks.shutdown().await;
    }
    Ok(())
}

/// Admits a connection from `ip`, waiting while every slot is busy; `None`: refuse it.
async fn admit(registry: &Arc<Registry>, ip: std::net::IpAddr) -> Option<ConnGuard> {
    loop {
        // Listen before asking, so a slot freed in between is not missed.
        let freed = registry.freed();
        let mut freed = std::pin::pin!(freed);
        freed.as_mut().enable();
        match registry.admit(ip) {
            Admission::Admit(g) => return Some(g),
            Admission::Refuse => return None,
            Admission::Wait => freed.await,
        }
    }
}

async fn serve_connection(stream: TcpStream, cfg: Arc<ConnConfig>, guard: ConnGuard) {
    let state = guard.state.clone();
    // Under TLS the socket is still the watched one: encrypted bytes count as activity and
    // the write timeout applies to them.
    let io = Watched::new(stream, state.clone(), cfg.write_timeout);
    match cfg.tls.clone() {
        None => serve_http(io, cfg, state, false).await,
        Some(acceptor) => {
            if let Some(tls) = handshake(&acceptor, io, &cfg, &state).await {
                serve_http(tls, cfg, state, true).await;
            }
        }
    }
    drop(guard);
}

/// The TLS handshake, held to a request head's bounds: all of it within the header
/// timeout, closed when the client sends nothing for the idle timeout, and closed when
/// the connection is shed (it is idle: no request is in flight) or the server shuts down.
/// `None`: the connection is to be closed.
async fn handshake<S>(
    acceptor: &TlsAcceptor,
    io: S,
    cfg: &ConnConfig,
    state: &ConnState,
) -> Option<tokio_rustls::server::TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let accept = tokio::time::timeout(cfg.header_timeout, acceptor.accept(io));
    let mut accept = std::pin::pin!(accept);
    loop {
        let check_in = state.idle_for().map_or(cfg.idle_timeout, |d| cfg.idle_timeout.saturating_sub(d));
        tokio::select! {
            done = accept.as_mut() => {
                return match done {
                    Ok(Ok(tls)) => Some(tls),
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %state.ip, error = %e, "TLS handshake failed");
                        None
                    }
                    Err(_) => {
                        tracing::debug!(peer = %state.ip, "TLS handshake not done within the header timeout");
                        None
                    }
                };
            }
            () = tokio::time::sleep(check_in) => {
                if state.idle_for().is_some_and(|d| d >= cfg.idle_timeout) {
                    tracing::debug!(peer = %state.ip, "TLS handshake idle for the idle timeout");
                    return None;
                }
            }
            () = state.shed.notified() => return None,
        }
    }
}

/// Serves HTTP/1.1 on one connection (`io`: the socket, or the TLS stream over it) until
/// the client closes it, it idles out, or it is shed.
async fn serve_http<I>(io: I, cfg: Arc<ConnConfig>, state: Arc<ConnState>, over_tls: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let service = {
        let (cfg, state) = (cfg.clone(), state.clone());
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            let in_flight = InFlight::enter(&state);
            let mut app = cfg.app.clone();
            let cfg = cfg.clone();
            if over_tls {
                // URLs in answers (hrefs, prev/next) say https.
                req.extensions_mut().insert(OverTls);
            }
            async move {
                let resp = app.call(req.map(axum::body::Body::new)).await?;
                let resp = reserve_memory(resp, &cfg).await;
                Ok::<_, Infallible>(resp.map(|b| Guarded::new(b, in_flight)))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(cfg.header_timeout).keep_alive(true).max_buf_size(CONN_BUFFER);
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut closing = false;
    loop {
        // Closed when nothing happened for the idle timeout and no request is in flight:
        // a new connection that sends nothing, or a keep-alive one between requests.
        let idle = state.idle_for();
        let check_in = idle.map_or(cfg.idle_timeout, |d| cfg.idle_timeout.saturating_sub(d));
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(peer = %state.ip, error = %e, "connection ended with an error");
                }
                break;
            }
            () = tokio::time::sleep(check_in), if !closing => {
                if state.idle_for().is_some_and(|d| d >= cfg.idle_timeout) {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
            () = state.shed.notified(), if !closing => {
                // Shed under pressure, or the server shuts down: finish what is in flight.
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// Large response bodies take their size from the response memory budget until hyper
/// has taken them; when it is spent the request gets 503 instead, so clients that do not
/// read cannot make the server hold more than the budget.
async fn reserve_memory(resp: Response, cfg: &ConnConfig) -> Response {
    let size = resp.body().size_hint().exact().unwrap_or(0);
    if size <= LARGE_BODY {
        return resp;
    }
    // A body larger than the whole budget takes all of it.
    let kib = u32::try_from(size.div_ceil(1024)).unwrap_or(u32::MAX).min(cfg.memory_kib);
    let Ok(permit) = cfg.memory.clone().try_acquire_many_owned(kib) else {
        return ApiError::Busy.into_response();
    };
    let (parts, body) = resp.into_parts();
    // Rendered bodies are complete already: collecting takes the bytes without waiting.
    match http_body_util::BodyExt::collect(body).await {
        Ok(collected) => Response::from_parts(parts, axum::body::Body::new(Chunked::new(collected.to_bytes(), permit))),
        Err(e) => ApiError::Service(ServiceError::Unavailable(format!("response body failed: {e}"))).into_response(),
    }
}
