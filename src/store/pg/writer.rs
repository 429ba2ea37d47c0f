//! The PostgreSQL writer: one per server, and all servers' write transactions one at a
//! time under the advisory lock (see `pg/mod.rs`). It appends log entries on the
//! database's chain or imports other origins' entries, and applies each to the derived
//! tables in the same transaction, as the SQLite writer does.
//!
//! Round trips are what a PostgreSQL writer pays for, so the rows a result adds to the
//! log and the derived tables are buffered ([`Rows`]) and written with one multi-row
//! INSERT per table (`unnest` of arrays) before anything reads them and at commit.

use super::conn::{Conn, Param, Params};
use super::rows::Rows;
use super::{CHANNEL, WRITE_LOCK};
use crate::log::{Body, Entry, Gap, Hash, import};
use crate::model::{ResultView, TestcaseView, Timestamp, WaiverView};
use crate::store::api::WriteStore;
use crate::store::writer::lww::{LwwField, Pending};
pub(super) use crate::store::writer::{Head, Stamp};
use crate::store::{ImportOutcome, Prepared, PruneStep, SharedDict, StoreError, Written};
use foldhash::HashMap;

/// Id caches hold only committed or current-transaction ids (cleared on rollback); ids
/// are never changed once committed, so another server's writes cannot make them stale.
pub struct PgWriter {
    pub(super) conn: Conn,
    node: String,
    pub(super) origins: HashMap<String, i64>,
    pub(super) heads: HashMap<i64, Head>,
    pub(super) testcases: HashMap<String, i64>,
    pub(super) groups: HashMap<String, i64>,
    pub(super) keys: HashMap<String, i64>,
    pub(super) values: HashMap<String, i64>,
    pub(super) run_keys: HashMap<String, i64>,
    /// Deferred last-writer-wins values: (field, row id) → value and stamp.
    pub(super) lww: HashMap<(LwwField, i64), Pending>,
    /// The next log position (read under the lock at the start of each transaction).
    next_seq: i64,
    /// The newest log position this transaction wrote.
    wrote_up_to: Option<i64>,
    /// Insight keys whose runs this transaction changed, with the newest position.
    pub(super) runs_changed: HashMap<i64, i64>,
    /// Rows waiting for their multi-row INSERT.
    pub(super) rows: Rows,
    /// Testcases' `ref_url`s read for answers in this transaction (see `testcase_ref_url`),
    /// with this transaction's own last-writer-wins changes (see `predict_ref_url`).
    pub(super) ref_urls: HashMap<String, Option<String>>,
    /// The stamps of the `ref_url`s in `ref_urls` as BEGIN read them, raised by this
    /// transaction's own newer values: what the deferred UPDATE will compare against.
    pub(super) ref_stamps: HashMap<String, (i64, String, i64)>,
    /// Whether a deferred field's outcome is not known here (a group's field, or a
    /// testcase whose stamp BEGIN did not read): answers then wait for `flush_lww`.
    pub(super) lww_unpredicted: bool,
    /// Results waiting for their ids (see `bulk.rs`).
    pub(super) pending: Vec<super::bulk::PendingResult>,
    commit_took: Option<std::time::Duration>,
    /// Uuids of this transaction's batch known not to be stored (see `prefetch_uuids`).
    pub(super) absent_uuids: std::collections::HashSet<Vec<u8>>,
    /// Whether a transaction is open (a nested `run_transaction` runs inside it).
    in_transaction: bool,
    /// Whether a transaction was opened and the write lock taken ahead of the next one
    /// (see `await_turn`), which then runs in it.
    turn: bool,
    /// What the next transaction's batch names, looked up in its first round trip.
    expected: Expected,
    /// The newest log position this writer knows committed: read under the lock at each
    /// BEGIN, raised at each COMMIT (another server's later ones arrive by NOTIFY).
    known_seq: i64,
}

/// Opens a transaction and takes the write lock every server's write transaction holds
/// (see `pg/mod.rs`): a turn to write.
const TAKE_TURN: [(&str, Params<'static>); 2] = [("BEGIN", &[]), ("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])];

/// The result uuids (keys), testcase names and data of a batch about to be written:
/// whether the uuids are stored and the testcases' `ref_url`s are read, and the data keys
/// and values the caches lack are created and looked up, in the transaction's first
/// round trip (a POST's new item value cost a round trip of its own).
#[derive(Default)]
struct Expected {
    uuids: Vec<Vec<u8>>,
    testcases: Vec<String>,
    keys: Vec<String>,
    values: Vec<String>,
}

impl Expected {
    fn of<'a>(bodies: impl Iterator<Item = &'a Body>) -> Expected {
        let mut expected = Expected::default();
        for body in bodies {
            if let Body::Result(r) = body {
                expected.uuids.push(crate::store::uuid_key(&r.uuid));
                if !expected.testcases.contains(&r.testcase.name) {
                    expected.testcases.push(r.testcase.name.clone());
                }
                for (key, values) in &r.data {
                    expected.keys.push(key.clone());
                    expected.values.extend(values.iter().cloned());
                }
            }
        }
        expected
    }
}

impl PgWriter {
    pub(super) fn new(conn: Conn, node: String) -> PgWriter {
        PgWriter {
            conn,
            node,
            origins: HashMap::default(),
            heads: HashMap::default(),
            testcases: HashMap::default(),
            groups: HashMap::default(),
            keys: HashMap::default(),
            values: HashMap::default(),
            run_keys: HashMap::default(),
            lww: HashMap::default(),
            next_seq: 1,
            wrote_up_to: None,
            runs_changed: HashMap::default(),
            rows: Rows::default(),
            pending: Vec::new(),
            ref_urls: HashMap::default(),
            ref_stamps: HashMap::default(),
            lww_unpredicted: false,
            commit_took: None,
            absent_uuids: Default::default(),
            in_transaction: false,
            turn: false,
            expected: Expected::default(),
            known_seq: 0,
        }
    }

    /// Runs `f` in one transaction under the write lock, committed only if it succeeds.
    pub(super) fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.in_transaction {
            return f(self);
        }
        self.in_transaction = true;
        self.wrote_up_to = None;
        self.trim_caches();
        let outcome = self.begin().and_then(|()| f(self)).and_then(|v| self.commit().map(|()| v));
        self.in_transaction = false;
        self.absent_uuids.clear();
        self.ref_urls.clear();
        self.ref_stamps.clear();
        self.lww_unpredicted = false;
        if outcome.is_err() {
            let _ = self.conn.batch("ROLLBACK");
            self.forget();
        }
        outcome
    }

    /// Opens the transaction and takes the write lock, then reads the chain heads, the
    /// next log position (another server may have written since this one's last
    /// transaction) and what the batch names ([`Expected`]): one pipeline, run by the
    /// server in this order.
    fn begin(&mut self) -> Result<(), StoreError> {
        let expected = std::mem::take(&mut self.expected);
        let name_keys: Vec<Vec<u8>> = expected.testcases.iter().map(|n| super::text_key(n)).collect();
        let (uuids, names): ([Param; 1], [Param; 1]) = ([&expected.uuids], [&name_keys]);
        let mut statements: Vec<(&str, &[Param])> = Vec::new();
        if !std::mem::take(&mut self.turn) {
            statements.extend(TAKE_TURN);
        }
        let turn_answers = statements.len();
        statements.push(("SELECT id, node, head_seq, head_hash, head_ts FROM origins", &[]));
        statements.push(("SELECT coalesce(max(seq), 0) + 1 FROM log", &[]));
        if !expected.uuids.is_empty() {
            statements.push((super::apply::HELD_UUIDS, &uuids));
            statements.push((
                "SELECT name, ref_url, ref_url_ts, ref_url_origin, ref_url_oseq FROM testcase WHERE name_key = ANY($1)",
                &names,
            ));
        }
        let interned = statements.len() - turn_answers;
        let mut data = super::bulk::NameLists::default();
        for k in &expected.keys {
            data.key(k);
        }
        for v in &expected.values {
            data.value(v);
        }
        let (interning, fills) = data.statements(self);
        statements.extend(interning.iter().map(|(sql, p)| (*sql, &p[..])));
        let mut answers = self.conn.pipeline(&statements)?;
        answers.drain(..turn_answers);
        self.fill(&answers[interned..], &fills)?;
        self.origins.clear();
        self.heads.clear();
        let empty = Vec::new();
        for row in answers.first().unwrap_or(&empty) {
            let id: i64 = row.try_get(0)?;
            let hash: Vec<u8> = row.try_get(3)?;
            let hash = Hash::from_slice(&hash).ok_or_else(|| StoreError::Corrupt {
                seq: 0,
                reason: format!("origin {id} head hash is not 32 bytes"),
            })?;
            self.origins.insert(row.try_get(1)?, id);
            let seq: i64 = row.try_get(2)?;
            self.heads.insert(id, Head { seq: seq as u64, hash, ts: row.try_get(4)?, dirty: false });
        }
        let next = answers.get(1).and_then(|rows| rows.first());
        self.next_seq = next.map(|r| r.try_get(0)).transpose()?.unwrap_or(1);
        self.known_seq = self.known_seq.max(self.next_seq - 1);
        if let (Some(held), Some(testcases)) = (answers.get(2), answers.get(3)) {
            self.note_absent(expected.uuids, held)?;
            // Under the lock nobody else changes them; this transaction's own changes are
            // predicted from their stamps (see `predict_ref_url`). A testcase not stored yet
            // has none, and the lowest stamp (the columns' defaults).
            for name in expected.testcases {
                self.ref_urls.insert(name.clone(), None);
                self.ref_stamps.insert(name, (i64::MIN, String::new(), 0));
            }
            for row in testcases {
                let name: String = row.try_get(0)?;
                self.ref_stamps.insert(name.clone(), (row.try_get(2)?, row.try_get(3)?, row.try_get(4)?));
                self.ref_urls.insert(name, row.try_get(1)?);
            }
        }
        Ok(())
    }

    /// Forgets what the rolled-back transaction cached.
    fn forget(&mut self) {
        self.testcases.clear();
        self.groups.clear();
        self.keys.clear();
        self.values.clear();
        self.run_keys.clear();
        self.runs_changed.clear();
        self.lww.clear();
        self.rows = Rows::default();
        self.pending.clear();
    }

    /// Writes what the transaction buffered, its deferred last-writer-wins fields, its
    /// bookkeeping (chain heads, changed insight keys, commit time, the notification) and
    /// COMMIT, in one pipeline.
    fn commit(&mut self) -> Result<(), StoreError> {
        // The deferred fields no answer waited for go in this pipeline too, after the rows.
        let lww = self.take_lww()?;
        let mut rows = std::mem::take(&mut self.rows);
        rows.sort();
        let mut statements = rows.statements();
        statements.extend(super::apply::lww_statements(&lww));
        let heads: Vec<(i64, i64, Vec<u8>, i64)> = self
            .heads
            .iter_mut()
            .filter(|(_, h)| h.dirty)
            .map(|(id, h)| {
                h.dirty = false;
                (*id, h.seq as i64, h.hash.0.to_vec(), h.ts)
            })
            .collect();
        for (id, seq, hash, ts) in &heads {
            statements.push((
                "UPDATE origins SET head_seq = $1, head_hash = $2, head_ts = $3 WHERE id = $4",
                vec![seq, hash, ts, id],
            ));
        }
        let newest = self.wrote_up_to.take();
        let (keys, ats): (Vec<i64>, Vec<i64>) = std::mem::take(&mut self.runs_changed)
            .into_iter()
            .map(|(key, at)| (key, newest.map_or(at, |n| n.max(at))))
            .unzip();
        if !keys.is_empty() {
            statements.push((
                "INSERT INTO run_key_changes(key_id, changed) SELECT * FROM unnest($1::bigint[], $2::bigint[])
                 ON CONFLICT (key_id) DO UPDATE SET changed = greatest(run_key_changes.changed, excluded.changed)",
                vec![&keys, &ats],
            ));
        }
        let (now, seq_text) = (Timestamp::now().0, newest.map(|s| s.to_string()));
        if let (Some(seq), Some(text)) = (&newest, &seq_text) {
            statements.push((
                "INSERT INTO commit_times(seq, at)
                 VALUES($1, greatest($2, coalesce((SELECT max(at) FROM commit_times), $2)))
                 ON CONFLICT (seq) DO UPDATE SET at = excluded.at",
                vec![seq, &now],
            ));
            // Delivered to every listening server when (and only if) this commits.
            statements.push(("SELECT pg_notify($1, $2)", vec![&CHANNEL, text]));
        }
        statements.push(("COMMIT", Vec::new()));
        let started = std::time::Instant::now();
        super::rows::run(&self.conn, &statements)?;
        self.commit_took = Some(started.elapsed());
        self.known_seq = self.known_seq.max(newest.unwrap_or(0));
        Ok(())
    }

    /// Writes the buffered rows (before any read of the tables they go to).
    pub(super) fn flush_rows(&mut self) -> Result<(), StoreError> {
        self.resolve_pending()?;
        let rows = std::mem::take(&mut self.rows);
        rows.write(&self.conn)
    }

    /// Where `origin_id`'s chain ends here.
    pub(super) fn head(&self, origin_id: i64) -> Head {
        self.heads.get(&origin_id).cloned().unwrap_or(Head::EMPTY)
    }

    pub(super) fn origin_id(&mut self, node: &str) -> Result<i64, StoreError> {
        if let Some(id) = self.origins.get(node) {
            return Ok(*id);
        }
        let id: i64 = self.conn.one("INSERT INTO origins(node) VALUES($1) RETURNING id", &[&node])?.try_get(0)?;
        self.origins.insert(node.to_owned(), id);
        self.heads.insert(id, Head::EMPTY);
        Ok(id)
    }

    fn append_with(&mut self, body: &Body, json: Option<&str>) -> Result<bool, StoreError> {
        match body {
            Body::Result(r) if self.result_id_by_uuid(&r.uuid)?.is_some() => Ok(false),
            Body::Testcase(t) if t.ref_url.is_none() && self.has_testcase(&t.name)? => Ok(false),
            Body::Ingest(i) if self.ingested(&i.blake3)? => Ok(false),
            Body::Waiver(w) if self.waiver_id(&w.uuid)?.is_some() => Ok(false),
            _ => {
                self.append_local(body, json)?;
                Ok(true)
            }
        }
    }

    /// Whether the testcase exists (also when only a pending result names it so far).
    fn has_testcase(&mut self, name: &str) -> Result<bool, StoreError> {
        self.resolve_pending()?;
        Ok(self.testcase_id(name)?.is_some())
    }

    /// Looks up the uuids of the results among `entries` in one query (see
    /// `prefetch_uuids`): an import then needs no round trip per result to learn that it
    /// holds none of them.
    fn prefetch_entries(&mut self, entries: &[&Entry]) -> Result<(), StoreError> {
        let bodies: Vec<Body> = entries
            .iter()
            .filter(|e| e.kind == crate::log::Kind::Result)
            .filter_map(|e| Body::decode(e.kind, &e.body).ok())
            .collect();
        self.prefetch_uuids(bodies.iter())
    }

    /// Seals `body` onto the database's chain, stores the entry and applies it.
    pub(super) fn append_local(&mut self, body: &Body, json: Option<&str>) -> Result<Option<i64>, StoreError> {
        let node = self.node.clone();
        let origin_id = self.origin_id(&node)?;
        let head = self.head(origin_id);
        // Timestamps never go backwards within an origin, even if a server's clock does.
        let ts = Timestamp::now().0.max(head.ts);
        let json = json.map(str::to_owned).unwrap_or_else(|| body.encode());
        let entry = Entry::seal(&head.hash, &node, head.seq + 1, body.kind(), ts, json);
        let seq = self.insert_entry(origin_id, &entry, None);
        let stamp = Stamp { ts, origin: &node, oseq: entry.origin_seq as i64 };
        self.apply(seq, &stamp, body, true)
    }

    /// Buffers an entry at the next log position (or at `at`: a replay keeps positions).
    fn insert_entry(&mut self, origin_id: i64, e: &Entry, at: Option<i64>) -> i64 {
        let seq = at.unwrap_or(self.next_seq);
        self.next_seq = self.next_seq.max(seq + 1);
        self.rows.log(seq, origin_id, e);
        self.wrote_up_to = Some(self.wrote_up_to.map_or(seq, |w| w.max(seq)));
        self.heads.insert(origin_id, Head { seq: e.origin_seq, hash: e.hash, ts: e.ts, dirty: true });
        seq
    }

    /// Imports one foreign entry (at log position `at` when given).
    fn import_one(
        &mut self,
        entry: &Entry,
        verified_prev: Option<&Hash>,
        at: Option<i64>,
    ) -> Result<ImportOutcome, StoreError> {
        let refuse =
            |reason: String| StoreError::Refused { origin: entry.origin.clone(), origin_seq: entry.origin_seq, reason };
        let origin_id = self.origin_id(&entry.origin)?;
        let mut head = self.head(origin_id);
        if entry.origin_seq > head.seq + 1 {
            self.step_over_gaps(origin_id)?;
            head = self.head(origin_id);
        }
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
        let seq = self.insert_entry(origin_id, entry, at);
        let stamp = Stamp { ts: entry.ts, origin: &entry.origin, oseq: entry.origin_seq as i64 };
        self.apply(seq, &stamp, &body, false)?;
        Ok(ImportOutcome::Applied)
    }

    /// The entry held at (origin, origin_seq): hash, kind, body, ts.
    fn held_entry(&mut self, origin_id: i64, origin_seq: u64) -> Result<Option<import::Held>, StoreError> {
        self.flush_rows()?;
        let row = self.conn.opt(
            "SELECT hash, kind, body, ts FROM log WHERE origin_id = $1 AND origin_seq = $2",
            &[&origin_id, &(origin_seq as i64)],
        )?;
        Ok(match row {
            Some(r) => {
                Some(import::Held { hash: r.try_get(0)?, kind: r.try_get(1)?, body: r.try_get(2)?, ts: r.try_get(3)? })
            }
            None => None,
        })
    }

    /// Inside a transaction: every job's entries first, then one flush of the fields they
    /// defer (if any job wants answers), then every answer: the deferred fields cost one
    /// round trip per batch, not a few per request.
    fn write_batch(&mut self, jobs: &[(&[Prepared], bool)]) -> Result<Vec<Vec<Written>>, StoreError> {
        let appended: Vec<Option<Vec<bool>>> =
            jobs.iter().map(|(job, _)| self.append_job(job)).collect::<Result<_, _>>()?;
        if jobs.iter().any(|(_, answers)| *answers) {
            // Answers need every deferred outcome: predicted ones are known, the others are
            // applied now; the rest go with the COMMIT's pipeline.
            self.resolve_pending()?;
            if self.lww_unpredicted {
                self.flush_lww()?;
                // The stamps read at BEGIN are stale for what that UPDATE changed.
                self.ref_stamps.clear();
                self.lww_unpredicted = false;
            }
        }
        jobs.iter().zip(appended).map(|((job, answers), created)| self.answer_job(job, *answers, created)).collect()
    }

    /// Appends a job's bodies: whether each was created, or `None` for an input already
    /// ingested (nothing appended).
    fn append_job(&mut self, bodies: &[Prepared]) -> Result<Option<Vec<bool>>, StoreError> {
        if let Some(Body::Ingest(i)) = bodies.first().map(|p| &p.body)
            && self.ingested(&i.blake3)?
        {
            return Ok(None);
        }
        bodies.iter().map(|p| self.append_prepared(p)).collect::<Result<_, _>>().map(Some)
    }

    /// A job's answers, once its bodies are appended (see `append_job`) and, if it asks
    /// for answers, the deferred fields are flushed.
    fn answer_job(
        &mut self,
        bodies: &[Prepared],
        answers: bool,
        created: Option<Vec<bool>>,
    ) -> Result<Vec<Written>, StoreError> {
        let Some(created) = created else { return Ok(vec![Written::Ingest { created: false }]) };
        if !answers {
            return Ok(match bodies.first().map(|p| &p.body) {
                Some(Body::Ingest(_)) => vec![Written::Ingest { created: true }],
                _ => Vec::new(),
            });
        }
        bodies.iter().zip(created).map(|(p, c)| self.written(&p.body, c)).collect()
    }

    /// The answer for one appended body.
    fn written(&mut self, body: &Body, created: bool) -> Result<Written, StoreError> {
        let missing = |what: &str| StoreError::Corrupt { seq: 0, reason: format!("{what} not stored") };
        match body {
            Body::Result(r) => {
                // A result this transaction created is answered from memory: its record is
                // what was sealed, and only its testcase's `ref_url` needs reading.
                if created && let Some(id) = self.rows.result_with(&crate::store::uuid_key(&r.uuid)) {
                    let testcase_ref_url = self.testcase_ref_url(&r.testcase.name)?;
                    return Ok(Written::Result {
                        view: ResultView { id, record: r.clone(), testcase_ref_url },
                        created,
                    });
                }
                let ids = self.result_ids_by_uuid(&r.uuid)?;
                let first = *ids.first().ok_or_else(|| missing("result"))?;
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
                if let Some(ref_url) = self.ref_urls.get(&t.name) {
                    return Ok(Written::Testcase(TestcaseView { name: t.name.clone(), ref_url: ref_url.clone() }));
                }
                let row = self
                    .conn
                    .opt("SELECT name, ref_url FROM testcase WHERE name_key = $1", &[&super::text_key(&t.name)])?
                    .ok_or_else(|| missing("testcase"))?;
                Ok(Written::Testcase(TestcaseView { name: row.try_get(0)?, ref_url: row.try_get(1)? }))
            }
            Body::Group(g) => Ok(Written::Group(self.group_view(&g.uuid)?.ok_or_else(|| missing("group"))?)),
            Body::Ingest(_) => Ok(Written::Ingest { created }),
            Body::Waiver(w) => {
                let id = self.waiver_id(&w.uuid)?.ok_or_else(|| missing("waiver"))?;
                Ok(Written::Waiver(WaiverView { id, record: w.clone() }))
            }
            Body::Quarantine(q) => Ok(Written::Quarantine(self.written_quarantine(q)?)),
            Body::Horizon(_) => Ok(Written::Horizon),
        }
    }

    /// Result `id` as the API shows it (also one the indexes do not list).
    fn view(&mut self, id: i64) -> Result<ResultView, StoreError> {
        let record = self.logged_result(id)?;
        let testcase_ref_url = self.testcase_ref_url(&record.testcase.name)?;
        Ok(ResultView { id, record, testcase_ref_url })
    }

    /// A testcase's current `ref_url`, remembered until a last-writer-wins update or the
    /// end of the transaction (nobody else can change it while this one holds the lock).
    fn testcase_ref_url(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        if let Some(url) = self.ref_urls.get(name) {
            return Ok(url.clone());
        }
        let url: Option<String> = self
            .conn
            .opt("SELECT ref_url FROM testcase WHERE name_key = $1", &[&super::text_key(name)])?
            .map(|r| r.try_get(0))
            .transpose()?
            .flatten();
        self.ref_urls.insert(name.to_owned(), url.clone());
        Ok(url)
    }

    pub(super) fn ingested(&self, blake3: &str) -> Result<bool, StoreError> {
        Ok(self.conn.opt("SELECT 1 FROM ingests WHERE blake3 = $1", &[&blake3])?.is_some())
    }
}

impl WriteStore for PgWriter {
    fn node_id(&self) -> &str {
        &self.node
    }

    /// Bodies are stored as plain text on PostgreSQL: no dictionary to share.
    fn shared_dict(&self) -> SharedDict {
        SharedDict::default()
    }

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

    fn write_jobs(&mut self, jobs: &[(&[Prepared], bool)]) -> Result<Vec<Vec<Written>>, StoreError> {
        if !self.in_transaction {
            self.expected = Expected::of(jobs.iter().flat_map(|(job, _)| job.iter().map(|p| &p.body)));
        }
        self.transaction(|w| w.write_batch(jobs))
    }

    fn write_job(&mut self, bodies: &[Prepared], answers: bool) -> Result<Vec<Written>, StoreError> {
        Ok(self.write_batch(&[(bodies, answers)])?.pop().unwrap_or_default())
    }

    /// Opens the next transaction and waits for the write lock in it. When another server
    /// holds the lock, the requests arriving meanwhile join this server's next batch:
    /// without it, two servers took turns with half-size batches (one round trip more
    /// per transaction buys it).
    fn await_turn(&mut self) -> Result<(), StoreError> {
        if self.in_transaction || self.turn {
            return Ok(());
        }
        if let Err(e) = self.conn.pipeline(&TAKE_TURN) {
            let _ = self.conn.batch("ROLLBACK");
            return Err(e);
        }
        self.turn = true;
        Ok(())
    }

    fn expect(&mut self, bodies: &mut dyn Iterator<Item = &Body>) -> Result<(), StoreError> {
        self.prefetch_uuids(bodies)
    }

    fn append(&mut self, body: &Body) -> Result<bool, StoreError> {
        self.append_with(body, None)
    }

    fn append_prepared(&mut self, p: &Prepared) -> Result<bool, StoreError> {
        self.append_with(&p.body, Some(&p.json))
    }

    fn import(&mut self, entries: &[Entry]) -> Result<Vec<ImportOutcome>, StoreError> {
        self.transaction(|w| {
            w.prefetch_entries(&entries.iter().collect::<Vec<_>>())?;
            entries.iter().map(|e| w.import_one(e, None, None)).collect()
        })
    }

    fn replay(&mut self, entries: &[(i64, Entry)]) -> Result<Vec<ImportOutcome>, StoreError> {
        self.transaction(|w| {
            w.prefetch_entries(&entries.iter().map(|(_, e)| e).collect::<Vec<_>>())?;
            entries.iter().map(|(seq, e)| w.import_one(e, None, Some(*seq))).collect()
        })
    }

    fn import_verified(&mut self, gaps: &[Gap], entries: &[(Entry, Hash)]) -> Result<Vec<ImportOutcome>, StoreError> {
        self.transaction(|w| {
            for g in gaps {
                let origin_id = w.origin_id(&g.origin)?;
                w.declare_gap(origin_id, g, None)?;
            }
            w.prefetch_entries(&entries.iter().map(|(e, _)| e).collect::<Vec<_>>())?;
            entries.iter().map(|(e, prev)| w.import_one(e, Some(prev), None)).collect()
        })
    }

    /// No round trip once a transaction has run: the server's write queue asks after
    /// every batch, and what other servers commit later reaches it by NOTIFY.
    fn last_seq(&self) -> Result<i64, StoreError> {
        let stored: i64 = match self.known_seq {
            0 => self.conn.one("SELECT coalesce(max(seq), 0) FROM log", &[])?.try_get(0)?,
            known => known,
        };
        Ok(stored.max(self.wrote_up_to.unwrap_or(0)))
    }

    fn last_commit_duration(&self) -> Option<std::time::Duration> {
        self.commit_took
    }

    fn has_result(&self, uuid: &str) -> Result<bool, StoreError> {
        Ok(self.result_id_by_uuid(uuid)?.is_some())
    }

    fn is_ingested(&self, blake3: &str) -> Result<bool, StoreError> {
        self.ingested(blake3)
    }

    fn set_commit_times(&mut self, times: &[(i64, i64)]) -> Result<(), StoreError> {
        self.transaction(|w| {
            w.conn.exec("DELETE FROM commit_times", &[])?;
            let (seqs, ats): (Vec<i64>, Vec<i64>) = times.iter().copied().unzip();
            w.conn.exec(
                "INSERT INTO commit_times(seq, at) SELECT * FROM unnest($1::bigint[], $2::bigint[])",
                &[&seqs, &ats],
            )?;
            Ok(())
        })
    }

    fn announce_gaps(&mut self, gaps: &[Gap]) -> Result<(), StoreError> {
        self.transaction(|w| {
            for g in gaps {
                let origin_id = w.origin_id(&g.origin)?;
                w.declare_gap(origin_id, g, None)?;
            }
            Ok(())
        })
    }

    fn prune_step(&mut self, before: i64, like: Option<&str>, limit: usize) -> Result<PruneStep, StoreError> {
        self.transaction(|w| w.prune(before, like, limit))
    }

    /// PostgreSQL's autovacuum makes freed space reusable; `VACUUM` cannot run inside the
    /// caller's transaction and is the operator's to schedule.
    fn vacuum(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// PostgreSQL bounds its own write-ahead log.
    fn tend_wal(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn set_wal_limit(&mut self, _bytes: i64) {}

    /// Postings go straight to their one table on PostgreSQL: nothing to fold.
    fn tend_postings(&mut self) -> Result<bool, StoreError> {
        Ok(false)
    }

    fn set_fold_limits(&mut self, _at: i64, _piece: i64) {}
}
