//! The server's Prometheus metrics (`GET /metrics`, text format 0.0.4), all named
//! `verdict_…`. Hot paths only touch atomics and the crate's per-metric locks: requests by
//! route and status with latency, group commits (size, commit and fsync time), reads that
//! waited. What the server can read when asked — file sizes, spool, peers, SSE streams,
//! flaky keys — is read at scrape time.

use super::ingest::SpoolStatus;
use super::replication::PeerStatus;
use crate::model::Timestamp;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// How long a flaky/broken count is reused before it is computed again (it reads every
/// key's runs in the window: ~150 ms on a million results).
pub const FLAKY_TTL: Duration = Duration::from_secs(60);

/// One request's labels: method, the matched route template (`/api/v2.0/results/{id}`,
/// never the raw path; `unmatched` for a 404 of no route) and status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum DecisionOutcome {
    satisfied,
    unsatisfied,
    error,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: DecisionOutcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SettledLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    outcome: &'static str,
}

/// Every metric, registered once; cheap to share behind an `Arc`.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram>,
    writes_committed: Counter,
    batch_jobs: Histogram,
    commit_seconds: Histogram,
    fsync_seconds: Histogram,
    commit_failures: Counter,
    read_wait_seconds: Histogram,
    decisions: Family<OutcomeLabels, Counter>,
    sse_subscribers: Gauge,
    reconcile_runs: Family<RunLabels, Counter>,
    reconcile_missing: Counter,
    reconcile_stored: Counter,
    // Read at scrape time.
    store_bytes: Gauge,
    wal_bytes: Gauge,
    spool_pending: Gauge,
    spool_failed: Gauge,
    spool_ingested: Gauge,
    spool_results: Gauge,
    lag_entries: Family<PeerLabels, Gauge>,
    lag_seconds: Family<PeerLabels, Gauge<f64, AtomicU64>>,
    keys: Family<StateLabels, Gauge>,
    consume_messages: Family<SettledLabels, Gauge>,
    consume_connected: Gauge,
    consume_backlog: Gauge,
    /// The last flaky/broken/healthy counts and when they were computed.
    flaky_cache: Mutex<Option<(Instant, [i64; 3])>>,
}

/// Latency buckets: 100 µs to ~13 s, doubling.
fn seconds_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.0001, 2.0, 18)
}

impl Metrics {
    /// The metrics, with the reader pool's count of readers it opened.
    pub(super) fn new(readers_opened: Counter) -> Metrics {
        let mut r = Registry::with_prefix("verdict");
        let requests = Family::<RequestLabels, Counter>::default();
        r.register("http_requests", "HTTP requests answered, by method, route template and status", requests.clone());
        let request_seconds =
            Family::<RouteLabels, Histogram>::new_with_constructor(|| Histogram::new(seconds_buckets()));
        r.register_with_unit(
            "http_request_duration",
            "Time to the response head, by method and route template",
            Unit::Seconds,
            request_seconds.clone(),
        );
        let writes_committed = Counter::default();
        r.register(
            "writes_committed",
            "Writes (log entries of results, testcases, groups, waivers, quarantines, spooled files) committed by group commits",
            writes_committed.clone(),
        );
        let batch_jobs = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        r.register("group_commit_batch_jobs", "Requests sharing one group commit (one fsync)", batch_jobs.clone());
        let commit_seconds = Histogram::new(seconds_buckets());
        r.register_with_unit(
            "group_commit_duration",
            "One group commit, BEGIN to durable COMMIT",
            Unit::Seconds,
            commit_seconds.clone(),
        );
        let fsync_seconds = Histogram::new(seconds_buckets());
        r.register_with_unit(
            "commit_fsync_duration",
            "The COMMIT statement of a group commit: appending the WAL frames and their fsync (synchronous=FULL)",
            Unit::Seconds,
            fsync_seconds.clone(),
        );
        let commit_failures = Counter::default();
        r.register(
            "group_commit_failures",
            "Group commits that failed (then retried job by job, or refused: disk full)",
            commit_failures.clone(),
        );
        let read_wait_seconds = Histogram::new(seconds_buckets());
        r.register_with_unit(
            "read_wait_duration",
            "Time a scanning read waited for a thread of the blocking pool before it ran",
            Unit::Seconds,
            read_wait_seconds.clone(),
        );
        r.register(
            "reader_pool_opened",
            "Reads that found no idle pooled connection and opened one (the pool keeps up to 64)",
            readers_opened.clone(),
        );
        let decisions = Family::<OutcomeLabels, Counter>::default();
        r.register(
            "decisions",
            "Gating decisions answered, by outcome (error: the request was refused)",
            decisions.clone(),
        );
        let sse_subscribers = Gauge::default();
        r.register("sse_subscribers", "Open event streams (GET /api/v2.0/events)", sse_subscribers.clone());
        let store_bytes = Gauge::default();
        r.register_with_unit("store_size", "Size of the store file", Unit::Bytes, store_bytes.clone());
        let wal_bytes = Gauge::default();
        r.register_with_unit("wal_size", "Size of the store's write-ahead log file", Unit::Bytes, wal_bytes.clone());
        let spool_pending = Gauge::default();
        r.register(
            "spool_pending_files",
            "Spool files waiting to settle or be ingested, or being ingested",
            spool_pending.clone(),
        );
        let spool_failed = Gauge::default();
        r.register("spool_failed_files", "Spool files set aside in failed/ since start", spool_failed.clone());
        let spool_ingested = Gauge::default();
        r.register(
            "spool_ingested_files",
            "Spool files ingested since start (duplicates included)",
            spool_ingested.clone(),
        );
        let spool_results = Gauge::default();
        r.register("spool_results", "Results stored from spool files since start", spool_results.clone());
        let consume_messages = Family::<SettledLabels, Gauge>::default();
        r.register(
            "consume_messages",
            "Bus messages settled since start (serve --consume), by outcome: stored, duplicate, rejected",
            consume_messages.clone(),
        );
        let consume_connected = Gauge::default();
        r.register("consume_connected", "1 while the bus consumer is connected", consume_connected.clone());
        let consume_backlog = Gauge::default();
        r.register(
            "consume_backlog",
            "Messages waiting in the consumed queue when last looked at",
            consume_backlog.clone(),
        );
        let lag_entries = Family::<PeerLabels, Gauge>::default();
        r.register(
            "replication_lag_entries",
            "Entries a peer held that this node lacked at the last contact",
            lag_entries.clone(),
        );
        let lag_seconds = Family::<PeerLabels, Gauge<f64, AtomicU64>>::default();
        r.register_with_unit(
            "replication_lag",
            "0 while the last pull found this node in sync with the peer, else time since the last successful pull",
            Unit::Seconds,
            lag_seconds.clone(),
        );
        let keys = Family::<StateLabels, Gauge>::default();
        r.register(
            "insight_keys",
            "Test keys (testcase, scenario, arch) by state over the default 14-day window; recomputed at most once a minute",
            keys.clone(),
        );
        let reconcile_runs = Family::<RunLabels, Counter>::default();
        r.register(
            "reconcile_runs",
            "Runs of the periodic reconcile per source (serve --reconcile-from), by outcome: ok or error",
            reconcile_runs.clone(),
        );
        let reconcile_missing = Counter::default();
        r.register(
            "reconcile_missing",
            "Results (or archived messages) the periodic reconcile found missing",
            reconcile_missing.clone(),
        );
        let reconcile_stored = Counter::default();
        r.register(
            "reconcile_stored",
            "Results (or archived messages) the periodic reconcile stored",
            reconcile_stored.clone(),
        );
        Metrics {
            registry: r,
            reconcile_runs,
            reconcile_missing,
            reconcile_stored,
            requests,
            request_seconds,
            writes_committed,
            batch_jobs,
            commit_seconds,
            fsync_seconds,
            commit_failures,
            read_wait_seconds,
            decisions,
            sse_subscribers,
            store_bytes,
            wal_bytes,
            spool_pending,
            spool_failed,
            spool_ingested,
            spool_results,
            consume_messages,
            consume_connected,
            consume_backlog,
            lag_entries,
            lag_seconds,
            keys,
            flaky_cache: Mutex::new(None),
        }
    }

    /// One answered request. `route` is the matched route template (None: no route).
    pub fn request(&self, method: &str, route: Option<&str>, status: u16, took: Duration) {
        let method = method_label(method);
        let route = route.unwrap_or("unmatched").to_owned();
        self.request_seconds.get_or_create(&RouteLabels { method, route: route.clone() }).observe(took.as_secs_f64());
        self.requests.get_or_create(&RequestLabels { method, route, status }).inc();
    }

    /// One successful group commit of `jobs` requests holding `writes` entries.
    pub(super) fn group_commit(&self, jobs: usize, writes: usize, took: Duration, fsync: Option<Duration>) {
        self.writes_committed.inc_by(writes as u64);
        self.batch_jobs.observe(jobs as f64);
        self.commit_seconds.observe(took.as_secs_f64());
        if let Some(f) = fsync {
            self.fsync_seconds.observe(f.as_secs_f64());
        }
    }

    pub(super) fn commit_failed(&self) {
        self.commit_failures.inc();
    }

    pub(super) fn read_waited(&self, waited: Duration) {
        self.read_wait_seconds.observe(waited.as_secs_f64());
    }

    pub(super) fn decision(&self, satisfied: Option<bool>) {
        let outcome = match satisfied {
            Some(true) => DecisionOutcome::satisfied,
            Some(false) => DecisionOutcome::unsatisfied,
            None => DecisionOutcome::error,
        };
        self.decisions.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// One source's periodic reconcile run.
    pub(super) fn reconciled(&self, ok: bool, missing: u64, stored: u64) {
        let outcome = if ok { "ok" } else { "error" };
        self.reconcile_runs.get_or_create(&RunLabels { outcome }).inc();
        self.reconcile_missing.inc_by(missing);
        self.reconcile_stored.inc_by(stored);
    }

    /// Counts an open event stream until the guard is dropped.
    pub fn subscriber(self: &std::sync::Arc<Self>) -> Subscriber {
        self.sse_subscribers.inc();
        Subscriber(self.clone())
    }

    /// Sets what is read at scrape time, then writes the exposition.
    pub(super) fn render(&self, scrape: &Scrape<'_>) -> String {
        self.store_bytes.set(scrape.sizes.0);
        self.wal_bytes.set(scrape.sizes.1);
        if let Some(s) = scrape.spool {
            self.spool_pending.set((s.pending + s.in_progress) as i64);
            self.spool_failed.set(s.failed as i64);
            self.spool_ingested.set((s.done + s.duplicates) as i64);
            self.spool_results.set(s.results as i64);
        }
        if let Some(c) = scrape.consume.filter(|c| c.enabled) {
            for (outcome, n) in [("stored", c.stored), ("duplicate", c.duplicates), ("rejected", c.rejected)] {
                self.consume_messages.get_or_create(&SettledLabels { outcome }).set(n as i64);
            }
            self.consume_connected.set(i64::from(c.connected));
            self.consume_backlog.set(c.backlog.unwrap_or(0) as i64);
        }
        let now = Timestamp::now();
        for p in scrape.peers {
            let peer = PeerLabels { peer: super::redact::url(&p.url) };
            if let Some(lag) = p.lag {
                self.lag_entries.get_or_create(&peer).set(lag as i64);
            }
            let last = p.last_success.as_deref().and_then(crate::model::time::parse_iso8601);
            let seconds = match (p.lag, last) {
                (Some(0), _) if p.state != "error" => Some(0.0),
                (_, Some(t)) => Some((now.0 - t.0).max(0) as f64 / 1e6),
                _ => None,
            };
            if let Some(s) = seconds {
                self.lag_seconds.get_or_create(&peer).set(s);
            }
        }
        if let Some([flaky, broken, healthy]) = scrape.keys {
            for (state, n) in [("flaky", flaky), ("broken", broken), ("healthy", healthy)] {
                self.keys.get_or_create(&StateLabels { state }).set(n);
            }
        }
        let mut out = String::new();
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// The cached flaky/broken/healthy counts if younger than [`FLAKY_TTL`].
    pub(super) fn cached_keys(&self) -> Option<[i64; 3]> {
        let cache = self.flaky_cache.lock().ok()?;
        cache.filter(|(at, _)| at.elapsed() < FLAKY_TTL).map(|(_, counts)| counts)
    }

    pub(super) fn cache_keys(&self, counts: [i64; 3]) {
        if let Ok(mut cache) = self.flaky_cache.lock() {
            *cache = Some((Instant::now(), counts));
        }
    }
}

/// What a scrape reads besides the counters.
pub(super) struct Scrape<'a> {
    /// The store's size and its write-ahead log's, in bytes.
    pub sizes: (i64, i64),
    pub spool: Option<&'a SpoolStatus>,
    pub peers: &'a [PeerStatus],
    pub keys: Option<[i64; 3]>,
    pub consume: Option<&'a super::consume::ConsumeReport>,
}

/// An open event stream, counted in `verdict_sse_subscribers` while it lives.
pub struct Subscriber(std::sync::Arc<Metrics>);

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.0.sse_subscribers.dec();
    }
}

/// The method as a label; anything unusual is `OTHER` (the set stays small).
fn method_label(m: &str) -> &'static str {
    ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"].into_iter().find(|k| *k == m).unwrap_or("OTHER")
}

/// `GET /metrics` of a running service.
impl super::Service {
    /// The exposition: the counters, plus the store's file sizes, `spool`'s and `peers`'
    /// status and the flaky/broken key counts (cached for [`FLAKY_TTL`]), read now.
    pub async fn metrics_text(&self, spool: Option<SpoolStatus>, peers: Vec<PeerStatus>) -> String {
        let metrics = &self.inner.metrics;
        let keys = match metrics.cached_keys() {
            Some(k) => Some(k),
            None => {
                let service = self.clone();
                tokio::task::spawn_blocking(move || service.count_keys()).await.ok().flatten()
            }
        };
        let backend = self.inner.reads.backend().clone();
        let sizes = tokio::task::spawn_blocking(move || backend.size_bytes()).await.unwrap_or((0, 0));
        let consume = self.consume_status().report();
        metrics.render(&Scrape { sizes, spool: spool.as_ref(), peers: &peers, keys, consume: Some(&consume) })
    }

    /// Flaky, broken and healthy keys over the default window (then cached).
    fn count_keys(&self) -> Option<[i64; 3]> {
        use crate::insight::State;
        let q = crate::model::FlakyQuery::parse(&[]).ok()?;
        let answer = match self.reads().flaky(&q, Timestamp::now()) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "counting flaky keys for the metrics failed");
                return None;
            }
        };
        let mut counts = [0i64; 3];
        for c in &answer.data {
            counts[match c.state {
                State::Flaky => 0,
                State::Broken => 1,
                State::Healthy => 2,
            }] += 1;
        }
        self.inner.metrics.cache_keys(counts);
        Some(counts)
    }
}
