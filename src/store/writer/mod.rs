//! The single write connection: appends log entries and applies them to the derived tables.
//!
//! Local writes and imported entries (replication, replay) go through the same
//! [`Writer::apply`], so a store rebuilt from its log is identical to the live one.

use super::codec::{Compressed, Decoder, Encoder, Prepared, SharedDict, stored_bytes};
use super::disk::{DiskState, WriterDisk};
use super::reader::{group_by_uuid, testcase_by_name, view_by_id};
use super::{StoreError, WriteStore};
use crate::log::{Body, Entry, Gap, Hash, Kind, import};
use crate::model::{
    GroupRecord, GroupView, IngestRecord, QuarantineView, ResultView, TestcaseRecord, TestcaseView, Timestamp,
    WaiverRecord, WaiverView,
};
use foldhash::HashMap;
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

mod fold;
mod intern;
pub(super) mod lww;
pub(super) mod prune;
mod quarantines;
mod results;
pub(super) mod runs;

use intern::{DATA_KEYS, DATA_VALUES, TESTCASES, intern, lookup, remember};
use lww::{LwwField, Pending};
pub use prune::PruneStep;

/// What a local write produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// A result; `created` is false when its uuid was already stored (an idempotent retry).
    Result {
        view: ResultView,
        created: bool,
    },
    Testcase(TestcaseView),
    Group(GroupView),
    /// A result file; `created` is false when its hash was already recorded (its results
    /// were then not written again).
    Ingest {
        created: bool,
    },
    Waiver(WaiverView),
    Quarantine(QuarantineView),
    /// A horizon (written by `prune`, never by a client's write).
    Horizon,
}

/// What importing one foreign entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    Applied,
    /// The store already holds this (origin, origin_seq) with the same hash.
    AlreadyHeld,
    /// A horizon pruned this position here: the entry is not imported again.
    Pruned,
}

/// The last entry of one origin's chain.
#[derive(Debug, Clone)]
pub(in crate::store) struct Head {
    pub seq: u64,
    pub hash: Hash,
    pub ts: i64,
    /// Changed in this transaction (written back at commit).
    pub dirty: bool,
}

impl Head {
    /// The head of an origin with no entries.
    pub(in crate::store) const EMPTY: Head = Head { seq: 0, hash: Hash::GENESIS, ts: 0, dirty: false };
}

/// Who set a last-writer-wins field: compared as a tuple, the same on every node.
pub(in crate::store) struct Stamp<'a> {
    pub ts: i64,
    pub origin: &'a str,
    pub oseq: i64,
}

/// The write connection plus id caches. Caches only ever hold committed or
/// current-transaction ids and are cleared on rollback.
pub struct Writer {
    conn: Connection,
    node: String,
    origins: HashMap<String, i64>,
    heads: HashMap<i64, Head>,
    testcases: HashMap<String, i64>,
    groups: HashMap<String, i64>,
    keys: HashMap<String, i64>,
    values: HashMap<String, i64>,
    /// Insight keys (testcase id, scenario, arch) → `run_keys` id.
    run_keys: HashMap<String, i64>,
    encoder: Encoder,
    decoder: Decoder,
    /// Frames in the WAL after the last commit (SQLite's WAL hook reports it).
    wal_frames: Arc<AtomicI64>,
    page_size: i64,
    /// Last-writer-wins updates of this transaction, applied once at its end: a batch
    /// naming one testcase a thousand times updates its row once.
    lww: HashMap<(LwwField, i64), Pending>,
    /// The newest log position this transaction wrote, recorded in `commit_times`.
    wrote_up_to: Option<i64>,
    /// Insight keys whose runs this transaction added or removed, with the newest log
    /// position that did (recorded in `run_key_changes` at commit).
    runs_changed: HashMap<i64, i64>,
    /// Whether the disk is full (writes then fail fast), and the WAL size to keep to.
    disk: WriterDisk,
    /// How long the last COMMIT statement took (see [`WriteStore::last_commit_duration`]).
    commit_took: Option<std::time::Duration>,
    /// Results a prune step decoded (with their testcase id and facets), taken by the
    /// horizon that drops them in the same transaction.
    pruning: HashMap<i64, prune::Known>,
    /// New postings waiting in `result_data_recent` and the fold round (see `fold.rs`).
    fold: fold::Fold,
}

/// Past this size the writer restarts the WAL from its beginning.
const WAL_RESTART_BYTES: i64 = 256 * 1024 * 1024;

impl Writer {
    pub(super) fn new(mut conn: Connection, node: String, disk: Arc<DiskState>) -> Result<Writer, StoreError> {
        let wal_frames = Arc::new(AtomicI64::new(0));
        let frames = wal_frames.clone();
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: std::ffi::c_int| {
            frames.store(i64::from(pages), Ordering::Relaxed);
            Ok(())
        }))?;
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(Writer {
            wal_frames,
            page_size,
            encoder: Encoder::load(&conn)?,
            lww: HashMap::default(),
            wrote_up_to: None,
            runs_changed: HashMap::default(),
            decoder: Decoder::default(),
            conn,
            node,
            origins: HashMap::default(),
            heads: HashMap::default(),
            testcases: HashMap::default(),
            groups: HashMap::default(),
            keys: HashMap::default(),
            values: HashMap::default(),
            run_keys: HashMap::default(),
            disk: WriterDisk::new(disk, WAL_RESTART_BYTES),
            commit_took: None,
            pruning: HashMap::default(),
            fold: fold::Fold::default(),
        })
    }

    /// Runs `f` in one write transaction, committed (durably) only if `f` succeeds; on any
    /// error everything `f` wrote is rolled back. Bulk loads use this with [`Writer::append`].
    /// While the disk is full it fails at once with [`StoreError::DiskFull`].
    pub fn transaction<T, E: From<StoreError>>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, E>) -> Result<T, E> {
        if !self.disk.may_write(&self.conn) {
            return Err(self.disk.error().into());
        }
        // Cached statements: `execute_batch` parsed BEGIN and COMMIT again for every
        // transaction (4% of the writer's time at one POST at a time).
        self.conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .map_err(|e| self.disk.locate(e.into()))?;
        self.wrote_up_to = None;
        let mut full = false;
        let outcome = self.load_heads().map_err(E::from).and_then(|()| f(self)).and_then(|v| {
            let committed = self.commit().map_err(|e| self.disk.locate(e));
            full = committed.as_ref().is_err_and(StoreError::is_disk_full);
            committed.map(|()| v).map_err(E::from)
        });
        if outcome.is_err() {
            // Ids cached during the failed transaction no longer exist.
            let _ = self.conn.execute_batch("ROLLBACK");
            self.testcases.clear();
            self.groups.clear();
            self.keys.clear();
            self.values.clear();
            self.run_keys.clear();
            self.runs_changed.clear();
            self.pruning.clear();
            self.lww.clear();
            self.fold.forget();
            self.decoder = Decoder::default();
            if let Err(e) = self.encoder.forget_uncommitted(&self.conn) {
                tracing::error!(error = %e, "cannot reload the body dictionary after a rollback");
            }
            self.disk.after_failure(&self.conn, full);
        }
        outcome
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.flush_lww()?;
        self.flush_heads()?;
        self.flush_run_changes()?;
        self.record_commit_time()?;
        let started = std::time::Instant::now();
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        self.commit_took = Some(started.elapsed());
        Ok(())
    }

    /// Records when the entries this transaction wrote were stored (never earlier than a
    /// previous commit, even if the clock steps back): decisions `when` read it.
    fn record_commit_time(&mut self) -> Result<(), StoreError> {
        if let Some(seq) = self.wrote_up_to.take() {
            self.conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO commit_times(seq, at)
                     VALUES(?1, max(?2, coalesce((SELECT max(at) FROM commit_times), ?2)))",
                )?
                .execute(params![seq, Timestamp::now().0])?;
        }
        Ok(())
    }

    fn append_with(&mut self, body: &Body, pre: Option<(&str, Option<&Compressed>)>) -> Result<bool, StoreError> {
        match body {
            Body::Result(r) if self.result_id_by_uuid(&r.uuid)?.is_some() => Ok(false),
            Body::Testcase(t) if t.ref_url.is_none() && self.testcase_id(&t.name)?.is_some() => Ok(false),
            Body::Ingest(i) if self.is_ingested(&i.blake3)? => Ok(false),
            // A waiver's uuid is fresh for every API write; an imported one is derived from
            // its upstream row, and importing it again must add nothing.
            Body::Waiver(w) if self.waiver_id(&w.uuid)?.is_some() => Ok(false),
            _ => {
                self.append_local(body, pre)?;
                Ok(true)
            }
        }
    }

    /// Chain heads are re-read inside every transaction: another process may have written.
    fn load_heads(&mut self) -> Result<(), StoreError> {
        self.origins.clear();
        self.heads.clear();
        let mut stmt = self.conn.prepare_cached("SELECT id, node, head_seq, head_hash, head_ts FROM origins")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let hash: Vec<u8> = row.get(3)?;
            let hash = Hash::from_slice(&hash).ok_or_else(|| StoreError::Corrupt {
                seq: 0,
                reason: format!("origin {id} head hash is not 32 bytes"),
            })?;
            self.origins.insert(row.get(1)?, id);
            self.heads.insert(id, Head { seq: row.get::<_, i64>(2)? as u64, hash, ts: row.get(4)?, dirty: false });
        }
        Ok(())
    }

    /// Where `origin_id`'s chain ends here (the empty head for an origin with none).
    fn head(&self, origin_id: i64) -> Head {
        self.heads.get(&origin_id).cloned().unwrap_or(Head::EMPTY)
    }

    fn flush_heads(&mut self) -> Result<(), StoreError> {
        let mut stmt =
            self.conn.prepare_cached("UPDATE origins SET head_seq = ?1, head_hash = ?2, head_ts = ?3 WHERE id = ?4")?;
        for (id, head) in self.heads.iter_mut().filter(|(_, h)| h.dirty) {
            stmt.execute(params![head.seq as i64, &head.hash.0[..], head.ts, id])?;
            head.dirty = false;
        }
        Ok(())
    }

    fn origin_id(&mut self, node: &str) -> Result<i64, StoreError> {
        if let Some(id) = self.origins.get(node) {
            return Ok(*id);
        }
        self.conn.execute("INSERT INTO origins(node) VALUES(?1)", [node])?;
        let id = self.conn.last_insert_rowid();
        self.origins.insert(node.to_owned(), id);
        self.heads.insert(id, Head::EMPTY);
        Ok(id)
    }

    /// The answer for one appended body.
    fn written(&self, body: &Body, created: bool) -> Result<Written, StoreError> {
        match body {
            Body::Result(r) => {
                let ids = self.result_ids_by_uuid(&r.uuid)?;
                let first =
                    *ids.first().ok_or_else(|| StoreError::Corrupt { seq: 0, reason: "result not stored".into() })?;
                // After a conflict a uuid holds several results: answer with the one this
                // request stored (or would have), so a retry is recognised.
                let mut view = self.view(first)?;
                for id in ids.iter().skip(1) {
                    if view.record.same_request(r) {
                        break;
                    }
                    view = self.view(*id)?;
                }
                Ok(Written::Result { view, created })
            }
            Body::Testcase(t) => {
                let view = testcase_by_name(&self.conn, &t.name)?;
                view.map(Written::Testcase)
                    .ok_or_else(|| StoreError::Corrupt { seq: 0, reason: "testcase not stored".into() })
            }
            Body::Group(g) => {
                let view = group_by_uuid(&self.conn, &g.uuid)?;
                view.map(Written::Group)
                    .ok_or_else(|| StoreError::Corrupt { seq: 0, reason: "group not stored".into() })
            }
            Body::Ingest(_) => Ok(Written::Ingest { created }),
            Body::Waiver(w) => {
                let id = self
                    .waiver_id(&w.uuid)?
                    .ok_or_else(|| StoreError::Corrupt { seq: 0, reason: "waiver not stored".into() })?;
                Ok(Written::Waiver(WaiverView { id, record: w.clone() }))
            }
            Body::Quarantine(q) => Ok(Written::Quarantine(self.written_quarantine(q)?)),
            Body::Horizon(_) => Ok(Written::Horizon),
        }
    }

    fn view(&self, id: i64) -> Result<ResultView, StoreError> {
        view_by_id(&self.conn, &self.decoder, id)?
            .ok_or(StoreError::Corrupt { seq: 0, reason: format!("result {id} vanished") })
    }

    /// Seals `body` onto this node's chain, stores the entry and applies it.
    fn append_local(
        &mut self,
        body: &Body,
        pre: Option<(&str, Option<&Compressed>)>,
    ) -> Result<Option<i64>, StoreError> {
        let node = self.node.clone();
        let origin_id = self.origin_id(&node)?;
        let head = self.head(origin_id);
        // Timestamps never go backwards within an origin, even if the clock does, so a
        // local overwrite always wins last-writer-wins against this node's earlier writes.
        let ts = Timestamp::now().0.max(head.ts);
        let json = pre.map(|(json, _)| json.to_owned()).unwrap_or_else(|| body.encode());
        let entry = Entry::seal(&head.hash, &node, head.seq + 1, body.kind(), ts, json);
        let seq = self.insert_entry(origin_id, &entry, pre.and_then(|(_, c)| c), None)?;
        let stamp = Stamp { ts, origin: &node, oseq: entry.origin_seq as i64 };
        // `append_with` found no result under this uuid: no holder to compare with.
        self.apply(seq, &stamp, body, true)
    }

    /// Imports one foreign entry (at log position `at` when given: a replay keeps them).
    fn import_one(
        &mut self,
        entry: &Entry,
        verified_prev: Option<&Hash>,
        at: Option<i64>,
    ) -> Result<ImportOutcome, StoreError> {
        let refuse =
            |reason: String| StoreError::Refused { origin: entry.origin.clone(), origin_seq: entry.origin_seq, reason };
        let origin_id = self.origin_id(&entry.origin)?;
        let head = self.head(origin_id);
        let head = if entry.origin_seq > head.seq + 1 {
            // The chain may go on after a gap this store recorded (pruned, or announced).
            self.step_over_gaps(origin_id)?;
            self.heads.get(&origin_id).cloned().unwrap_or(head)
        } else {
            head
        };
        if entry.origin_seq <= head.seq {
            let held = self.held_entry(origin_id, entry.origin_seq)?;
            let in_gap = held.is_none() && self.in_gap(origin_id, entry.origin_seq)?;
            return match import::at_or_below_head(entry, held.as_ref(), in_gap).map_err(refuse)? {
                import::Known::AlreadyHeld => Ok(ImportOutcome::AlreadyHeld),
                import::Known::Pruned => Ok(ImportOutcome::Pruned),
            };
        }
        import::extends(entry, head.seq, &head.hash, verified_prev).map_err(refuse)?;
        let body = Body::decode(entry.kind, &entry.body).map_err(|e| refuse(e.to_string()))?;
        let seq = self.insert_entry(origin_id, entry, None, at)?;
        let stamp = Stamp { ts: entry.ts, origin: &entry.origin, oseq: entry.origin_seq as i64 };
        self.apply(seq, &stamp, &body, false)?;
        Ok(ImportOutcome::Applied)
    }

    /// The entry this store holds at (origin, origin_seq), decoded.
    fn held_entry(&self, origin_id: i64, origin_seq: u64) -> Result<Option<import::Held>, StoreError> {
        let row = self
            .conn
            .prepare_cached("SELECT seq, hash, kind, enc, body, ts FROM log WHERE origin_id = ?1 AND origin_seq = ?2")?
            .query_row(params![origin_id, origin_seq as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)?, stored_bytes(r, 4)?, r.get(5)?))
            })
            .optional()?;
        let Some((seq, hash, kind, enc, body, ts)) = row else { return Ok(None) };
        Ok(Some(import::Held { hash, kind, body: self.decoder.decode(&self.conn, seq, enc, body)?, ts }))
    }

    /// Stores an entry at the next log position, or at `at` (a replay keeps positions, so
    /// result ids survive even where pruning left holes).
    fn insert_entry(
        &mut self,
        origin_id: i64,
        e: &Entry,
        pre: Option<&Compressed>,
        at: Option<i64>,
    ) -> Result<i64, StoreError> {
        let (enc, stored) = self.encoder.encode_prepared(&e.body, pre)?;
        self.conn
            .prepare_cached(
                "INSERT INTO log(seq, origin_id, origin_seq, kind, ts, enc, body, hash) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![at, origin_id, e.origin_seq as i64, e.kind.as_str(), e.ts, enc, stored, &e.hash.0[..]])?;
        let seq = self.conn.last_insert_rowid();
        self.wrote_up_to = Some(seq);
        self.heads.insert(origin_id, Head { seq: e.origin_seq, hash: e.hash, ts: e.ts, dirty: true });
        // Cheap unless a dictionary is due: then it trains on the plain bodies so far.
        self.encoder.maybe_train(&self.conn)?;
        Ok(seq)
    }

    /// Applies one entry's body to the derived tables; returns the result id for results.
    /// `uuid_is_new`: the caller knows no result holds a result body's uuid yet.
    fn apply(&mut self, seq: i64, stamp: &Stamp, body: &Body, uuid_is_new: bool) -> Result<Option<i64>, StoreError> {
        match body {
            Body::Result(r) => self.apply_result(seq, stamp, r, uuid_is_new),
            Body::Testcase(t) => {
                self.touch_testcase(stamp, t)?;
                Ok(None)
            }
            Body::Group(g) => {
                self.touch_group(stamp, g)?;
                Ok(None)
            }
            Body::Ingest(i) => {
                self.record_ingest(seq, i)?;
                Ok(None)
            }
            Body::Waiver(w) => self.apply_waiver(seq, w),
            Body::Quarantine(q) => self.apply_quarantine(seq, q),
            Body::Horizon(h) => {
                self.apply_horizon(seq, h)?;
                Ok(None)
            }
        }
    }

    /// Indexes a waiver under its log position (a uuid seen before is not indexed again).
    fn apply_waiver(&mut self, seq: i64, w: &WaiverRecord) -> Result<Option<i64>, StoreError> {
        let fresh = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO waivers(id, uuid, subject_type, subject_identifier, testcase, scenario,
                 product_version, username, timestamp, waived, comment, proxied_by, expires_at)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                seq,
                w.uuid,
                w.subject_type,
                w.subject_identifier,
                w.testcase,
                w.scenario,
                w.product_version,
                w.username,
                w.timestamp,
                w.waived,
                w.comment,
                w.proxied_by,
                w.expires_at
            ])?;
        if fresh == 0 {
            return self.waiver_id(&w.uuid);
        }
        Ok(Some(seq))
    }

    /// The local id of the waiver with this uuid, if one is stored.
    fn waiver_id(&self, uuid: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM waivers WHERE uuid = ?1")?
            .query_row([uuid], |r| r.get(0))
            .optional()?)
    }

    fn record_ingest(&mut self, seq: i64, i: &IngestRecord) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO ingests(blake3, seq, name, results) VALUES(?1, ?2, ?3, ?4)")?
            .execute(params![i.blake3, seq, i.name, i.results as i64])?;
        Ok(())
    }

    /// A testcase's id if it exists (without creating it).
    fn testcase_id(&mut self, name: &str) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.testcases.get(name) {
            return Ok(Some(*id));
        }
        let id = lookup(&self.conn, &TESTCASES, name)?;
        if let Some(id) = id {
            remember(&mut self.testcases, name, id);
        }
        Ok(id)
    }

    /// Creates the testcase if missing and applies its `ref_url` last-writer-wins.
    fn touch_testcase(&mut self, stamp: &Stamp, t: &TestcaseRecord) -> Result<i64, StoreError> {
        let id = intern(&self.conn, &mut self.testcases, &TESTCASES, &t.name)?;
        if let Some(ref_url) = &t.ref_url {
            self.defer(LwwField::TestcaseRefUrl, id, ref_url, stamp);
        }
        Ok(id)
    }

    /// Creates the group if missing and applies present fields last-writer-wins.
    fn touch_group(&mut self, stamp: &Stamp, g: &GroupRecord) -> Result<i64, StoreError> {
        let id = match self.groups.get(&g.uuid) {
            Some(id) => *id,
            None => {
                let found: Option<i64> = self
                    .conn
                    .prepare_cached("SELECT id FROM grp WHERE uuid = ?1")?
                    .query_row([&g.uuid], |r| r.get(0))
                    .optional()?;
                let id = match found {
                    Some(id) => id,
                    None => {
                        self.conn.prepare_cached("INSERT INTO grp(uuid) VALUES(?1)")?.execute([&g.uuid])?;
                        self.conn.last_insert_rowid()
                    }
                };
                self.groups.insert(g.uuid.clone(), id);
                id
            }
        };
        if let Some(description) = &g.description {
            self.defer(LwwField::GroupDescription, id, description, stamp);
        }
        if let Some(ref_url) = &g.ref_url {
            self.defer(LwwField::GroupRefUrl, id, ref_url, stamp);
        }
        Ok(id)
    }

    fn intern_key(&mut self, key: &str) -> Result<i64, StoreError> {
        intern(&self.conn, &mut self.keys, &DATA_KEYS, key)
    }

    fn intern_value(&mut self, value: &str) -> Result<i64, StoreError> {
        intern(&self.conn, &mut self.values, &DATA_VALUES, value)
    }

    /// Which kinds of entries the log holds and how many (used by tests and `stats`).
    pub fn count_entries(&self, kind: Kind) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT count(*) FROM log WHERE kind = ?1", [kind.as_str()], |r| r.get(0))?)
    }
}

impl WriteStore for Writer {
    fn run_transaction(
        &mut self,
        f: &mut dyn FnMut(&mut dyn WriteStore) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.transaction(|w| f(w))
    }

    fn write_local(&mut self, bodies: &[Body]) -> Result<Vec<Written>, StoreError> {
        let prepared: Vec<Prepared> = bodies.iter().map(|b| Prepared::plain(b.clone())).collect();
        self.transaction(|w| w.write_job(&prepared, true))
    }

    fn shared_dict(&self) -> SharedDict {
        self.encoder.shared()
    }

    fn write_jobs(&mut self, jobs: &[(&[Prepared], bool)]) -> Result<Vec<Vec<Written>>, StoreError> {
        self.transaction(|w| jobs.iter().map(|(job, answers)| w.write_job(job, *answers)).collect())
            .map_err(|e| self.disk.locate(e))
    }

    fn write_job(&mut self, bodies: &[Prepared], answers: bool) -> Result<Vec<Written>, StoreError> {
        if let Some(Body::Ingest(i)) = bodies.first().map(|p| &p.body)
            && self.is_ingested(&i.blake3)?
        {
            return Ok(vec![Written::Ingest { created: false }]);
        }
        let created: Vec<bool> = bodies.iter().map(|p| self.append_prepared(p)).collect::<Result<_, _>>()?;
        if !answers {
            return Ok(match bodies.first().map(|p| &p.body) {
                Some(Body::Ingest(_)) => vec![Written::Ingest { created: true }],
                _ => Vec::new(),
            });
        }
        // The answers show testcases' and groups' current fields: apply deferred updates.
        self.flush_lww()?;
        bodies.iter().zip(created).map(|(p, c)| self.written(&p.body, c)).collect()
    }

    fn last_commit_duration(&self) -> Option<std::time::Duration> {
        self.commit_took
    }

    fn last_seq(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT coalesce(max(seq), 0) FROM log", [], |r| r.get(0))?)
    }

    fn has_result(&self, uuid: &str) -> Result<bool, StoreError> {
        Ok(self.result_id_by_uuid(uuid)?.is_some())
    }

    fn is_ingested(&self, blake3: &str) -> Result<bool, StoreError> {
        super::reader::is_ingested(&self.conn, blake3)
    }

    fn import(&mut self, entries: &[Entry]) -> Result<Vec<ImportOutcome>, StoreError> {
        self.transaction(|w| entries.iter().map(|e| w.import_one(e, None, None)).collect())
            .map_err(|e| self.disk.locate(e))
    }

    fn replay(&mut self, entries: &[(i64, Entry)]) -> Result<Vec<ImportOutcome>, StoreError> {
        self.transaction(|w| entries.iter().map(|(seq, e)| w.import_one(e, None, Some(*seq))).collect())
            .map_err(|e| self.disk.locate(e))
    }

    fn import_verified(&mut self, gaps: &[Gap], entries: &[(Entry, Hash)]) -> Result<Vec<ImportOutcome>, StoreError> {
        self.transaction(|w| {
            for g in gaps {
                let origin_id = w.origin_id(&g.origin)?;
                w.declare_gap(origin_id, g, None)?;
            }
            entries.iter().map(|(e, prev)| w.import_one(e, Some(prev), None)).collect()
        })
        .map_err(|e| self.disk.locate(e))
    }

    fn announce_gaps(&mut self, gaps: &[Gap]) -> Result<(), StoreError> {
        self.transaction(|w| {
            for g in gaps {
                let origin_id = w.origin_id(&g.origin)?;
                w.declare_gap(origin_id, g, None)?;
            }
            Ok(())
        })
        .map_err(|e| self.disk.locate(e))
    }

    fn prune_step(&mut self, before: i64, like: Option<&str>, limit: usize) -> Result<PruneStep, StoreError> {
        self.transaction(|w| w.prune_step(before, like, limit)).map_err(|e| self.disk.locate(e))
    }

    fn vacuum(&mut self) -> Result<(), StoreError> {
        self.reclaim_space()
    }

    fn set_commit_times(&mut self, times: &[(i64, i64)]) -> Result<(), StoreError> {
        self.transaction(|w| {
            w.conn.execute("DELETE FROM commit_times", [])?;
            let mut stmt = w.conn.prepare_cached("INSERT INTO commit_times(seq, at) VALUES(?1, ?2)")?;
            for (seq, at) in times {
                stmt.execute([seq, at])?;
            }
            Ok(())
        })
    }

    fn tend_wal(&mut self) -> Result<(), StoreError> {
        // Under a steady write load a passive checkpoint never finds the WAL fully copied,
        // so SQLite keeps appending to it. Once it passes the limit the writer (the only
        // writer, so nobody can append meanwhile) runs a RESTART checkpoint: it copies the
        // few frames the background passive checkpoints have not, and the next transaction
        // writes from the start of the file again. The fill is what SQLite's WAL hook
        // reported for the last commit, not the file's size: a restart leaves the file as
        // long as it was, so the size kept every later commit restarting (5–15 ms of fsyncs
        // each), and truncating the file instead cost ~60 ms a time. On a small disk the
        // limit is lower (see `WriterDisk::wal_due`).
        if self.disk.wal_due(self.wal_frames.load(Ordering::Relaxed) * self.page_size) {
            let restart = self.conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
            restart.map_err(|e| self.disk.locate(e.into()))?;
            self.disk.wal_restarted();
        }
        Ok(())
    }

    fn set_wal_limit(&mut self, bytes: i64) {
        self.disk.set_wal_max(bytes);
    }

    fn tend_postings(&mut self) -> Result<bool, StoreError> {
        self.fold_piece().map_err(|e| self.disk.locate(e))
    }

    fn set_fold_limits(&mut self, at: i64, piece: i64) {
        self.fold.set_limits(at, piece);
    }

    fn append(&mut self, body: &Body) -> Result<bool, StoreError> {
        self.append_with(body, None).map_err(|e| self.disk.locate(e))
    }

    fn append_prepared(&mut self, p: &Prepared) -> Result<bool, StoreError> {
        self.append_with(&p.body, Some((&p.json, p.compressed.as_ref()))).map_err(|e| self.disk.locate(e))
    }

    fn node_id(&self) -> &str {
        &self.node
    }
}
