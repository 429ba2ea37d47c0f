//! Group commit: one writer thread owns the write connection and commits queued writes
//! together, then answers each request.
//!
//! A write is acknowledged only after its transaction is committed (fsync'd WAL), but
//! concurrent requests share one fsync: the thread takes everything queued (up to a cap),
//! commits it as one transaction, then replies to every caller.

use crate::log::Body;
use crate::store::{StoreError, Writer, Written};
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};

/// One caller's writes and where to send the answer.
struct Job {
    bodies: Vec<Body>,
    reply: oneshot::Sender<Result<Vec<Written>, StoreError>>,
}

/// Why a queued write got no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the writer has stopped")]
    Stopped,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Handle to the writer thread; cheap to clone. Dropping every handle stops the thread
/// after it has committed what was queued.
#[derive(Clone)]
pub struct WriteQueue {
    tx: mpsc::Sender<Job>,
}

/// Most writes committed in one transaction: bounds latency of a batch and memory.
pub const MAX_BATCH: usize = 2048;

impl WriteQueue {
    /// Starts the writer thread with a bounded queue of `capacity` requests; a full queue
    /// makes callers wait (backpressure) instead of growing memory.
    pub fn start(writer: Writer, capacity: usize) -> std::io::Result<(WriteQueue, JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let handle = std::thread::Builder::new().name("verdict-writer".into()).spawn(move || run(writer, rx))?;
        Ok((WriteQueue { tx }, handle))
    }

    /// Queues `bodies` and waits until they are durably committed.
    pub async fn write(&self, bodies: Vec<Body>) -> Result<Vec<Written>, QueueError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Job { bodies, reply }).await.map_err(|_| QueueError::Stopped)?;
        Ok(answer.await.map_err(|_| QueueError::Stopped)??)
    }
}

fn run(mut writer: Writer, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        let mut queued = jobs[0].bodies.len();
        while queued < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => {
                    queued += job.bodies.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        commit(&mut writer, jobs);
        if let Err(e) = writer.tend_wal() {
            tracing::warn!(error = %e, "WAL restart failed");
        }
    }
}

/// Commits all jobs in one transaction. If that fails and there were several, each is
/// retried alone so one bad request cannot fail its neighbours.
fn commit(writer: &mut Writer, jobs: Vec<Job>) {
    let mut all = Vec::new();
    let mut spans = Vec::with_capacity(jobs.len());
    let mut replies = Vec::with_capacity(jobs.len());
    for job in jobs {
        let start = all.len();
        all.extend(job.bodies);
        spans.push(start..all.len());
        replies.push(job.reply);
    }
    match writer.write_local(&all) {
        Ok(mut written) => {
            // Hand each caller its slice, last first so indices stay valid.
            let mut answers: Vec<Vec<Written>> = spans.iter().rev().map(|s| written.split_off(s.start)).collect();
            answers.reverse();
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(Ok(answer));
            }
        }
        Err(e) if replies.len() == 1 => {
            if let Some(reply) = replies.pop() {
                let _ = reply.send(Err(e));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, jobs = replies.len(), "group commit failed; retrying requests one by one");
            for (reply, span) in replies.into_iter().zip(spans) {
                let _ = reply.send(writer.write_local(&all[span]));
            }
        }
    }
}
