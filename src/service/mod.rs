//! Use cases: submit results, create testcases and groups, answer the API's queries.
//!
//! Adapters (HTTP, CLI) call these; they own the write queue and the reader pool and turn
//! validated input into log bodies (assigning uuids and times).

pub mod admin;
pub mod auth;
mod classified;
pub mod compare;
pub mod consume;
pub mod decisions;
pub mod events;
pub mod import;
pub mod ingest;
pub mod insight;
pub mod local;
pub mod log_limit;
pub mod metrics;
pub mod pages;
mod pool;
pub mod prune;
mod quarantines;
mod queue;
pub mod reconcile;
/// Credentials masked in shown URLs (pure; in `model` so the store can use it too).
pub use crate::model::redact;
pub mod render;
pub mod replication;
pub mod submit;
pub mod upload;
mod waivers;

pub use quarantines::QuarantineFilter;

/// Store data types adapters see (the store itself stays behind the service).
pub use crate::store::{OriginHead, Stats};
pub use pool::ReadPool;
pub use queue::{MAX_BATCH, PendingWrite, QueueError, WriteQueue};

use crate::log::Body;
use crate::model::{
    GroupInput, GroupQuery, GroupRecord, GroupView, InputLimits, ModelError, MonotonicClock, Outcomes, ResultInput,
    ResultQuery, ResultRecord, ResultView, TestcaseQuery, TestcaseRecord, TestcaseView, Timestamp, new_result_uuid,
    new_uuid, parse_create_group, parse_create_result, parse_create_testcase, request_hash, uuid_for_idempotency_key,
};
use crate::store::{Backend, Housekeeping, ReadStore, StoreError, Written};
use serde_json::Value;
use std::sync::Arc;

/// Errors of the use cases; the HTTP adapter maps each to one status code.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input was refused (400).
    #[error(transparent)]
    Invalid(#[from] ModelError),
    /// The named thing does not exist (404); the message is the API's.
    #[error("{0}")]
    NotFound(String),
    /// The store failed (500).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer or a worker is gone (503).
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A waiver request was refused (400/403 as WaiverDB).
    #[error(transparent)]
    Waiver(#[from] crate::model::WaiverError),
    /// A decision request was refused (400/404/415/502 as Greenwave).
    #[error(transparent)]
    Decision(crate::gating::DecisionError),
    /// Missing or wrong credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// A known caller without the right (403).
    #[error("{0}")]
    Forbidden(String),
    /// The client-chosen uuid belongs to a different result (409).
    #[error("{0}")]
    Conflict(String),
    /// An idempotency key reused with a different request (422).
    #[error("{0}")]
    KeyReused(String),
    /// A quarantine request was refused (400, naming the field).
    #[error(transparent)]
    Quarantine(crate::model::QuarantineError),
    /// A change stream was refused or could not be written (replication).
    #[error(transparent)]
    Stream(#[from] crate::log::stream::StreamError),
    /// An uploaded result file was refused (400, with the format, line and record), or
    /// could not be stored (503/507 when `transient`).
    #[error(transparent)]
    Ingest(ingest::IngestError),
}

impl From<auth::AuthError> for ServiceError {
    fn from(e: auth::AuthError) -> Self {
        match e {
            auth::AuthError::Unauthorized(m) => ServiceError::Unauthorized(m),
            auth::AuthError::Forbidden(m) => ServiceError::Forbidden(m),
            auth::AuthError::Config(m) => ServiceError::Unavailable(m),
        }
    }
}

impl From<QueueError> for ServiceError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Stopped => ServiceError::Unavailable(e.to_string()),
            QueueError::Store(s) => ServiceError::Store(s),
        }
    }
}

/// What the healthcheck reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// The database does not answer.
    Unreachable,
    /// Reads work but writes are refused (the disk is full); says why.
    Unwritable(String),
}

/// Settings the use cases need.
#[derive(Debug, Clone)]
pub struct Config {
    pub outcomes: Outcomes,
    /// Largest `limit` a list request may ask for.
    pub max_limit: i64,
    pub auth: auth::Auth,
    /// Gating policies (`--policies DIR`).
    pub gate: Arc<crate::gating::Gate>,
    /// Size caps of written results, testcases and groups.
    pub input_limits: InputLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            outcomes: Outcomes::default_set(),
            max_limit: 1000,
            auth: auth::Auth::default(),
            gate: Arc::new(crate::gating::Gate::default()),
            input_limits: InputLimits::default(),
        }
    }
}

/// What ties a POST to the result it stores when the client names it (a `uuid` in the body
/// or an `Idempotency-Key`): a retry finds that result, any other request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The idempotency key, and the uuid it stands for from this sender.
    key: Option<(String, String)>,
    /// Hash of the request body (see [`crate::model::request_hash`]).
    request: String,
}

impl Binding {
    /// The binding of a POST: `None` when the server picks the uuid (nothing to retry by).
    /// `scope` is the sender (a user name, or "anonymous"): keys are per sender.
    pub fn of(body: &Value, input: &ResultInput, key: Option<&str>, scope: &str) -> Option<Binding> {
        let key = key.map(|k| (k.to_owned(), uuid_for_idempotency_key(scope, k)));
        if input.uuid.is_none() && key.is_none() {
            return None;
        }
        // The uuid in its canonical form: an upper-case retry is the same request.
        let mut body = body.clone();
        if let (Some(obj), Some(uuid)) = (body.as_object_mut(), &input.uuid) {
            obj.insert("uuid".into(), Value::String(uuid.clone()));
        }
        Some(Binding { key, request: request_hash(&body) })
    }
}

/// Turns a validated result into its log record: uuid (client's, from the idempotency
/// key, or a fresh time-ordered one), group uuids and submit time resolved now, so that
/// replaying the log reproduces exactly the same result.
pub fn resolve_result(input: ResultInput, binding: Option<&Binding>, now: Timestamp) -> ResultRecord {
    let key_uuid = binding.and_then(|b| b.key.as_ref()).map(|(_, u)| u.clone());
    ResultRecord {
        data: input.data,
        groups: input.groups.into_iter().map(resolve_group).collect(),
        note: input.note,
        outcome: input.outcome,
        ref_url: input.ref_url,
        request: binding.map(|b| b.request.clone()),
        submit_time: input.submit_time.unwrap_or(now).0,
        testcase: input.testcase,
        uuid: input.uuid.or(key_uuid).unwrap_or_else(new_result_uuid),
    }
}

/// A POST whose uuid was already taken: a retry of the same request is answered with the
/// stored result; a different request is refused — 422 naming the idempotency key (the
/// convention of payment APIs), or 409 for a client-chosen uuid.
fn check_retry(stored: &ResultRecord, sent: &ResultRecord, binding: Option<&Binding>) -> Result<(), ServiceError> {
    if stored.same_request(sent) {
        return Ok(());
    }
    match binding.and_then(|b| b.key.as_ref()) {
        Some((key, key_uuid)) if *key_uuid == sent.uuid => Err(ServiceError::KeyReused(format!(
            "Idempotency-Key {key:?} was already used for a different request; send a new key for a new result"
        ))),
        _ => Err(ServiceError::Conflict(format!(
            "uuid {} already belongs to a different result; choose another uuid",
            sent.uuid
        ))),
    }
}

fn resolve_group(g: GroupInput) -> GroupRecord {
    GroupRecord { description: g.description, ref_url: g.ref_url, uuid: g.uuid.unwrap_or_else(new_uuid) }
}

/// A page of a list plus whether another page follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
}

impl<T> Page<T> {
    /// Splits the `limit + 1` rows a store query returns into the page and a next flag.
    fn from_rows(mut rows: Vec<T>, limit: i64) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(0);
        let has_next = rows.len() > limit;
        rows.truncate(limit);
        Page { items: rows, has_next }
    }
}

/// The running service: store, write queue, reader pool and settings.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    /// Strictly increasing server timestamps for waivers: "newest wins" goes by them.
    clock: MonotonicClock,
    queue: WriteQueue,
    /// The store and its reader pool: the read half, shared with commands that run
    /// without a server.
    reads: local::ReadOnly,
    /// Bounds the reads running at once when they wait on the network (PostgreSQL): a
    /// read past the cores' worth only adds runnable threads, and a request then waits
    /// for the scheduler for tens of milliseconds instead of in a queue for a few.
    network_reads: Option<Arc<tokio::sync::Semaphore>>,
    config: Config,
    /// What `GET /metrics` shows.
    metrics: Arc<metrics::Metrics>,
    /// The standing quarantine rules, compiled for decisions.
    quarantines: quarantines::QuarantineCache,
    /// The bus consumer's counters (`serve --consume`).
    consume: consume::ConsumeStatus,
    /// The periodic reconcile's last runs (`serve --reconcile-from`).
    reconcile: reconcile::ReconcileStatus,
    /// The server's background checkpoints (none for a batch command: see
    /// [`Service::open_batch`]).
    _checkpoints: Option<CheckpointThread>,
}

/// How many reads that wait on the network run at once: twice the cores (while one
/// waits on a round trip, another uses the core). `VERDICT_NETWORK_READS` overrides it.
fn network_read_limit() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::env::var("VERDICT_NETWORK_READS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(2 * cores)
}

/// Checkpoints the WAL every 200 ms on its own thread, so commits never pay for it.
/// While the disk is full it instead tries to give the WAL's space back and to make the
/// store writable again (so the healthcheck turns healthy once space is freed, even with
/// no write coming in). Stops when dropped.
struct CheckpointThread {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl CheckpointThread {
    const INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

    fn start(cp: Box<dyn Housekeeping>, db: std::path::PathBuf) -> Result<CheckpointThread, ServiceError> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("verdict-checkpoint".into())
            .spawn(move || {
                let mut was_full = false;
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(Self::INTERVAL);
                    was_full = Self::tick(cp.as_ref(), &db, was_full);
                }
            })
            .map_err(|e| ServiceError::Unavailable(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(CheckpointThread { stop })
    }
}

impl CheckpointThread {
    /// One round; returns whether the disk is full now. Logs when that changes.
    fn tick(cp: &dyn Housekeeping, db: &std::path::Path, was_full: bool) -> bool {
        let full = cp.disk_full() && !cp.recover();
        if full && !was_full {
            if let Some(r) = log_limit::allow("disk full") {
                tracing::error!("{}{r}", cp.full_error());
            }
        } else if !full && was_full {
            tracing::info!(db = %db.display(), "disk space is back: writes are accepted again");
        }
        if !full
            && let Err(e) = cp.checkpoint()
            && let Some(r) = log_limit::allow("WAL checkpoint failed")
        {
            tracing::warn!(error = %e, "WAL checkpoint failed{r}");
        }
        full
    }
}

impl Drop for CheckpointThread {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Test hook (not for users): `VERDICT_FOLD_AT=AT,PIECE` folds new postings into the
/// main index from AT rows on, PIECE rows per transaction, so tests see both tables in use.
fn fold_limits_from_env() -> Option<(i64, i64)> {
    let v = std::env::var("VERDICT_FOLD_AT").ok()?;
    let (at, piece) = v.split_once(',').unwrap_or((v.as_str(), "1000"));
    Some((at.trim().parse().ok()?, piece.trim().parse().ok()?))
}

impl Service {
    /// Starts the writer thread over `store`. Returns the service and the thread handle
    /// (join it after dropping every `Service` clone to let queued writes finish).
    pub fn start(
        store: Arc<dyn Backend>,
        config: Config,
    ) -> Result<(Service, std::thread::JoinHandle<()>), ServiceError> {
        Service::start_with(store, config, true)
    }

    fn start_with(
        store: Arc<dyn Backend>,
        config: Config,
        background_checkpoints: bool,
    ) -> Result<(Service, std::thread::JoinHandle<()>), ServiceError> {
        let mut writer = store.writer()?;
        if let Some((at, piece)) = fold_limits_from_env() {
            writer.set_fold_limits(at, piece);
        }
        let reads = local::ReadOnly::over(store.clone());
        let metrics = Arc::new(metrics::Metrics::new(reads.pool().opened()));
        let (queue, handle) =
            WriteQueue::start(writer, 4096, metrics.clone()).map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        store.follow_commits(queue.follower())?;
        let checkpoints = if background_checkpoints {
            Some(CheckpointThread::start(store.housekeeping()?, store.location().to_owned())?)
        } else {
            None
        };
        Ok((
            Service {
                inner: Arc::new(Inner {
                    clock: MonotonicClock::new(),
                    network_reads: (!store.reads_in_process())
                        .then(|| Arc::new(tokio::sync::Semaphore::new(network_read_limit()))),
                    reads,
                    queue,
                    config,
                    metrics,
                    quarantines: quarantines::QuarantineCache::default(),
                    consume: consume::ConsumeStatus::default(),
                    reconcile: reconcile::ReconcileStatus::default(),
                    _checkpoints: checkpoints,
                }),
            },
            handle,
        ))
    }

    /// Opens (or creates) the store at `db` and starts the service on it: how every
    /// writing command and the server get one.
    pub fn open(db: &std::path::Path, config: Config) -> Result<(Service, std::thread::JoinHandle<()>), ServiceError> {
        Service::start(crate::store::open(db)?, config)
    }

    /// [`Service::open`] with reads sent to `read` (a PostgreSQL replica) when given.
    pub fn open_reading_from(
        db: &std::path::Path,
        read: Option<&str>,
        config: Config,
    ) -> Result<(Service, std::thread::JoinHandle<()>), ServiceError> {
        Service::start(crate::store::open_reading_from(db, read)?, config)
    }

    /// [`Service::open`] for a batch command (`submit`, `ingest`, `sync`, `import`): no
    /// background checkpoints while it loads — the writer still bounds the WAL, and
    /// [`Service::finish`] checkpoints once at the end. Checkpointing beside a bulk load
    /// cost 10% more CPU for nothing (BENCHMARKS.md, "One door").
    pub fn open_batch(
        db: &std::path::Path,
        config: Config,
    ) -> Result<(Service, std::thread::JoinHandle<()>), ServiceError> {
        Service::start_with(crate::store::open(db)?, config, false)
    }

    /// This store's node id.
    pub fn node_id(&self) -> &str {
        self.inner.reads.node_id()
    }

    /// The reads every store offers, with or without a server (replication's tips and
    /// hashes, stats, …).
    pub fn reads(&self) -> &local::ReadOnly {
        &self.inner.reads
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The server's metrics (the HTTP adapter records requests and event streams in them).
    pub fn metrics(&self) -> &Arc<metrics::Metrics> {
        &self.inner.metrics
    }

    /// Watches the newest committed log position (event streams wait on it).
    pub fn committed(&self) -> tokio::sync::watch::Receiver<i64> {
        self.inner.queue.committed()
    }

    /// The write queue (the spool sends its files through it).
    pub fn queue(&self) -> WriteQueue {
        self.inner.queue.clone()
    }

    /// Runs a read on a pooled read-only connection on the blocking thread pool: for
    /// queries that may scan much of the store, so they cannot stall the async workers.
    async fn read<T, F>(&self, f: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ReadStore) -> Result<T, ServiceError> + Send + 'static,
    {
        let pool = self.inner.reads.pool().clone();
        let (metrics, queued) = (self.inner.metrics.clone(), std::time::Instant::now());
        let _permit = match &self.inner.network_reads {
            Some(limit) => {
                Some(limit.clone().acquire_owned().await.map_err(|e| ServiceError::Unavailable(e.to_string()))?)
            }
            None => None,
        };
        tokio::task::spawn_blocking(move || {
            metrics.read_waited(queued.elapsed());
            pool.with(f)
        })
        .await
        .map_err(|e| ServiceError::Unavailable(format!("read worker failed: {e}")))?
    }

    /// Runs a read right here, on the calling async worker: for point lookups and queries
    /// anchored on an exact filter, which take well under a millisecond. Measured: a
    /// hand-off to the blocking pool costs more than such a query (see BENCHMARKS.md).
    fn read_now<T>(&self, f: impl FnOnce(&dyn ReadStore) -> Result<T, ServiceError>) -> Result<T, ServiceError> {
        self.inner.reads.pool().with(f)
    }

    /// Runs a read the caller knows to be `quick` inline, on the async worker, unless reads
    /// wait on the network (PostgreSQL: a worker waiting on round trips stalls every
    /// request queued on it); any other read on the blocking pool.
    async fn read_quick<T, F>(&self, quick: bool, f: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ReadStore) -> Result<T, ServiceError> + Send + 'static,
    {
        if quick && self.inner.reads.backend().reads_in_process() { self.read_now(f) } else { self.read(f).await }
    }

    /// Reads a result query inline when it is anchored on an exact filter and not deep
    /// into the pages, otherwise on the blocking pool.
    async fn read_query<T, F>(&self, anchored: bool, offset: i64, f: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn ReadStore) -> Result<T, ServiceError> + Send + 'static,
    {
        self.read_quick(anchored && offset <= 10_000, f).await
    }

    async fn write(&self, bodies: Vec<Body>) -> Result<Vec<Written>, ServiceError> {
        Ok(self.inner.queue.write(bodies).await?)
    }

    /// `POST /results`: validates, stores durably, returns the stored result. A repeat of
    /// a uuid (or idempotency key) returns the result stored the first time.
    pub async fn submit_result(
        &self,
        body: &Value,
        idempotency_key: Option<&str>,
        creds: &auth::Credentials,
    ) -> Result<(ResultView, bool), ServiceError> {
        let auth = &self.inner.config.auth;
        let who = auth.authenticate(creds)?;
        let input = parse_create_result(body, &self.inner.config.outcomes, &self.inner.config.input_limits)?;
        auth.may_submit(who.as_ref(), &input.testcase.name)?;
        let edits = input.groups.iter().filter_map(|g| Some((g.uuid.as_deref()?, &g.description, &g.ref_url)));
        self.check_group_edits(who.as_ref(), edits)?;
        let scope = who.as_ref().map_or("anonymous", |w| w.name.as_str());
        let binding = Binding::of(body, &input, idempotency_key, scope);
        let record = resolve_result(input, binding.as_ref(), Timestamp::now());
        let sent = record.clone();
        match self.write(vec![Body::Result(record)]).await?.pop() {
            Some(Written::Result { view, created }) => {
                if !created {
                    check_retry(&view.record, &sent, binding.as_ref())?;
                }
                Ok((view, created))
            }
            _ => Err(ServiceError::Unavailable("writer returned no result".into())),
        }
    }

    /// `POST /testcases`: create or update (ref_url only when given and not null).
    pub async fn create_testcase(&self, body: &Value, creds: &auth::Credentials) -> Result<TestcaseView, ServiceError> {
        let auth = &self.inner.config.auth;
        let who = auth.authenticate(creds)?;
        let input = parse_create_testcase(body, &self.inner.config.input_limits)?;
        auth.may_submit(who.as_ref(), &input.name)?;
        let record = TestcaseRecord { name: input.name, ref_url: input.ref_url.map(Some) };
        match self.write(vec![Body::Testcase(record)]).await?.pop() {
            Some(Written::Testcase(v)) => Ok(v),
            _ => Err(ServiceError::Unavailable("writer returned no testcase".into())),
        }
    }

    /// `POST /groups`: create or update (fields only when non-empty).
    pub async fn create_group(&self, body: &Value, creds: &auth::Credentials) -> Result<GroupView, ServiceError> {
        let auth = &self.inner.config.auth;
        let who = auth.authenticate(creds)?;
        if matches!(auth.mode, auth::AuthMode::Tokens(_)) && who.is_none() {
            return Err(ServiceError::Unauthorized("a token is required to write".into()));
        }
        let (uuid, mut record) = parse_create_group(body, &self.inner.config.input_limits)?;
        record.uuid = uuid.unwrap_or_else(new_uuid);
        self.check_group_edits(
            who.as_ref(),
            [(record.uuid.as_str(), &record.description, &record.ref_url)].into_iter(),
        )?;
        match self.write(vec![Body::Group(record)]).await?.pop() {
            Some(Written::Group(v)) => Ok(v),
            _ => Err(ServiceError::Unavailable("writer returned no group".into())),
        }
    }

    /// Refuses a write that would change the description or ref_url of a group that exists
    /// unless the caller may (`tokens` mode: the groups right). Creating a group, or
    /// repeating its metadata unchanged (as every result of a job does), needs no right.
    fn check_group_edits<'a>(
        &self,
        who: Option<&auth::Identity>,
        groups: impl Iterator<Item = (&'a str, &'a Option<Option<String>>, &'a Option<Option<String>>)>,
    ) -> Result<(), ServiceError> {
        let auth = &self.inner.config.auth;
        if !matches!(auth.mode, auth::AuthMode::Tokens(_)) {
            return Ok(());
        }
        for (uuid, description, ref_url) in groups {
            if description.is_none() && ref_url.is_none() {
                continue;
            }
            let owned = uuid.to_owned();
            let Some(current) = self.read_now(move |r| Ok(r.group(&owned)?))? else { continue };
            if description.as_ref().is_some_and(|d| *d != current.description) {
                auth.may_edit_group(who, uuid, "description")?;
            }
            if ref_url.as_ref().is_some_and(|u| *u != current.ref_url) {
                auth.may_edit_group(who, uuid, "ref_url")?;
            }
        }
        Ok(())
    }

    pub async fn result(&self, id: &str) -> Result<ResultView, ServiceError> {
        let not_found = || ServiceError::NotFound("Result not found".into());
        let id: i64 = id.parse().map_err(|_| not_found())?;
        self.read_now(move |r| r.result(id)?.ok_or_else(not_found))
    }

    pub async fn results(&self, q: ResultQuery) -> Result<Page<ResultView>, ServiceError> {
        self.read_query(q.is_anchored(), q.offset(), move |r| Ok(Page::from_rows(r.results(&q)?, q.limit))).await
    }

    /// `GET /results/latest`; `_distinct_on` needs another filter, as upstream.
    pub async fn latest(&self, q: ResultQuery) -> Result<Vec<ResultView>, ServiceError> {
        if !q.distinct_on.is_empty() && !q.has_filter_besides_distinct() {
            return Err(
                ModelError::BadRequest("Please, provide at least one filter beside '_distinct_on'".into()).into()
            );
        }
        self.read_query(q.is_anchored(), 0, move |r| Ok(r.latest(&q)?)).await
    }

    pub async fn testcase(&self, name: String) -> Result<TestcaseView, ServiceError> {
        self.read_now(move |r| r.testcase(&name)?.ok_or_else(|| ServiceError::NotFound("Testcase not found".into())))
    }

    /// `GET /testcases/<name>/results`: the `testcases` filter is replaced by the name.
    pub async fn testcase_results(&self, name: String, mut q: ResultQuery) -> Result<Page<ResultView>, ServiceError> {
        self.read_query(true, q.offset(), move |r| {
            let tc = r.testcase(&name)?.ok_or_else(|| ServiceError::NotFound("Testcase not found".into()))?;
            q.testcases = vec![tc.name];
            Ok(Page::from_rows(r.results(&q)?, q.limit))
        })
        .await
    }

    pub async fn testcases(&self, q: TestcaseQuery) -> Result<Page<TestcaseView>, ServiceError> {
        self.read(move |r| Ok(Page::from_rows(r.testcases(&q)?, q.list.limit))).await
    }

    pub async fn group(&self, uuid: String) -> Result<GroupView, ServiceError> {
        self.read_now(move |r| r.group(&uuid)?.ok_or_else(|| ServiceError::NotFound("Group not found".into())))
    }

    /// `GET /groups/<uuid>/results`: the `groups` filter is replaced by the uuid.
    pub async fn group_results(&self, uuid: String, mut q: ResultQuery) -> Result<Page<ResultView>, ServiceError> {
        self.read_query(true, q.offset(), move |r| {
            let g = r.group(&uuid)?.ok_or_else(|| ServiceError::NotFound(format!("Group not found: {uuid}")))?;
            q.groups = vec![g.uuid];
            Ok(Page::from_rows(r.results(&q)?, q.limit))
        })
        .await
    }

    pub async fn groups(&self, q: GroupQuery) -> Result<Page<GroupView>, ServiceError> {
        self.read(move |r| Ok(Page::from_rows(r.groups(&q)?, q.list.limit))).await
    }

    /// Whether the database answers a trivial query and accepts writes.
    pub async fn health(&self) -> Health {
        if !self.read_now(|r| Ok(r.healthy())).unwrap_or(false) {
            return Health::Unreachable;
        }
        match self.inner.reads.backend().writable() {
            Ok(()) => Health::Ok,
            Err(e) => Health::Unwritable(e.to_string()),
        }
    }
}

impl Service {
    /// Ends a command's service: waits until the writer has committed what was queued and
    /// stopped, then copies the WAL back into the database file (a passive checkpoint), so
    /// the store is one file again when the command exits. `writer` is the handle
    /// [`Service::open`] returned; every other clone of this service and of its queue must
    /// be gone first, as the writer stops only then.
    pub fn finish(self, writer: std::thread::JoinHandle<()>) -> Result<(), ServiceError> {
        let store = self.inner.reads.backend().clone();
        drop(self);
        // A writer that panicked has nothing left to commit: the checkpoint still runs.
        let _ = writer.join();
        Ok(store.housekeeping()?.checkpoint()?)
    }
}
