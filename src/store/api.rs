//! The storage interface the service needs: a [`Backend`] opens [`ReadStore`]s (any
//! number, read-only, each a consistent snapshot inside a read transaction) and the one
//! [`WriteStore`] (a single writer that appends log entries and keeps the derived indexes
//! with them), and does its own housekeeping ([`Housekeeping`]). The SQLite store
//! ([`super::Store`], [`super::Reader`], [`super::Writer`]) is the first implementation.
//!
//! Traits rather than an enum of backends: the backend is chosen when a store is opened
//! (a file path today; a PostgreSQL URL next), and everything above this layer then holds a
//! `dyn Backend` and never matches on which one it is — adding a backend adds an
//! implementation, not a match arm in every method. The traits are object-safe; the two
//! operations that take a closure (a read snapshot, a write transaction) are the free
//! functions [`snapshot`] and [`transaction`] over begin/end methods. One virtual call per
//! store call costs nothing next to the query behind it.

use super::ImportOutcome;
use super::{
    FailureRow, KeyFilter, OriginHead, Prepared, PruneStep, RunKey, RunRange, RunRow, SharedDict, Stats, StoreError,
    WaiverKeys, Written,
};
use crate::log::{Body, Entry, Gap, Hash};
use crate::model::{
    DaySummary, GroupQuery, GroupView, QuarantineView, ResultQuery, ResultView, TestcaseQuery, TestcaseView, WaiverView,
};
use std::collections::HashMap;
use std::path::Path;

/// An opened store: where readers, the writer and housekeeping come from.
pub trait Backend: Send + Sync {
    /// This store's node id (32 hex chars), made when the store was created.
    fn node_id(&self) -> &str;
    /// Where the store lives (shown in messages).
    fn location(&self) -> &Path;
    /// `Ok` while writes are accepted; else the error a write would meet now (the disk
    /// holding the store is full), known without touching the store.
    fn writable(&self) -> Result<(), StoreError>;
    /// Writes a consistent copy of the store, taken while writes go on, to the new file
    /// `to` (never over an existing one); returns its size in bytes.
    fn backup(&self, to: &Path) -> Result<u64, StoreError>;
    /// A new read-only connection.
    fn reader(&self) -> Result<Box<dyn ReadStore>, StoreError>;
    /// The writer. Only one may exist per process; the backend serialises writers of
    /// several processes, and a writer re-reads chain heads inside each transaction.
    fn writer(&self) -> Result<Box<dyn WriteStore>, StoreError>;
    /// The connection that keeps the store's storage in shape (the server runs it from a
    /// thread of its own, batch commands once at their end).
    fn housekeeping(&self) -> Result<Box<dyn Housekeeping>, StoreError>;
    /// The store's size on disk and its write-ahead log's, in bytes (0 where unknown).
    fn size_bytes(&self) -> (i64, i64);
    /// Calls `tell` with the newest log position whenever another process sharing this
    /// store commits (PostgreSQL: several servers on one database), so event streams see
    /// every write. A backend whose writes all pass through this process's writer has
    /// nothing to follow.
    fn follow_commits(&self, tell: std::sync::Arc<dyn Fn(i64) + Send + Sync>) -> Result<(), StoreError> {
        let _ = tell;
        Ok(())
    }
    /// Whether a point read is quick enough to run on an async worker (SQLite: in process,
    /// well under a millisecond). A read that waits on the network (PostgreSQL: a round
    /// trip per statement) must leave the worker, or a few of them stall every request.
    fn reads_in_process(&self) -> bool {
        true
    }
}

/// Background upkeep of a store and what it knows about the disk holding it.
pub trait Housekeeping: Send {
    /// Moves committed writes into their final place without waiting for anyone (SQLite:
    /// a passive WAL checkpoint).
    fn checkpoint(&self) -> Result<(), StoreError>;
    /// Whether the disk holding the store is full (writes are then refused at once).
    fn disk_full(&self) -> bool;
    /// While the disk is full: tries to give space back and to make the store writable
    /// again. Returns whether it is writable.
    fn recover(&self) -> bool;
    /// The error a write meets while the disk is full (naming the store and what to do).
    fn full_error(&self) -> StoreError;
}

/// Reads of one connection. Call them inside [`snapshot`] to see one consistent state.
pub trait ReadStore: Send {
    /// Opens a read transaction (see [`snapshot`]).
    fn begin_read(&self) -> Result<(), StoreError>;
    /// Ends the read transaction [`ReadStore::begin_read`] opened.
    fn end_read(&self);
    /// A trivial query: the health check's database probe.
    fn healthy(&self) -> bool;
    /// A result by its local id.
    fn result(&self, id: i64) -> Result<Option<ResultView>, StoreError>;
    /// The result with this global uuid, if held.
    fn result_by_uuid(&self, uuid: &str) -> Result<Option<ResultView>, StoreError>;
    /// How many uuids carry different results from different origins.
    fn conflict_count(&self) -> Result<i64, StoreError>;
    /// Up to `limit` conflicting uuids, each with the ids of its results.
    fn conflicts(&self, limit: i64) -> Result<Vec<(String, Vec<i64>)>, StoreError>;
    /// One page of `GET /results`: up to `limit + 1` rows (the extra one tells there is a
    /// next page).
    fn results(&self, q: &ResultQuery) -> Result<Vec<ResultView>, StoreError>;
    /// `GET /results/latest`: per testcase the newest matching result (all of them when
    /// several share the newest time, as upstream), or with `_distinct_on` the newest per
    /// (testcase, values of the keys). `outcome`, `page`, `limit` and `_sort` are ignored.
    fn latest(&self, q: &ResultQuery) -> Result<Vec<ResultView>, StoreError>;
    /// The result this one follows: the newest (by submit time) of those stored before it
    /// with the same testcase and item, and the same `scenario` and `arch` when it has
    /// them. Event streams use it to say whether an outcome changed or repeats.
    fn previous_result(&self, v: &ResultView) -> Result<Option<ResultView>, StoreError>;
    /// A waiver by its local id.
    fn waiver(&self, id: i64) -> Result<Option<WaiverView>, StoreError>;
    /// The waivers matching any of `keys` (each an AND of exact fields; a key with no
    /// fields matches every waiver), in id order.
    fn waivers_matching(&self, keys: &[WaiverKeys]) -> Result<Vec<WaiverView>, StoreError>;
    /// Every recorded commit time `(seq, at)` (see [`ReadStore::stored_by`]); none for a
    /// store of schema version 1, which kept none.
    fn commit_times(&self) -> Result<Vec<(i64, i64)>, StoreError>;
    /// The newest log position this store had committed at or before `at` (0: none) —
    /// what it knew then, replicated entries counted from their arrival here.
    fn stored_by(&self, at: i64) -> Result<i64, StoreError>;
    /// Whether a file with this content hash has been ingested.
    fn is_ingested(&self, blake3: &str) -> Result<bool, StoreError>;
    /// A testcase by name.
    fn testcase(&self, name: &str) -> Result<Option<TestcaseView>, StoreError>;
    /// One page of `GET /testcases` (up to `limit + 1` rows), ordered by name.
    fn testcases(&self, q: &TestcaseQuery) -> Result<Vec<TestcaseView>, StoreError>;
    /// A group by uuid.
    fn group(&self, uuid: &str) -> Result<Option<GroupView>, StoreError>;
    /// One page of `GET /groups` (up to `limit + 1` rows), newest group first.
    fn groups(&self, q: &GroupQuery) -> Result<Vec<GroupView>, StoreError>;
    /// Up to `limit` log entries after local position `after`, in log order.
    fn entries_after(&self, after: i64, limit: usize) -> Result<Vec<(i64, Entry)>, StoreError>;
    /// Up to `limit` entries of `origin` after its position `after`, in origin-sequence
    /// order (replication: what a peer holding `after` of this origin lacks).
    fn origin_entries(&self, origin: &str, after: u64, limit: usize) -> Result<Vec<Entry>, StoreError>;
    /// The chain hash of `origin` at position `origin_seq` (the genesis hash at 0), if held.
    fn hash_at(&self, origin: &str, origin_seq: u64) -> Result<Option<Hash>, StoreError>;
    /// The gaps pruning left in origins' chains (of `origin`, or of all), by origin and position.
    fn gaps(&self, origin: Option<&str>) -> Result<Vec<Gap>, StoreError>;
    /// The newest local log position (0 for an empty log): changes when anything is
    /// appended, locally or by import.
    fn last_seq(&self) -> Result<i64, StoreError>;
    /// Each origin's chain head as recorded (the version vector).
    fn heads(&self) -> Result<Vec<OriginHead>, StoreError>;
    /// Counts and storage layout (`verdict stats`).
    fn stats(&self) -> Result<Stats, StoreError>;
    /// How many listed results have each outcome, most first (a scan: `verdict stats`).
    fn outcome_counts(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// Insight: the keys (testcase, scenario, arch) with pass or fail results matching `f`.
    fn run_keys(&self, f: &KeyFilter) -> Result<Vec<RunKey>, StoreError>;
    /// Insight: the pass/fail results of key `key` in `range`.
    fn runs(&self, key: i64, range: &RunRange) -> Result<Vec<RunRow>, StoreError>;
    /// Insight: the newest consecutive fails of key `key` (at or before log position
    /// `max_id`): how many, and the submit time of the oldest of them.
    fn fail_streak(&self, key: i64, max_id: Option<i64>) -> Result<(usize, i64), StoreError>;
    /// Insight: whether key `key` has a run with a submit time in `from..=to`.
    /// What pruned results of a key said, per UTC day in `from_day..=to_day` (either open),
    /// oldest first.
    fn run_days(&self, key: i64, from_day: Option<i64>, to_day: Option<i64>) -> Result<Vec<DaySummary>, StoreError>;
    fn has_runs(&self, key: i64, from: i64, to: i64) -> Result<bool, StoreError>;
    /// Known failures: how many results with `signature` came before `before` (at or
    /// before log position `max_id`), counting up to `cap`.
    fn failures_before(
        &self,
        signature: &str,
        before: FailureRow,
        max_id: Option<i64>,
        cap: usize,
    ) -> Result<usize, StoreError>;
    /// Known failures: results with `signature` (at or before `max_id`, and before
    /// `before`), oldest or newest first, at most `limit`.
    fn failures(
        &self,
        signature: &str,
        max_id: Option<i64>,
        before: Option<FailureRow>,
        oldest_first: bool,
        limit: usize,
    ) -> Result<Vec<FailureRow>, StoreError>;
    /// Data values starting with `prefix` (ids and texts), at most `limit`, by text.
    fn values_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<(i64, String)>, StoreError>;
    /// The interned id of a data value, if any result carries it.
    fn value_id(&self, text: &str) -> Result<Option<i64>, StoreError>;
    /// The texts of interned data values.
    fn value_texts(&self, ids: &[i64]) -> Result<HashMap<i64, String>, StoreError>;
    /// Quarantine entries at or before log position `max_seq` (`None`: all), of one rule
    /// when `uuid` is given, in log order.
    fn quarantine_entries(&self, uuid: Option<&str>, max_seq: Option<i64>) -> Result<Vec<QuarantineView>, StoreError>;
    /// The newest log position of a quarantine entry (0: none).
    fn quarantine_mark(&self) -> Result<i64, StoreError>;
}

/// The one writer: appends entries to this node's chain (local writes) or imports other
/// origins' entries, and applies each to the derived indexes in the same transaction.
pub trait WriteStore: Send {
    /// The node id local writes are sealed with.
    fn node_id(&self) -> &str;
    /// The dictionary handle callers prepare bodies with (see [`Prepared`]).
    fn shared_dict(&self) -> SharedDict;
    /// Runs `f` in one write transaction, committed durably only if `f` succeeds; on any
    /// error everything `f` wrote is rolled back. Call it through [`transaction`].
    fn run_transaction(
        &mut self,
        f: &mut dyn FnMut(&mut dyn WriteStore) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Applies local writes (results, testcase and group writes) in one durable
    /// transaction. Either all are committed and answered, or none is.
    fn write_local(&mut self, bodies: &[Body]) -> Result<Vec<Written>, StoreError>;
    /// Several callers' writes ("jobs") in one durable transaction (group commit). A job's
    /// flag says whether its caller wants the written records back (an HTTP answer) or only
    /// whether it was stored (the spool): building answers costs a read each.
    fn write_jobs(&mut self, jobs: &[(&[Prepared], bool)]) -> Result<Vec<Vec<Written>>, StoreError>;
    /// Called by the write queue when a write arrives, before it gathers the batch: a
    /// store other servers write too waits here for its turn (their transactions hold
    /// the write lock), so the batch takes in every request that arrived meanwhile. The
    /// next `write_jobs` runs in that turn. An error here is reported by that call.
    fn await_turn(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Inside a transaction: one caller's writes. A job that starts with the ingest of a
    /// file already recorded is skipped whole: that file's results are already stored.
    fn write_job(&mut self, bodies: &[Prepared], answers: bool) -> Result<Vec<Written>, StoreError>;
    /// Inside a transaction: appends one local write without building its view. Returns
    /// false when it changed nothing (a result uuid already stored, an existing testcase
    /// named without changes).
    fn append(&mut self, body: &Body) -> Result<bool, StoreError>;
    /// Inside a transaction: `bodies` are about to be appended one by one (a hint: a
    /// backend with costly lookups may fetch what it needs for all of them at once).
    fn expect(&mut self, bodies: &mut dyn Iterator<Item = &Body>) -> Result<(), StoreError> {
        let _ = bodies;
        Ok(())
    }
    /// [`WriteStore::append`] for a body encoded (and maybe compressed) by the caller.
    fn append_prepared(&mut self, p: &Prepared) -> Result<bool, StoreError>;
    /// Imports entries of other origins (replication, bundles, replay) in one transaction.
    /// An entry already held with the same hash is skipped; a gap, a broken chain or a
    /// different hash for a held position is refused and nothing of the batch is kept.
    fn import(&mut self, entries: &[Entry]) -> Result<Vec<ImportOutcome>, StoreError>;
    /// [`WriteStore::import`] at the given log positions (`replay`: a rebuilt store keeps
    /// every result id, also where pruning left holes).
    fn replay(&mut self, entries: &[(i64, Entry)]) -> Result<Vec<ImportOutcome>, StoreError>;
    /// Like [`WriteStore::import`] for entries already verified to chain: each comes with
    /// the predecessor hash its own hash was checked against (a change-stream reader does
    /// that), so only that predecessor is compared with this store's chain head.
    fn import_verified(&mut self, gaps: &[Gap], entries: &[(Entry, Hash)]) -> Result<Vec<ImportOutcome>, StoreError>;
    /// The newest log position.
    fn last_seq(&self) -> Result<i64, StoreError>;
    /// How long the last transaction's COMMIT statement took (writing the WAL and its
    /// fsync), for the service's metrics; `None` when not measured.
    fn last_commit_duration(&self) -> Option<std::time::Duration> {
        None
    }
    /// Whether a result with this uuid is stored (an interrupted `submit` resumes past the
    /// results it stored before).
    fn has_result(&self, uuid: &str) -> Result<bool, StoreError>;
    /// Whether a file with this content hash has been ingested.
    fn is_ingested(&self, blake3: &str) -> Result<bool, StoreError>;
    /// Replaces the recorded commit times (`replay` carries the source store's over: the
    /// rebuilt store holds the same entries at the same positions, stored when they were).
    fn set_commit_times(&mut self, times: &[(i64, i64)]) -> Result<(), StoreError>;
    /// Records gaps of origins' chains that a peer's stream or a replayed store announced
    /// ahead of the horizon entries that declare them (one transaction).
    fn announce_gaps(&mut self, gaps: &[Gap]) -> Result<(), StoreError>;
    /// One transaction of `verdict prune`: up to `limit` of the oldest results submitted
    /// before `before` (of testcases matching `like`) pruned under horizon entries.
    fn prune_step(&mut self, before: i64, like: Option<&str>, limit: usize) -> Result<PruneStep, StoreError>;
    /// Gives the space pruning freed back to the file system.
    fn vacuum(&mut self) -> Result<(), StoreError>;
    /// Between transactions: keeps the write-ahead storage bounded (SQLite: restarts the
    /// WAL once it has grown past a limit).
    fn tend_wal(&mut self) -> Result<(), StoreError>;
    /// Sets the size past which [`WriteStore::tend_wal`] acts (default 256 MiB; less on a
    /// small disk).
    fn set_wal_limit(&mut self, bytes: i64);
    /// Between transactions: moves new postings into the main index when a fold round is
    /// due or under way, a piece per transaction, at least as many as were added since the
    /// last call (SQLite: `writer/fold.rs`). Returns whether more pieces are waiting (call
    /// again when idle).
    fn tend_postings(&mut self) -> Result<bool, StoreError>;
    /// Sets the new-postings count that starts a fold round and the rows per piece
    /// (tests fold tiny stores; the defaults suit every size).
    fn set_fold_limits(&mut self, at: i64, piece: i64);
}

/// Runs `f` inside one read transaction of `r`: a consistent snapshot of the store.
pub fn snapshot<T, E: From<StoreError>>(r: &dyn ReadStore, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    r.begin_read()?;
    let out = f();
    r.end_read();
    out
}

/// Runs `f` in one write transaction of `w`, committed durably only if `f` succeeds (see
/// [`WriteStore::run_transaction`]); `f`'s own error comes back unchanged.
pub fn transaction<T, E: From<StoreError>>(
    w: &mut dyn WriteStore,
    f: impl FnOnce(&mut dyn WriteStore) -> Result<T, E>,
) -> Result<T, E> {
    let mut f = Some(f);
    let (mut value, mut failed) = (None, None);
    let outcome = w.run_transaction(&mut |w| match f.take().map(|f| f(w)) {
        Some(Ok(v)) => {
            value = Some(v);
            Ok(())
        }
        Some(Err(e)) => {
            failed = Some(e);
            Err(StoreError::RolledBack)
        }
        None => Err(StoreError::RolledBack),
    });
    if let Some(e) = failed {
        return Err(e);
    }
    outcome?;
    value.ok_or_else(|| StoreError::RolledBack.into())
}
