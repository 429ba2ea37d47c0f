//! `verdict submit`: a ResultsDB JSON input stored exactly once, in bounded transactions.
//!
//! [`check`] reads the whole input first, validating every record and hashing the bytes,
//! and writes nothing: one bad record stores nothing. [`submit`] then writes the results in
//! chunks of about [`CHUNK_TIME`] of work each, so another writer on the same store (a
//! running server) gets the write lock between chunks instead of waiting for the whole
//! input. The input is exactly once across chunks: each result's uuid derives from the
//! input's hash and the record's position, and the last chunk records the input's key in an
//! `ingest` log entry, as spooled files are. A rerun after a kill skips the results already
//! stored and stores the rest; a rerun after completion finds the key and stores nothing.
//!
//! Each chunk is one exclusive job on the service's write queue (the one write path), so
//! in a server its own writes would commit between chunks too.

use super::{QueueError, Service, WriteQueue, resolve_result};
use crate::formats::resultsdb_json::{JsonInputError, for_each_record};
use crate::log::Body;
use crate::model::{
    IngestRecord, InputLimits, ModelError, MonotonicClock, Outcomes, parse_create_result, uuid_for_file_result,
};
use crate::store::{Prepared, SharedDict, StoreError, WriteStore, transaction};
use std::io::{BufReader, Read, Write};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

/// Work per transaction. A server's POSTs wait at most about this long for the lock; it
/// is long enough that the commit's fsync and the pages it rewrites cost little
/// (measured in BENCHMARKS.md, "submit beside a server").
pub const CHUNK_TIME: Duration = Duration::from_millis(200);

/// Pause after each commit, so a writer waiting for the lock (it retries every
/// millisecond) takes it before the next chunk does.
pub const YIELD: Duration = Duration::from_millis(2);

/// Results handed from the parsing thread to the writing one at a time.
const BATCH: usize = 256;

/// The `format` of the `ingest` entry a submitted input is recorded with.
pub const FORMAT: &str = "submit";

/// Why a submit failed.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The input is not valid JSON, or a record is not a valid result (nothing stored).
    #[error(transparent)]
    Input(#[from] JsonInputError<ModelError>),
    /// The input's bytes differ from what [`check`] read (a file rewritten meanwhile).
    #[error("the input changed while it was being stored")]
    Changed,
    /// The parsing thread ended without a word (it panicked).
    #[error("reading the input stopped unexpectedly")]
    Interrupted,
    #[error("cannot start the parsing thread: {0}")]
    Thread(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The service's writer thread is gone (it panicked).
    #[error("the writer has stopped")]
    WriterStopped,
    /// The test hook `stop_after_chunks` ended the run as a kill would.
    #[error("stopped after {0} chunk(s), as asked")]
    Stopped(usize),
}

impl From<QueueError> for SubmitError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Stopped => SubmitError::WriterStopped,
            QueueError::Store(e) => SubmitError::Store(e),
        }
    }
}

/// What [`check`] found: the input's blake3 and how many records it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub blake3: blake3::Hash,
    pub records: usize,
}

/// Validates every record of `input` and hashes its bytes, writing nothing to any store;
/// `copy` receives the bytes read (standard input is kept this way for the second pass).
pub fn check(
    input: impl Read,
    copy: Option<&mut dyn Write>,
    outcomes: &Outcomes,
    limits: &InputLimits,
) -> Result<Checked, SubmitError> {
    let mut tee = Tee { inner: input, hasher: blake3::Hasher::new(), copy };
    let records = for_each_record(BufReader::with_capacity(1 << 20, &mut tee), |_, value| {
        parse_create_result(&value, outcomes, limits).map(drop)
    })?;
    tee.drain().map_err(JsonInputError::Io)?;
    Ok(Checked { blake3: tee.hasher.finalize(), records })
}

/// Settings of one submit.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    pub outcomes: Outcomes,
    /// Size caps every record must fit in (as for `POST /results`).
    pub limits: InputLimits,
    /// Recorded with the input's hash (the path given, or `-`).
    pub name: String,
    /// Store another copy even if this input is already stored.
    pub again: bool,
    pub chunk_time: Duration,
    /// At most this many results per transaction (tests use small chunks).
    pub chunk_results: usize,
    /// Test hook: stop, without recording the input, after committing this many chunks.
    pub stop_after_chunks: Option<usize>,
}

impl SubmitOptions {
    pub fn new(outcomes: Outcomes, limits: InputLimits, name: String, again: bool) -> SubmitOptions {
        SubmitOptions {
            outcomes,
            limits,
            name,
            again,
            chunk_time: CHUNK_TIME,
            chunk_results: usize::MAX,
            stop_after_chunks: None,
        }
    }
}

/// What a submit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// The input's hash was recorded already: nothing stored.
    AlreadyStored,
    /// Stored as copy `copy` (0 for the input itself, then one per `--again`).
    Stored(Tally),
}

/// Counts of a completed submit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tally {
    pub copy: u64,
    /// Results written now.
    pub stored: u64,
    /// Results whose uuid was stored before (an interrupted run's, or a record's own uuid).
    pub skipped: u64,
    pub chunks: usize,
}

/// The key a copy of an input is recorded under: copy 0 is the input itself, each
/// `--again` stores the next copy with its own result uuids. It is not the plain content
/// hash, so a file `submit` stored and the same file spooled or `ingest`ed (validated and
/// annotated differently) do not pass for each other.
pub fn key(blake3: &blake3::Hash, copy: u64) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"verdict submit v1\0");
    h.update(blake3.as_bytes());
    h.update(&copy.to_be_bytes());
    h.finalize().to_hex().to_string()
}

impl Service {
    /// Stores the results of `input` (the bytes [`check`] accepted) exactly once; see the
    /// module documentation. Results already stored by an interrupted run are skipped.
    /// Waits on the write queue: for plain threads, never from async code.
    pub fn submit_input(
        &self,
        input: impl Read + Send,
        checked: &Checked,
        opts: &SubmitOptions,
    ) -> Result<Submitted, SubmitError> {
        let queue = &self.inner.queue;
        let (blake3, again) = (checked.blake3, opts.again);
        let (copy, dict) = queue
            .exclusive_blocking(move |w| Ok::<_, StoreError>((copy_to_store(w, &blake3, again)?, w.shared_dict())))??;
        let Some(copy) = copy else {
            return Ok(Submitted::AlreadyStored);
        };
        let job = Arc::new(Job { key: key(&checked.blake3, copy), checked: checked.clone(), opts: opts.clone(), dict });
        let (tx, rx) = sync_channel(16);
        let tally = std::thread::scope(|s| {
            let parser = job.clone();
            std::thread::Builder::new()
                .name("verdict-parse".into())
                .spawn_scoped(s, move || parser.parse(input, tx))
                .map_err(SubmitError::Thread)?;
            // Returning drops the receiver, which ends a parser blocked on a full channel
            // when writing stopped early; the scope waits for it.
            job.write(queue, rx)
        })?;
        Ok(Submitted::Stored(Tally { copy, ..tally }))
    }
}

/// The copy to store: the input itself unless it is recorded; with `again`, the first
/// copy not recorded (an interrupted copy is finished before a new one starts).
fn copy_to_store(w: &dyn WriteStore, blake3: &blake3::Hash, again: bool) -> Result<Option<u64>, StoreError> {
    let mut copy = 0;
    while w.is_ingested(&key(blake3, copy))? {
        if !again {
            return Ok(None);
        }
        copy += 1;
    }
    Ok(Some(copy))
}

/// What the parsing thread hands to the writing one.
enum Msg {
    Batch(Vec<Prepared>),
    /// The input ended: its hash and record count, or why parsing stopped.
    End(Result<Checked, SubmitError>),
}

/// One submit's parsing and writing halves; shared by the parsing thread and the chunk
/// jobs on the writer thread.
struct Job {
    key: String,
    checked: Checked,
    opts: SubmitOptions,
    dict: SharedDict,
}

/// What the writing half carries from one chunk job to the next (each job owns it while
/// it runs on the writer thread).
struct Chunking {
    rx: Receiver<Msg>,
    tally: Tally,
    /// Until the first result not stored yet, results may be an interrupted run's.
    resuming: bool,
}

impl Job {
    /// On its own thread: parses, resolves and encodes the results (the writer only
    /// writes them), hashing the bytes again to prove they are the ones checked.
    fn parse(&self, input: impl Read, tx: SyncSender<Msg>) {
        let mut tee = Tee { inner: input, hasher: blake3::Hasher::new(), copy: None };
        let clock = MonotonicClock::new();
        // Batches no larger than a chunk, so a chunk of n results is exactly n.
        let size = self.opts.chunk_results.clamp(1, BATCH);
        let mut batch = Vec::with_capacity(size);
        let parsed = for_each_record(BufReader::with_capacity(1 << 20, &mut tee), |index, value| {
            let mut input =
                parse_create_result(&value, &self.opts.outcomes, &self.opts.limits).map_err(ParseStop::Invalid)?;
            if input.uuid.is_none() {
                input.uuid = Some(uuid_for_file_result(&self.key, index as u64));
            }
            // Results without a submit_time get the time they are read, strictly
            // increasing so the input's order is kept (ties would blur `latest`).
            batch.push(Prepared::new(Body::Result(resolve_result(input, None, clock.next())), &self.dict));
            if batch.len() == size && tx.send(Msg::Batch(std::mem::take(&mut batch))).is_err() {
                return Err(ParseStop::WriterGone);
            }
            Ok(())
        });
        let end = parsed
            .map_err(stopped)
            .and_then(|records| tee.drain().map(|()| records).map_err(|e| JsonInputError::Io(e).into()))
            .map(|records| Checked { blake3: tee.hasher.finalize(), records });
        if !batch.is_empty() {
            let _ = tx.send(Msg::Batch(batch));
        }
        let _ = tx.send(Msg::End(end));
    }

    /// Writes what the parser hands over in transactions of about `chunk_time` each, one
    /// exclusive job on the writer thread per transaction; the last one also records the
    /// input. The writer thread restarts a grown WAL after each job, as after any write.
    fn write(self: &Arc<Self>, queue: &WriteQueue, rx: Receiver<Msg>) -> Result<Tally, SubmitError> {
        let mut state = Chunking { rx, tally: Tally::default(), resuming: true };
        loop {
            let job = Arc::clone(self);
            let (back, done) = queue.exclusive_blocking(move |w| {
                let mut s = state;
                let done = transaction(w, |w| job.chunk(w, &s.rx, &mut s.tally, &mut s.resuming));
                (s, done)
            })?;
            state = back;
            let done = done?;
            state.tally.chunks += 1;
            if done {
                return Ok(state.tally);
            }
            if self.opts.stop_after_chunks == Some(state.tally.chunks) {
                return Err(SubmitError::Stopped(state.tally.chunks));
            }
            // Lets another writer on the same store (a server, waiting for the lock) in.
            std::thread::sleep(YIELD);
        }
    }

    /// Inside a transaction: appends results until the chunk is full (false) or the input
    /// ends (true, after recording it).
    fn chunk(
        &self,
        w: &mut dyn WriteStore,
        rx: &Receiver<Msg>,
        tally: &mut Tally,
        resuming: &mut bool,
    ) -> Result<bool, SubmitError> {
        let started = Instant::now();
        let mut results = 0;
        loop {
            let left = self.opts.chunk_time.saturating_sub(started.elapsed());
            if left.is_zero() || results >= self.opts.chunk_results {
                return Ok(false);
            }
            let batch = match rx.recv_timeout(left) {
                Ok(Msg::Batch(batch)) => batch,
                Ok(Msg::End(end)) => {
                    let end = end?;
                    if end != self.checked {
                        return Err(SubmitError::Changed);
                    }
                    self.record(w)?;
                    return Ok(true);
                }
                Err(RecvTimeoutError::Timeout) => return Ok(false),
                Err(RecvTimeoutError::Disconnected) => return Err(SubmitError::Interrupted),
            };
            w.expect(&mut batch.iter().map(|p| &p.body))?;
            for p in &batch {
                results += 1;
                let Body::Result(r) = &p.body else { continue };
                if *resuming {
                    if w.has_result(&r.uuid)? {
                        tally.skipped += 1;
                        continue;
                    }
                    *resuming = false;
                }
                if w.append_prepared(p)? {
                    tally.stored += 1;
                } else {
                    tally.skipped += 1;
                }
            }
        }
    }

    /// Records the input (its key, name and result count) in the last transaction.
    fn record(&self, w: &mut dyn WriteStore) -> Result<(), StoreError> {
        w.append(&Body::Ingest(IngestRecord {
            blake3: self.key.clone(),
            format: FORMAT.to_owned(),
            name: self.opts.name.clone(),
            results: self.checked.records as u64,
        }))?;
        Ok(())
    }
}

/// Why the parsing thread stopped early.
#[derive(Debug, thiserror::Error)]
enum ParseStop {
    #[error(transparent)]
    Invalid(ModelError),
    /// The writer failed and hung up; it reports why.
    #[error("the writer stopped")]
    WriterGone,
}

/// The submit error of a parse that stopped early.
fn stopped(e: JsonInputError<ParseStop>) -> SubmitError {
    match e {
        JsonInputError::Record { index, source: ParseStop::Invalid(source) } => {
            JsonInputError::Record { index, source }.into()
        }
        JsonInputError::Record { source: ParseStop::WriterGone, .. } => SubmitError::Interrupted,
        JsonInputError::Syntax { line, column, message } => JsonInputError::Syntax { line, column, message }.into(),
        JsonInputError::Io(e) => JsonInputError::Io(e).into(),
    }
}

/// Hashes what passes through it and copies it to `copy` if set.
struct Tee<'a, R> {
    inner: R,
    hasher: blake3::Hasher,
    copy: Option<&'a mut dyn Write>,
}

impl<R: Read> Tee<'_, R> {
    /// Reads what the parser left (trailing whitespace) so the hash covers every byte.
    fn drain(&mut self) -> std::io::Result<()> {
        std::io::copy(self, &mut std::io::sink()).map(drop)
    }
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        if let Some(copy) = self.copy.as_mut() {
            copy.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}
