//! Consuming CI messages from an AMQP 0-9-1 broker (`serve --consume URL`): a durable
//! queue bound to topic patterns, manual acks, a prefetch window, reconnects with backoff.
//!
//! Exactly once: each delivery is stored through `Service::consume_message` (its results
//! and its message id in one transaction) and acknowledged only after that commit. A
//! redelivery — after a crash, a lost connection or an ack that never arrived — finds the
//! message id stored and is acknowledged without storing anything. A message that cannot
//! be mapped is republished to the dead-letter queue `<queue>.rejected` with the reason in
//! the `x-verdict-reason` header, in an AMQP transaction committed before the original is
//! acknowledged, so it is never lost (at worst dead-lettered twice).

use super::AmqpError;
use crate::service::consume::{BusMessage, ConsumeError};
use crate::service::{Service, redact};
use amqprs::channel::{
    BasicAckArguments, BasicConsumeArguments, BasicNackArguments, BasicPublishArguments, BasicQosArguments, Channel,
    ConsumerMessage, QueueBindArguments, QueueDeclareArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{BasicProperties, FieldTable, FieldValue};
use std::sync::Arc;
use std::time::Duration;

/// What to consume, from where.
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    pub url: String,
    /// The durable queue this server (or this group of servers) consumes from.
    pub queue: String,
    /// The topic exchange the queue is bound to.
    pub exchange: String,
    /// Topic patterns (`#.test.complete`, …).
    pub bindings: Vec<String>,
    /// Unacknowledged messages the broker may send ahead (the writer commits them as groups).
    pub prefetch: u16,
}

/// The topic patterns of the CI test events when none are given.
pub const DEFAULT_BINDINGS: [&str; 4] = ["#.test.queued", "#.test.running", "#.test.complete", "#.test.error"];

/// The dead-letter queue of `queue`.
pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.rejected")
}

/// Starts the consumer task; it runs until the server stops.
pub fn start(service: Service, opts: ConsumeOptions) -> Result<tokio::task::JoinHandle<()>, AmqpError> {
    let mut args = super::connection_args(&opts.url)?;
    args.connection_name(&format!("verdict consumer {}", opts.queue));
    service.consume_status().enable(
        redact::url(&opts.url),
        opts.queue.clone(),
        dead_letter_queue(&opts.queue),
        opts.bindings.clone(),
    );
    Ok(tokio::spawn(run(service, opts, args)))
}

async fn run(service: Service, opts: ConsumeOptions, args: OpenConnectionArguments) {
    let mut backoff = Duration::from_millis(500);
    loop {
        match consume(&service, &opts, &args, &mut backoff).await {
            Ok(()) => return,
            Err(e) => {
                let error = redact::scrub(&e.to_string(), &opts.url);
                tracing::warn!(broker = redact::url(&opts.url), %error, retry_in = ?backoff, "AMQP consumer");
                let status = service.consume_status();
                status.connected(false);
                status.error(error);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// The consuming side of one connection.
struct Session {
    service: Service,
    channel: Channel,
    /// A channel in transaction mode for dead-lettering (one refusal at a time).
    dead: Arc<tokio::sync::Mutex<Channel>>,
    dead_queue: String,
}

/// Connects, declares and consumes until the connection ends (`Err`) or the server stops.
async fn consume(
    service: &Service,
    opts: &ConsumeOptions,
    args: &OpenConnectionArguments,
    backoff: &mut Duration,
) -> Result<(), AmqpError> {
    let conn = Connection::open(args).await?;
    let channel = conn.open_channel(None).await?;
    let dead_queue = dead_letter_queue(&opts.queue);
    channel.queue_declare(QueueDeclareArguments::durable_client_named(&opts.queue)).await?;
    channel.queue_declare(QueueDeclareArguments::durable_client_named(&dead_queue)).await?;
    for pattern in &opts.bindings {
        channel.queue_bind(QueueBindArguments::new(&opts.queue, &opts.exchange, pattern)).await?;
    }
    channel.basic_qos(BasicQosArguments::new(0, opts.prefetch, false)).await?;
    let dead = conn.open_channel(None).await?;
    dead.tx_select().await?;
    let mut args = BasicConsumeArguments::new(&opts.queue, "");
    args.manual_ack(true);
    let (_tag, mut rx) = channel.basic_consume_rx(args).await?;
    tracing::info!(broker = redact::url(&opts.url), queue = %opts.queue, bindings = ?opts.bindings, "AMQP consumer connected");
    service.consume_status().connected(true);
    *backoff = Duration::from_millis(500);
    let session = Arc::new(Session {
        service: service.clone(),
        channel: channel.clone(),
        dead: Arc::new(tokio::sync::Mutex::new(dead)),
        dead_queue,
    });
    let mut committed = service.committed();
    let mut look = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            delivery = rx.recv() => match delivery {
                Some(m) => {
                    let session = session.clone();
                    tokio::spawn(async move { session.settle(m).await });
                }
                None => return Err(AmqpError::Closed("the broker closed the consumer".into())),
            },
            _ = look.tick() => {
                let passive = QueueDeclareArguments::new(&opts.queue).passive(true).finish();
                if let Some((_, backlog, _)) = channel.queue_declare(passive).await? {
                    service.consume_status().backlog(u64::from(backlog));
                }
            }
            changed = committed.changed() => {
                // The writer stopped: the server is shutting down.
                if changed.is_err() {
                    let _ = conn.close().await;
                    return Ok(());
                }
            }
        }
    }
}

impl Session {
    /// Stores (or refuses) one delivery, then settles it with the broker.
    async fn settle(&self, m: ConsumerMessage) {
        let Some(deliver) = m.deliver else { return };
        let props = m.basic_properties.unwrap_or_default();
        let msg = BusMessage {
            topic: deliver.routing_key().clone(),
            message_id: props.message_id().cloned(),
            body: m.content.unwrap_or_default(),
            sent_at: props.timestamp(),
        };
        let tag = deliver.delivery_tag();
        let status = self.service.consume_status();
        let outcome = match self.service.consume_message(&msg).await {
            Ok(done) => Ok(done),
            Err(ConsumeError::Rejected(reason)) => match self.dead_letter(&msg, &props, &reason).await {
                Ok(()) => Err(reason),
                Err(e) => return self.retry_later(tag, &format!("dead-lettering failed: {e}")).await,
            },
            Err(ConsumeError::Service(e)) => return self.retry_later(tag, &e.to_string()).await,
        };
        // After a lost connection the ack fails; the broker redelivers and the message id
        // finds the message stored.
        if let Err(e) = self.channel.basic_ack(BasicAckArguments::new(tag, false)).await {
            tracing::debug!(error = %e, "ack not sent");
        }
        status.settled(&msg, &outcome);
    }

    /// Republishes a refused message to the dead-letter queue with its reason, committed
    /// before the caller acknowledges the original.
    async fn dead_letter(&self, msg: &BusMessage, props: &BasicProperties, reason: &str) -> Result<(), AmqpError> {
        tracing::warn!(topic = %msg.topic, message_id = ?msg.message_id, %reason, "message refused: dead-lettered");
        let mut headers = props.headers().cloned().unwrap_or_default();
        insert(&mut headers, "x-verdict-reason", reason);
        insert(&mut headers, "x-verdict-topic", &msg.topic);
        let mut out = props.clone();
        out.with_headers(headers).with_persistence(true);
        let dead = self.dead.lock().await;
        dead.basic_publish(out, msg.body.clone(), BasicPublishArguments::new("", &self.dead_queue)).await?;
        dead.tx_commit().await?;
        Ok(())
    }

    /// Leaves a message the store could not take now on the queue, after a pause so a
    /// full disk is not a busy loop.
    async fn retry_later(&self, tag: u64, error: &str) {
        tracing::warn!(%error, "message not stored; returned to the queue");
        self.service.consume_status().error(error.to_owned());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _ = self.channel.basic_nack(BasicNackArguments::new(tag, false, true)).await;
    }
}

fn insert(table: &mut FieldTable, key: &str, value: &str) {
    // Header values are long strings; keep them readable in a management UI.
    let value: String = value.chars().take(4000).collect();
    if let Ok(k) = key.try_into() {
        table.insert(k, FieldValue::from(value));
    }
}
