//! Publishing new results and waivers to an AMQP 0-9-1 broker (`--amqp URL`), as the
//! upstream message-bus plugins do: topic `resultsdb.result.new` with the result exactly as
//! the API serialises it, and `waiverdb.waiver.new` with the waiver object.
//!
//! The publisher follows the log like an event-stream client: it keeps its position, so a
//! broker outage delays messages instead of losing them while the server runs (a restart
//! starts from the newest entry, as upstream). The message `type` property carries whether
//! the outcome changed (`result.changed`, `result.repeated`, `result.first`).

use crate::service::events::{Event, EventFilter};
use crate::service::redact;
use crate::service::render::{Urls, result_json, to_wire};
use crate::service::{Service, ServiceError};
use amqprs::BasicProperties;
use amqprs::channel::BasicPublishArguments;
use amqprs::connection::{Connection, OpenConnectionArguments};
use std::time::Duration;

pub mod consume;

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct AmqpOptions {
    /// `amqp://user:password@host:port/vhost`
    pub url: String,
    /// The exchange; upstream's fedora-messaging uses a topic exchange.
    pub exchange: String,
    /// The URL root for `href`s in message bodies.
    pub public_url: String,
}

/// Routing key of new-result messages.
pub const RESULT_TOPIC: &str = "resultsdb.result.new";

/// Routing key of new-waiver messages (body: the waiver as WaiverDB serialises it).
pub const WAIVER_TOPIC: &str = "waiverdb.waiver.new";

/// Routing keys of quarantine rules created and revoked (body: the rule as the API shows it).
pub const QUARANTINE_TOPIC: &str = "verdict.quarantine.new";
pub const QUARANTINE_REVOKED_TOPIC: &str = "verdict.quarantine.revoked";

/// Errors of the publisher.
#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    #[error("invalid AMQP URL: {0}")]
    Url(String),
    #[error("AMQP: {0}")]
    Broker(#[from] amqprs::error::Error),
    #[error("AMQP: {0}")]
    Closed(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Starts the publisher task; it runs until the server stops.
pub fn start(service: Service, opts: AmqpOptions) -> Result<tokio::task::JoinHandle<()>, AmqpError> {
    let args = connection_args(&opts.url)?;
    Ok(tokio::spawn(run(service, opts, args)))
}

/// The connection arguments of an `amqp://` URL; errors never show its password.
fn connection_args(url: &str) -> Result<OpenConnectionArguments, AmqpError> {
    let mut args = OpenConnectionArguments::try_from(url)
        .map_err(|e| AmqpError::Url(redact::scrub(&format!("{} ({e})", redact::url(url)), url)))?;
    // The AMQP URI spec percent-encodes the vhost (`/%2f` is "/"); the client takes it raw.
    if let Some(vhost) = vhost(url) {
        args.virtual_host(&vhost);
    }
    Ok(args)
}

/// The decoded vhost of an `amqp://…/vhost` URL, if it names one.
fn vhost(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.split_once('/')?.1;
    let path = path.split(['?', '#']).next().unwrap_or("");
    (!path.is_empty()).then(|| percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned())
}

async fn run(service: Service, opts: AmqpOptions, args: OpenConnectionArguments) {
    let mut after = *service.committed().borrow();
    let mut backoff = Duration::from_millis(500);
    loop {
        match publish_from(&service, &opts, &args, &mut after).await {
            Ok(()) => return,
            Err(e) => {
                // The broker's messages are not ours to trust with the URL's password.
                let error = redact::scrub(&e.to_string(), &opts.url);
                tracing::warn!(broker = redact::url(&opts.url), %error, retry_in = ?backoff, "AMQP publisher");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Connects and publishes every new result after `after`, advancing it as messages go
/// out. Returns `Ok` when the server shuts down, `Err` on a broker problem.
async fn publish_from(
    service: &Service,
    opts: &AmqpOptions,
    args: &OpenConnectionArguments,
    after: &mut i64,
) -> Result<(), AmqpError> {
    let conn = Connection::open(args).await?;
    let channel = conn.open_channel(None).await?;
    tracing::info!(broker = redact::url(&opts.url), exchange = %opts.exchange, "AMQP publisher connected");
    let urls = Urls::new(opts.public_url.clone());
    let mut committed = service.committed();
    loop {
        let from = *after;
        let (events, read_to) = service.events_after(from, EventFilter::default()).await?;
        for e in &events {
            let (topic, body, id, kind) = match e {
                Event::Result(r) => (
                    RESULT_TOPIC,
                    to_wire(&result_json(&r.result, &urls)),
                    &r.result.record.uuid,
                    r.change.event_name(),
                ),
                Event::Waiver(w) => (WAIVER_TOPIC, to_wire(&w.to_json()), &w.record.uuid, "waiver.new"),
                Event::Quarantine(q) => {
                    let topic = if q.record.revoked { QUARANTINE_REVOKED_TOPIC } else { QUARANTINE_TOPIC };
                    (topic, to_wire(&q.event_json()), &q.record.uuid, q.event_name())
                }
            };
            let props = BasicProperties::default()
                .with_content_type("application/json")
                .with_message_id(id)
                .with_message_type(kind)
                .finish();
            channel.basic_publish(props, body, BasicPublishArguments::new(&opts.exchange, topic)).await?;
            *after = e.seq();
        }
        *after = read_to;
        if read_to > from {
            continue;
        }
        if let Ok(Err(_)) = tokio::time::timeout(Duration::from_secs(1), committed.changed()).await {
            let _ = conn.close().await;
            return Ok(());
        }
    }
}
