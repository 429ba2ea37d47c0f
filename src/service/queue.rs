//! Group commit: one writer thread owns the write connection and commits queued writes
//! together, then answers each request.
//!
//! A write is acknowledged only after its transaction is committed (fsync'd WAL), but
//! concurrent requests share one fsync: the thread takes everything queued (up to a cap),
//! commits it as one transaction, then replies to every caller. A caller's writes (a
//! "job") are never split across transactions, so a job is all or nothing.

use super::log_limit;
use super::metrics::Metrics;
use crate::log::Body;
use crate::store::{Prepared, SharedDict, StoreError, WriteStore, Written, transaction};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, watch};

/// Work that needs the writer to itself (a streamed file, an import page, a submit chunk).
type ExclusiveJob = Box<dyn FnOnce(&mut dyn WriteStore) + Send>;

/// A unit of work for the writer thread.
enum Job {
    /// Writes committed together with other queued jobs.
    /// `answers`: whether the caller wants the written records back (see `Writer::write_jobs`).
    Write { bodies: Vec<Prepared>, answers: bool, reply: oneshot::Sender<Result<Vec<Written>, StoreError>> },
    /// Runs alone with the writer (e.g. streaming a large file in its own transaction).
    Exclusive(ExclusiveJob),
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
    committed: watch::Receiver<i64>,
    /// Moves `committed` forward (the writer thread; a follower of other servers' commits).
    notify: Arc<watch::Sender<i64>>,
    /// Callers encode and compress their bodies on their own threads with it.
    dict: SharedDict,
}

/// A queued write not yet known to be committed (see [`WriteQueue::submit_blocking`]).
pub struct PendingWrite(oneshot::Receiver<Result<Vec<Written>, StoreError>>);

impl PendingWrite {
    /// Waits until the write is durably committed (or refused). For plain threads.
    pub fn wait(self) -> Result<Vec<Written>, QueueError> {
        Ok(self.0.blocking_recv().map_err(|_| QueueError::Stopped)??)
    }
}

/// Most writes committed in one transaction: bounds latency of a batch and memory.
pub const MAX_BATCH: usize = 2048;

impl WriteQueue {
    /// Starts the writer thread with a bounded queue of `capacity` requests; a full queue
    /// makes callers wait (backpressure) instead of growing memory.
    /// Every group commit is recorded in `metrics`.
    pub fn start(
        writer: Box<dyn WriteStore>,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(WriteQueue, JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (notify, committed) = watch::channel(writer.last_seq().unwrap_or(0));
        let notify = Arc::new(notify);
        let dict = writer.shared_dict();
        let thread_notify = notify.clone();
        let handle = std::thread::Builder::new()
            .name("verdict-writer".into())
            .spawn(move || run(writer, rx, &thread_notify, &metrics))?;
        Ok((WriteQueue { tx, committed, notify, dict }, handle))
    }

    /// What tells the queue of commits made by other processes on a shared store (they
    /// wake this server's event streams as its own commits do).
    pub fn follower(&self) -> Arc<dyn Fn(i64) + Send + Sync> {
        let notify = self.notify.clone();
        Arc::new(move |seq| advance(&notify, seq))
    }

    /// The newest committed log position, updated right after each commit (event streams
    /// wait on it).
    pub fn committed(&self) -> watch::Receiver<i64> {
        self.committed.clone()
    }

    /// Queues `bodies` and waits until they are durably committed.
    pub async fn write(&self, bodies: Vec<Body>) -> Result<Vec<Written>, QueueError> {
        let bodies = self.prepare(bodies);
        let (reply, answer) = oneshot::channel();
        self.tx.send(Job::Write { bodies, answers: true, reply }).await.map_err(|_| QueueError::Stopped)?;
        Ok(answer.await.map_err(|_| QueueError::Stopped)??)
    }

    /// Like [`WriteQueue::write`], for plain threads (never call it from async code), and
    /// without the written records: only an ingest's `created` flag comes back.
    pub fn write_blocking(&self, bodies: Vec<Body>) -> Result<Vec<Written>, QueueError> {
        self.submit_blocking(bodies)?.wait()
    }

    /// Queues `bodies` without waiting for the commit, so one thread can have many writes
    /// in flight (they share commits); [`PendingWrite::wait`] says when it is durable.
    pub fn submit_blocking(&self, bodies: Vec<Body>) -> Result<PendingWrite, QueueError> {
        let bodies = self.prepare(bodies);
        let (reply, answer) = oneshot::channel();
        self.tx.blocking_send(Job::Write { bodies, answers: false, reply }).map_err(|_| QueueError::Stopped)?;
        Ok(PendingWrite(answer))
    }

    /// Encodes and compresses bodies on the caller's thread, sparing the writer thread.
    fn prepare(&self, bodies: Vec<Body>) -> Vec<Prepared> {
        bodies.into_iter().map(|b| Prepared::new(b, &self.dict)).collect()
    }

    /// Runs `f` on the writer thread with the writer to itself, between batches; for plain
    /// threads. `f` manages its own transaction.
    pub(super) fn exclusive_blocking<R, F>(&self, f: F) -> Result<R, QueueError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn WriteStore) -> R + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Job::Exclusive(Box::new(move |w| {
            let _ = reply.send(f(w));
        }));
        self.tx.blocking_send(job).map_err(|_| QueueError::Stopped)?;
        answer.blocking_recv().map_err(|_| QueueError::Stopped)
    }
}

/// Moves the committed position forward to `seq` (never back: another server's
/// notification may arrive after this server's later commit).
fn advance(notify: &watch::Sender<i64>, seq: i64) {
    notify.send_if_modified(|last| {
        let newer = seq > *last;
        if newer {
            *last = seq;
        }
        newer
    });
}

fn run(mut writer: Box<dyn WriteStore>, mut rx: mpsc::Receiver<Job>, notify: &watch::Sender<i64>, metrics: &Metrics) {
    let mut next: Option<Job> = None;
    // Whether a fold round of new postings has pieces left (`WriteStore::tend_postings`):
    // after each job at least as many rows as it added are moved, and the rest while no
    // job waits.
    let mut folding = false;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match rx.try_recv() {
                Ok(job) => job,
                Err(mpsc::error::TryRecvError::Empty) if folding => {
                    folding = tend_postings(writer.as_mut());
                    continue;
                }
                Err(mpsc::error::TryRecvError::Empty) => match rx.blocking_recv() {
                    Some(job) => job,
                    None => break,
                },
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            },
        };
        match first {
            Job::Exclusive(f) => f(writer.as_mut()),
            Job::Write { bodies, answers, reply } => {
                // Where other servers write too: the requests arriving while this one
                // waits for its turn join its batch (the commit reports a failure).
                if let Err(e) = writer.await_turn() {
                    tracing::debug!(error = %e, "waiting for the turn to write failed");
                }
                let mut batch = vec![(bodies, answers, reply)];
                let mut queued = batch[0].0.len();
                while queued < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Job::Write { bodies, answers, reply }) => {
                            queued += bodies.len();
                            batch.push((bodies, answers, reply));
                        }
                        Ok(exclusive) => {
                            // Commit what is batched first; the exclusive job runs next.
                            next = Some(exclusive);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                commit(writer.as_mut(), batch, metrics);
            }
        }
        if let Ok(seq) = writer.last_seq() {
            advance(notify, seq);
        }
        if let Err(e) = writer.tend_wal()
            && let Some(r) = log_limit::allow("WAL restart failed")
        {
            tracing::warn!(error = %e, "WAL restart failed{r}");
        }
        folding = tend_postings(writer.as_mut());
    }
}

/// Moves one piece of new postings if a fold round is due; whether more are waiting. A
/// failure leaves the postings where they are (readers see both tables): logged, and the
/// round is tried again after the next job.
fn tend_postings(writer: &mut dyn WriteStore) -> bool {
    match writer.tend_postings() {
        Ok(more) => more,
        Err(e) => {
            if let Some(r) = log_limit::allow("folding new postings failed") {
                tracing::warn!(error = %e, "folding new postings failed{r}");
            }
            false
        }
    }
}

type Reply = oneshot::Sender<Result<Vec<Written>, StoreError>>;

/// Commits all jobs in one transaction. If that fails and there were several, each is
/// retried alone so one bad request cannot fail its neighbours.
fn commit(writer: &mut dyn WriteStore, batch: Vec<(Vec<Prepared>, bool, Reply)>, metrics: &Metrics) {
    let mut jobs = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for (bodies, answers, reply) in batch {
        jobs.push((bodies, answers));
        replies.push(reply);
    }
    let slices: Vec<(&[Prepared], bool)> = jobs.iter().map(|(b, a)| (b.as_slice(), *a)).collect();
    let started = Instant::now();
    let outcome = writer.write_jobs(&slices);
    match &outcome {
        Ok(_) => {
            let writes = slices.iter().map(|(b, _)| b.len()).sum();
            metrics.group_commit(slices.len(), writes, started.elapsed(), writer.last_commit_duration());
        }
        Err(_) => metrics.commit_failed(),
    }
    match outcome {
        Ok(answers) => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(Ok(answer));
            }
        }
        // Every job would fail the same way: answer them all at once (HTTP 507).
        Err(StoreError::DiskFull { path }) => {
            if let Some(r) = log_limit::allow("disk full") {
                let e = StoreError::DiskFull { path: path.clone() };
                tracing::error!(refused_writes = replies.len(), "{e}{r}");
            }
            for reply in replies {
                let _ = reply.send(Err(StoreError::DiskFull { path: path.clone() }));
            }
        }
        Err(e) if replies.len() == 1 => {
            if let Some(reply) = replies.pop() {
                let _ = reply.send(Err(e));
            }
        }
        Err(e) => {
            if let Some(r) = log_limit::allow("group commit failed") {
                tracing::warn!(error = %e, jobs = replies.len(), "group commit failed; retrying requests one by one{r}");
            }
            for (reply, (bodies, answers)) in replies.into_iter().zip(&jobs) {
                let started = Instant::now();
                let answer = transaction(writer, |w| w.write_job(bodies, *answers));
                if answer.is_ok() {
                    metrics.group_commit(1, bodies.len(), started.elapsed(), writer.last_commit_duration());
                }
                let _ = reply.send(answer);
            }
        }
    }
}
