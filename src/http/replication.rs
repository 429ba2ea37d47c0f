//! Replication endpoints: the change stream peers pull (`/api/verdict/v1/changes`), chain
//! hashes for `verdict audit` (`/hashes`), and the replication status (`/replication`).
//!
//! `changes` and `hashes` demand `Authorization: Bearer <token>` when the server has a
//! peer token; the status carries no secrets and is open.

use super::AppState;
use super::error::ApiError;
use super::json_response;
use super::openapi::params::{ChangesParams, HashesParams};
use super::openapi::schemas::{Hashes, Message, ReplicationStatus};
use super::request::Ctx;
use crate::log::stream::{is_origin, parse_vv};
use crate::model::ModelError;
use crate::service::ServiceError;
use crate::service::replication::vv_of;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use http_body_util::channel::{Channel, Sender};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// Entries per `changes` response unless `limit` says otherwise, and the most allowed.
pub const DEFAULT_LIMIT: u64 = 10_000;
pub const MAX_LIMIT: u64 = 200_000;
/// Longest long-poll (`wait`) in seconds, and how often a waiting request looks for news.
const MAX_WAIT: u64 = 30;
const POLL: Duration = Duration::from_millis(20);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/verdict/v1/changes", get(changes))
        .route("/api/verdict/v1/hashes", get(hashes))
        .route("/api/verdict/v1/replication", get(status))
}

fn param<'a>(ctx: &'a Ctx, name: &str) -> Option<&'a str> {
    ctx.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn bad(msg: String) -> ApiError {
    ApiError::from(ModelError::BadRequest(msg))
}

fn number(ctx: &Ctx, name: &str, default: u64, max: u64) -> Result<u64, ApiError> {
    match param(ctx, name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(bad(format!("{name} must be an integer from 0 to {max}"))),
        },
    }
}

fn authorize(s: &AppState, ctx: &Ctx) -> Result<(), ApiError> {
    let given = ctx.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if s.replication.authorized(given) { Ok(()) } else { Err(ApiError::Unauthorized) }
}

/// `GET /api/verdict/v1/changes?since=ORIGIN:SEQ,…&limit=N&wait=S&max_bytes=B`: the change
/// stream of what the caller lacks (JSON Lines; zstd with `Accept-Encoding: zstd`), at most
/// N entries and B bytes before compression (at least one entry). With `wait`, a caller
/// that lacks nothing is answered when something arrives or after S seconds.
#[utoipa::path(get, path = "/api/verdict/v1/changes", tag = "replication",
    params(ChangesParams, ("Accept-Encoding" = Option<String>, Header, description = "`zstd` compresses the stream")),
    security((), ("bearer" = [])), responses(
    (status = 200, description = "The change stream (header line, entries, digest trailer)", content_type = "application/jsonl", body = String),
    (status = 400, description = "A parameter is invalid", body = Message),
    (status = 401, description = "The server's peer token is missing or wrong", body = Message),
))]
async fn changes(State(s): State<AppState>, ctx: Ctx) -> Result<Response, ApiError> {
    authorize(&s, &ctx)?;
    let since = parse_vv(param(&ctx, "since").unwrap_or("")).map_err(|e| bad(e.to_string()))?;
    let limit = number(&ctx, "limit", DEFAULT_LIMIT, MAX_LIMIT)?.max(1);
    let wait = number(&ctx, "wait", 0, MAX_WAIT)?;
    let max_bytes = number(&ctx, "max_bytes", u64::MAX, u64::MAX)?;
    let zstd = ctx
        .headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().split(';').next() == Some("zstd")));
    let deadline = Instant::now() + Duration::from_secs(wait);
    while wait > 0 && !s.service.reads().has_news(&since)? && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
    }
    let (tx, body) = Channel::<Bytes, std::io::Error>::new(4);
    let service = s.service.clone();
    // Produced on the blocking pool: it reads the store and blocks on the channel.
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let write = |sink: ChannelWriter| -> Result<ChannelWriter, ServiceError> {
            let reads = service.reads();
            if zstd {
                let enc = zstd::stream::Encoder::new(sink, 1).map_err(unavailable)?;
                let (enc, _) = reads.write_changes(&since, limit, max_bytes, enc)?;
                enc.finish().map_err(unavailable)
            } else {
                Ok(reads.write_changes(&since, limit, max_bytes, sink)?.0)
            }
        };
        let sink = ChannelWriter { tx: Some(tx), buf: Vec::with_capacity(CHUNK_BYTES), handle };
        if let Err(e) = write(sink).and_then(|done| done.close().map_err(unavailable)) {
            tracing::warn!(error = %e, "change stream aborted");
        }
    });
    let mut resp = Response::new(Body::new(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/jsonl"));
    if zstd {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("zstd"));
    }
    Ok(resp)
}

fn unavailable(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Unavailable(e.to_string())
}

/// Bytes collected before a chunk is handed to the connection.
const CHUNK_BYTES: usize = 256 * 1024;

/// A blocking `Write` into a response body channel (used on a blocking-pool thread).
struct ChannelWriter {
    tx: Option<Sender<Bytes, std::io::Error>>,
    buf: Vec<u8>,
    handle: tokio::runtime::Handle,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES)));
        let tx = self.tx.as_mut().ok_or_else(|| std::io::Error::other("stream closed"))?;
        self.handle
            .block_on(tx.send_data(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }

    /// Sends what is buffered and ends the body.
    fn close(mut self) -> std::io::Result<()> {
        self.send()?;
        self.tx = None;
        Ok(())
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        // Dropped before `close` (an error): abort so the client sees a broken body, not a
        // short one that looks complete.
        if let Some(tx) = self.tx.take() {
            tx.abort(std::io::Error::other("change stream failed"));
        }
    }
}

/// `GET /api/verdict/v1/hashes?origin=O&seqs=1,5,9`: this node's chain hashes of origin O
/// at those positions (positions it does not hold are left out; at most 1,000), and the
/// stretches of O it pruned (`pruned`: `[from, to]` pairs).
#[utoipa::path(get, path = "/api/verdict/v1/hashes", tag = "replication", params(HashesParams),
    security((), ("bearer" = [])), responses(
    (status = 200, description = "The chain hashes held", body = Hashes),
    (status = 400, description = "A parameter is invalid", body = Message),
    (status = 401, description = "The server's peer token is missing or wrong", body = Message),
))]
async fn hashes(State(s): State<AppState>, ctx: Ctx) -> Result<Response, ApiError> {
    authorize(&s, &ctx)?;
    let origin =
        param(&ctx, "origin").filter(|o| is_origin(o)).ok_or_else(|| bad("origin must be a node id".into()))?;
    let seqs: Vec<u64> = param(&ctx, "seqs")
        .unwrap_or("")
        .split(',')
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.trim().parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("seqs must be a comma list of integers".into()))?;
    if seqs.len() > 1000 {
        return Err(bad("at most 1000 seqs".into()));
    }
    let origin = origin.to_owned();
    let service = s.service.clone();
    let o = origin.clone();
    let (found, gaps) = tokio::task::spawn_blocking(move || {
        let reads = service.reads();
        Ok::<_, crate::service::ServiceError>((reads.hashes(&o, &seqs)?, reads.gaps(&o)?))
    })
    .await
    .map_err(unavailable)??;
    let found: BTreeMap<String, String> = found.into_iter().map(|(seq, h)| (seq.to_string(), h.to_hex())).collect();
    // Pruned stretches (positions whose hashes are gone but for each end's): an auditor
    // tells them from entries this node lacks.
    let pruned: Vec<[u64; 2]> = gaps.iter().map(|g| [g.from, g.to]).collect();
    Ok(json_response(StatusCode::OK, &json!({"origin": origin, "hashes": found, "pruned": pruned})))
}

/// `GET /api/verdict/v1/replication`: node id, version vector (with head hashes) and the
/// status of every peer this server pulls from.
#[utoipa::path(get, path = "/api/verdict/v1/replication", tag = "replication",
    responses((status = 200, description = "This node, its heads and its peers", body = ReplicationStatus)))]
async fn status(State(s): State<AppState>) -> Result<Response, ApiError> {
    let reads = s.service.reads();
    let (heads, conflicts) = (reads.heads()?, reads.conflicts(0)?.count);
    let head_map: BTreeMap<String, serde_json::Value> = heads
        .iter()
        .filter(|h| h.seq > 0)
        .map(|h| (h.origin.clone(), json!({"seq": h.seq, "hash": h.hash.to_hex()})))
        .collect();
    let body = json!({
        "node": s.service.node_id(),
        "version_vector": vv_of(&heads),
        "heads": head_map,
        "peers": s.replication.peers(),
        "token_required": s.replication.token.is_some(),
        // uuids under which two origins stored different results (both are kept and listed).
        "conflicts": conflicts,
    });
    Ok(json_response(StatusCode::OK, &body))
}
