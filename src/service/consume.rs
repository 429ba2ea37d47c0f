//! Messages from the bus (`serve --consume`, issue 15): a message is mapped to results
//! (`formats::ci_message`), which are stored together with an ingest record keyed by the
//! message's id in one transaction — so a redelivered or re-published message stores
//! nothing new — and a message that cannot be mapped is refused with a reason the adapter
//! dead-letters. The consumer's status lives here so `GET /api/verdict/v1/consume` reads it
//! through the service, whichever adapter feeds it.

use super::{Service, ServiceError};
use crate::formats::ci_message::{Mapped, map_message};
use crate::log::Body;
use crate::model::{IngestRecord, Timestamp, check_data_keys, check_result, uuid_for_file_result};
use crate::store::Written;
use serde::Serialize;
use std::sync::Mutex;

/// One message as the bus delivered it.
#[derive(Debug, Clone)]
pub struct BusMessage {
    /// The routing key (the CI event kind is in it).
    pub topic: String,
    /// The AMQP `message_id` property, when the publisher set one.
    pub message_id: Option<String>,
    pub body: Vec<u8>,
    /// When the publisher sent it (AMQP `timestamp`, seconds), for the lag.
    pub sent_at: Option<u64>,
}

/// What became of a message that was not refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumed {
    /// Its results are committed (`results` of them; 0 for a message that maps to none).
    Stored { results: usize },
    /// The same message was stored before: nothing new.
    Duplicate,
}

/// Why a message was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The message itself is bad: storing it again would fail again. Dead-letter it.
    #[error("{0}")]
    Rejected(String),
    /// The store could not take it now (disk full, shutting down): leave it on the queue.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// The identity a message is stored under: the AMQP message id, else the body's own id,
/// else the blake3 of topic and body (so a byte-identical re-publish is a duplicate).
pub fn message_id(msg: &BusMessage, mapped: &Mapped) -> String {
    msg.message_id.clone().filter(|s| !s.is_empty()).or_else(|| mapped.id.clone()).unwrap_or_else(|| {
        let mut h = blake3::Hasher::new();
        h.update(msg.topic.as_bytes()).update(b"\0").update(&msg.body);
        format!("blake3:{}", h.finalize().to_hex())
    })
}

/// The ingest key of a message id: never equal to a file's key (those hash file bytes).
fn message_key(id: &str) -> String {
    blake3::hash(format!("verdict bus message\0{id}").as_bytes()).to_hex().to_string()
}

impl Service {
    /// Maps one message and stores its results exactly once (see the module docs). The
    /// caller acknowledges the message only after this returns `Ok`.
    pub async fn consume_message(&self, msg: &BusMessage) -> Result<Consumed, ConsumeError> {
        let bodies = self.message_bodies(msg)?;
        let results = bodies.len() - 1;
        let written = self.inner.queue.write(bodies).await.map_err(ServiceError::from)?;
        Ok(match written.first() {
            Some(Written::Ingest { created: false }) => Consumed::Duplicate,
            _ => Consumed::Stored { results },
        })
    }

    /// The log bodies of a message: its ingest record first, then its results, with
    /// uuids fixed by the message id. Pure apart from the clock.
    pub fn message_bodies(&self, msg: &BusMessage) -> Result<Vec<Body>, ConsumeError> {
        message_bodies(self.config(), msg, Timestamp::now())
    }

    /// The bus consumer's status (all zero and `enabled: false` when there is none).
    pub fn consume_status(&self) -> &ConsumeStatus {
        &self.inner.consume
    }

    /// `GET /api/verdict/v1/consume`: the consumer's status with the periodic reconcile's.
    pub fn consume_report(&self) -> ConsumeReport {
        let mut report = self.inner.consume.report();
        report.reconcile = self.inner.reconcile.report();
        report
    }
}

/// [`Service::message_bodies`] under `config` at `now` (reconcile maps archived messages
/// with it without a running service: the same message gets the same ingest key).
pub fn message_bodies(config: &super::Config, msg: &BusMessage, now: Timestamp) -> Result<Vec<Body>, ConsumeError> {
    let body: serde_json::Value =
        serde_json::from_slice(&msg.body).map_err(|e| ConsumeError::Rejected(format!("the body is not JSON: {e}")))?;
    let mapped = map_message(&msg.topic, &body, &config.outcomes, &config.input_limits)
        .map_err(|e| ConsumeError::Rejected(e.to_string()))?;
    let id = message_id(msg, &mapped);
    let key = message_key(&id);
    let mut bodies = vec![Body::Ingest(IngestRecord {
        blake3: key.clone(),
        format: mapped.kind.to_owned(),
        name: format!("{}#{id}", msg.topic),
        results: mapped.results.len() as u64,
    })];
    for (index, mut r) in mapped.results.into_iter().enumerate() {
        // Where the result came from, for auditors (as `source_file` for files).
        r.data.insert("source_topic".into(), vec![msg.topic.clone()]);
        r.data.insert("source_message".into(), vec![id.clone()]);
        check_data_keys(r.data.keys()).map_err(|e| ConsumeError::Rejected(e.to_string()))?;
        let over = check_result(&r, &config.input_limits);
        if !over.is_empty() {
            let e = crate::model::ModelError::Validation(over);
            return Err(ConsumeError::Rejected(format!("result {index}: {e}")));
        }
        r.uuid = Some(uuid_for_file_result(&key, index as u64));
        bodies.push(Body::Result(super::resolve_result(r, None, now)));
    }
    Ok(bodies)
}

/// How many refused messages the status keeps (the dead-letter queue keeps them all).
const RECENT_REJECTIONS: usize = 20;

/// The consumer's counters and state, updated by the adapter.
#[derive(Debug, Default)]
pub struct ConsumeStatus {
    inner: Mutex<ConsumeReport>,
}

/// `GET /api/verdict/v1/consume`.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ConsumeReport {
    /// Whether this server consumes from a bus (`serve --consume`).
    pub enabled: bool,
    /// Whether it is connected and consuming now.
    pub connected: bool,
    /// The broker, without its password.
    pub broker: String,
    pub queue: String,
    /// Where refused messages go, with an `x-verdict-reason` header.
    pub dead_letter_queue: String,
    pub bindings: Vec<String>,
    /// Messages received and settled (stored, duplicate or rejected).
    pub consumed: u64,
    /// Messages whose results were stored now.
    pub stored: u64,
    /// Results those messages held.
    pub results: u64,
    /// Messages stored before (a redelivery or a re-publish): nothing new.
    pub duplicates: u64,
    /// Messages that could not be mapped, dead-lettered with their reason.
    pub rejected: u64,
    /// Connections made (more than one means it reconnected).
    pub connects: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// Messages waiting in the queue when last looked at.
    pub backlog: Option<u64>,
    /// Seconds between the newest consumed message's publishing and its commit.
    pub lag_seconds: Option<f64>,
    /// The last refused messages, newest last.
    pub recent_rejections: Vec<Rejection>,
    /// The periodic reconcile (`serve --reconcile-from`): what it found and stored.
    pub reconcile: super::reconcile::ReconcileState,
}

/// A refused message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rejection {
    pub at: String,
    pub topic: String,
    pub message_id: Option<String>,
    pub reason: String,
}

impl ConsumeStatus {
    fn with<T>(&self, f: impl FnOnce(&mut ConsumeReport) -> T) -> T {
        // A panic while holding the lock leaves counters, not invariants: keep going.
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Marks the consumer configured.
    pub fn enable(&self, broker: String, queue: String, dead_letter_queue: String, bindings: Vec<String>) {
        self.with(|r| {
            r.enabled = true;
            r.broker = broker;
            r.queue = queue;
            r.dead_letter_queue = dead_letter_queue;
            r.bindings = bindings;
        });
    }

    pub fn connected(&self, yes: bool) {
        self.with(|r| {
            r.connected = yes;
            r.connects += u64::from(yes);
        });
    }

    pub fn error(&self, e: String) {
        self.with(|r| {
            r.last_error = Some(e);
            r.last_error_at = Some(Timestamp::now().to_iso());
        });
    }

    pub fn backlog(&self, n: u64) {
        self.with(|r| r.backlog = Some(n));
    }

    /// Counts a settled message.
    pub fn settled(&self, msg: &BusMessage, outcome: &Result<Consumed, String>) {
        let lag = msg.sent_at.and_then(|t| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?;
            Some((now.as_secs_f64() - t as f64).max(0.0))
        });
        self.with(|r| {
            r.consumed += 1;
            match outcome {
                Ok(Consumed::Stored { results }) => {
                    r.stored += 1;
                    r.results += *results as u64;
                }
                Ok(Consumed::Duplicate) => r.duplicates += 1,
                Err(reason) => {
                    r.rejected += 1;
                    if r.recent_rejections.len() == RECENT_REJECTIONS {
                        r.recent_rejections.remove(0);
                    }
                    r.recent_rejections.push(Rejection {
                        at: Timestamp::now().to_iso(),
                        topic: msg.topic.clone(),
                        message_id: msg.message_id.clone(),
                        reason: reason.clone(),
                    });
                }
            }
            if lag.is_some() {
                r.lag_seconds = lag;
            }
        });
    }

    pub fn report(&self) -> ConsumeReport {
        self.with(|r| r.clone())
    }
}
