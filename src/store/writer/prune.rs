//! Pruning (`verdict prune`): sealing horizon entries over old results and applying them —
//! on the pruning node, on every peer that imports them and in a replay alike: the gaps
//! are recorded (`pruned`), the results' entries and derived rows deleted, and what they
//! said added to `run_days`. Also the gaps a peer's stream or a replayed store announces
//! before their horizon entry arrives, and the one way a result's derived rows are removed
//! (`unindex_result`, also for a result an equal copy replaces).

use super::runs::{duration_of, fail_of, failure_signature};
use super::{Head, Writer};
use crate::log::{Body, Gap, Hash};
use crate::model::ResultRecord;
use crate::model::horizon::{DaySummary, Dropped, HorizonRecord, PrunedRange, day_of, horizons_of};
use crate::store::codec::stored_bytes;
use crate::store::{StoreError, like_to_glob, uuid_key};
use rusqlite::{OptionalExtension, params};

/// The derived rows of the results a horizon drops, per table, sorted by key before
/// they are deleted.
#[derive(Default)]
struct Doomed {
    postings: Vec<(i64, i64, i64, i64)>,
    uuids: Vec<(Vec<u8>, i64)>,
    runs: Vec<(i64, i64, i64)>,
    failures: Vec<(String, i64, i64)>,
    groups: Vec<(i64, i64)>,
    results: Vec<i64>,
}

impl Doomed {
    fn sort(&mut self) {
        self.postings.sort_unstable();
        self.uuids.sort_unstable();
        self.runs.sort_unstable();
        self.failures.sort_unstable();
        self.groups.sort_unstable();
        self.results.sort_unstable();
    }
}

/// The writer's page cache while it prunes, in KiB.
const PRUNE_CACHE_KIB: i64 = 256 * 1024;

/// What one prune step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneStep {
    /// Results pruned.
    pub results: u64,
    /// Horizon entries written (one per origin whose results were pruned).
    pub horizons: u64,
}

/// A result a prune step decoded, with its testcase id and facets.
pub(super) type Known = (ResultRecord, Option<(i64, Vec<u8>)>);

/// A listed result a prune step picked: its id, testcase id and facets.
struct Listed {
    id: i64,
    testcase_id: i64,
    facets: Vec<u8>,
}

fn listed(r: &rusqlite::Row) -> rusqlite::Result<Listed> {
    Ok(Listed { id: r.get(0)?, testcase_id: r.get(1)?, facets: r.get(2)? })
}

impl Writer {
    /// Prunes up to `limit` of the oldest results submitted before `before` (of testcases
    /// matching `like`, `*` wildcards): seals one horizon entry per origin over them and
    /// applies it. Run inside a transaction.
    pub(super) fn prune_step(
        &mut self,
        before: i64,
        like: Option<&str>,
        limit: usize,
    ) -> Result<PruneStep, StoreError> {
        // A prune deletes rows all over every index: a page cache big enough for the hot
        // index pages of a large store saves re-reading them (set back by the vacuum).
        self.conn.execute_batch(&format!("PRAGMA cache_size = -{PRUNE_CACHE_KIB}"))?;
        let listed = self.doomed_ids(before, like, limit)?;
        let mut step = PruneStep { results: listed.len() as u64, horizons: 0 };
        let dropped = listed.into_iter().map(|l| self.doomed(l)).collect::<Result<Vec<_>, _>>()?;
        for record in horizons_of(before, like, dropped) {
            self.append_local(&Body::Horizon(record), None)?;
            step.horizons += 1;
        }
        Ok(step)
    }

    /// The oldest `limit` results submitted before `before`: id, testcase id and facets.
    fn doomed_ids(&self, before: i64, like: Option<&str>, limit: usize) -> Result<Vec<Listed>, StoreError> {
        let limit = limit as i64;
        let ids = match like {
            None => self
                .conn
                .prepare_cached(
                    "SELECT id, testcase_id, facets FROM results INDEXED BY results_time
                     WHERE submit_time < ?1 ORDER BY submit_time LIMIT ?2",
                )?
                .query_map(params![before, limit], listed)?
                .collect::<Result<_, _>>()?,
            Some(p) => self
                .conn
                .prepare_cached(
                    "SELECT r.id, r.testcase_id, r.facets FROM results r INDEXED BY results_time
                     WHERE r.submit_time < ?1 AND r.testcase_id IN (SELECT id FROM testcase WHERE name GLOB ?2)
                     ORDER BY r.submit_time LIMIT ?3",
                )?
                .query_map(params![before, like_to_glob(p), limit], listed)?
                .collect::<Result<_, _>>()?,
        };
        Ok(ids)
    }

    /// One result a step prunes: its chain position and what it says, read in one query;
    /// the decoded record is kept for the horizon's apply (decoded once).
    fn doomed(&mut self, listed: Listed) -> Result<Dropped, StoreError> {
        let id = listed.id;
        // No join with `origins` here: SQLite prepared that statement again on every call
        // (a fifth of a prune's time, measured); the writer knows every origin's id.
        let (origin_id, origin_seq, hash, enc, body): (i64, i64, Vec<u8>, i64, Vec<u8>) = self
            .conn
            .prepare_cached("SELECT origin_id, origin_seq, hash, enc, body FROM log WHERE seq = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, stored_bytes(r, 4)?)))?;
        let origin = self
            .origins
            .iter()
            .find(|(_, oid)| **oid == origin_id)
            .map(|(node, _)| node.clone())
            .ok_or_else(|| StoreError::Corrupt { seq: id, reason: format!("origin {origin_id} is not known") })?;
        let hash = Hash::from_slice(&hash)
            .ok_or_else(|| StoreError::Corrupt { seq: id, reason: "hash is not 32 bytes".into() })?;
        let body = self.decoder.decode(&self.conn, id, enc, body)?;
        let r: ResultRecord =
            serde_json::from_str(&body).map_err(|e| StoreError::Corrupt { seq: id, reason: e.to_string() })?;
        let first = |k: &str| r.data.get(k).and_then(|v| v.first()).cloned().unwrap_or_default();
        let summary_key = (r.testcase.name.clone(), first("scenario"), first("arch"), day_of(r.submit_time));
        let duration = duration_of(r.data.get("duration").and_then(|v| v.first()).map(String::as_str));
        let fail = fail_of(&r.outcome);
        self.pruning.insert(id, (r, Some((listed.testcase_id, listed.facets))));
        Ok(Dropped { origin, origin_seq: origin_seq as u64, hash: hash.to_hex(), key: summary_key, fail, duration })
    }

    /// Applies horizon entry `seq`: records its gaps, drops the entries they cover that
    /// this store holds (with their derived rows) and adds its summaries.
    pub(super) fn apply_horizon(&mut self, seq: i64, h: &HorizonRecord) -> Result<(), StoreError> {
        let origin_id = self.origin_id(&h.origin)?;
        let mut doomed = Vec::new();
        for r in &h.ranges {
            let gap = gap_of(&h.origin, r).ok_or_else(|| StoreError::Refused {
                origin: h.origin.clone(),
                origin_seq: r.from,
                reason: format!("horizon #{seq}: range #{}..#{} is empty or its hash is not hex", r.from, r.to),
            })?;
            self.declare_gap(origin_id, &gap, Some(seq))?;
            doomed.extend(self.held_in(origin_id, &gap)?);
        }
        self.drop_results(&doomed)?;
        for d in &h.days {
            self.add_day(seq, d)?;
        }
        Ok(())
    }

    /// Records a gap of `origin_id`'s chain (declared by horizon `horizon`, or announced);
    /// steps the chain head over it when the head lies inside. A gap that disagrees with
    /// what this store holds is refused as a diverged chain.
    pub(super) fn declare_gap(&mut self, origin_id: i64, gap: &Gap, horizon: Option<i64>) -> Result<(), StoreError> {
        let refuse = |reason: String| StoreError::Refused { origin: gap.origin.clone(), origin_seq: gap.to, reason };
        let known: Option<(i64, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT to_seq, hash FROM pruned WHERE origin_id = ?1 AND from_seq = ?2")?
            .query_row(params![origin_id, gap.from as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match known {
            Some((to, hash)) if to as u64 == gap.to && hash == gap.hash.0 => {
                if let Some(h) = horizon {
                    self.conn
                        .prepare_cached("UPDATE pruned SET horizon = ?3 WHERE origin_id = ?1 AND from_seq = ?2")?
                        .execute(params![origin_id, gap.from as i64, h])?;
                }
            }
            Some(_) => {
                return Err(refuse("diverged: a pruned range here differs from the one this store holds".into()));
            }
            None => {
                let held: Option<Vec<u8>> = self
                    .conn
                    .prepare_cached("SELECT hash FROM log WHERE origin_id = ?1 AND origin_seq = ?2")?
                    .query_row(params![origin_id, gap.to as i64], |r| r.get(0))
                    .optional()?;
                if held.is_some_and(|h| h != gap.hash.0) {
                    return Err(refuse(
                        "diverged: the pruned range ends at an entry this store holds differently".into(),
                    ));
                }
                self.conn
                    .prepare_cached(
                        "INSERT INTO pruned(origin_id, from_seq, to_seq, hash, horizon) VALUES(?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![origin_id, gap.from as i64, gap.to as i64, &gap.hash.0[..], horizon])?;
            }
        }
        let head = self.head(origin_id);
        if head.seq + 1 >= gap.from && head.seq < gap.to {
            self.heads.insert(origin_id, Head { seq: gap.to, hash: gap.hash, ts: head.ts, dirty: true });
        }
        Ok(())
    }

    /// The log positions of the entries of a gap this store holds; only result entries may
    /// be pruned.
    fn held_in(&self, origin_id: i64, gap: &Gap) -> Result<Vec<i64>, StoreError> {
        let held: Vec<(i64, u64, String)> = self
            .conn
            .prepare_cached(
                "SELECT seq, origin_seq, kind FROM log WHERE origin_id = ?1 AND origin_seq BETWEEN ?2 AND ?3",
            )?
            .query_map(params![origin_id, gap.from as i64, gap.to as i64], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        held.into_iter()
            .map(|(seq, origin_seq, kind)| {
                if kind == "result" {
                    Ok(seq)
                } else {
                    Err(StoreError::Refused {
                        origin: gap.origin.clone(),
                        origin_seq,
                        reason: format!("a horizon may prune only results; this entry is a {kind}"),
                    })
                }
            })
            .collect()
    }

    /// Deletes result entries and every derived row of theirs. Rows are gathered per table
    /// and deleted in key order: a prune touches each index page once per batch instead
    /// of once per result (the postings and uuids of old results are scattered).
    fn drop_results(&mut self, seqs: &[i64]) -> Result<(), StoreError> {
        let mut rows = Doomed::default();
        for &seq in seqs {
            let (record, listed) = match self.pruning.remove(&seq) {
                Some(known) => known,
                None => (self.logged_result(seq)?, None),
            };
            self.gather(seq, &record, listed, &mut rows)?;
        }
        self.delete_rows(rows)?;
        for seq in seqs {
            self.conn.prepare_cached("DELETE FROM log WHERE seq = ?1")?.execute([seq])?;
        }
        Ok(())
    }

    /// Removes result `id` from the derived tables; its log entry stays (an equal copy of
    /// the result that another origin's entry now holds, see `apply_result`).
    pub(super) fn unindex_result(&mut self, id: i64) -> Result<(), StoreError> {
        let record = self.logged_result(id)?;
        let mut rows = Doomed::default();
        self.gather(id, &record, None, &mut rows)?;
        self.delete_rows(rows)
    }

    /// Deletes gathered derived rows, each table in key order.
    fn delete_rows(&mut self, mut rows: Doomed) -> Result<(), StoreError> {
        rows.sort();
        let run = |sql: &str, args: &[&dyn rusqlite::ToSql], conn: &rusqlite::Connection| -> Result<(), StoreError> {
            conn.prepare_cached(sql)?.execute(args)?;
            Ok(())
        };
        // A posting is in one of the two tables (`fold.rs`): the one not holding it costs
        // a probe of its index.
        for (k, v, t, id) in &rows.postings {
            let recent = self
                .conn
                .prepare_cached(
                    "DELETE FROM result_data_recent WHERE key_id = ?1 AND value_id = ?2 AND submit_time = ?3 AND result_id = ?4",
                )?
                .execute([k, v, t, id])?;
            if recent > 0 {
                self.fold.added(-1);
                continue;
            }
            run(
                "DELETE FROM result_data WHERE key_id = ?1 AND value_id = ?2 AND submit_time = ?3 AND result_id = ?4",
                &[k, v, t, id],
                &self.conn,
            )?;
        }
        for (u, id) in &rows.uuids {
            run("DELETE FROM result_uuids WHERE uuid = ?1 AND result_id = ?2", &[u, id], &self.conn)?;
        }
        for (k, t, id) in &rows.runs {
            run("DELETE FROM runs WHERE key_id = ?1 AND submit_time = ?2 AND result_id = ?3", &[k, t, id], &self.conn)?;
        }
        for (sig, t, id) in &rows.failures {
            run(
                "DELETE FROM failures WHERE signature = ?1 AND submit_time = ?2 AND result_id = ?3",
                &[sig, t, id],
                &self.conn,
            )?;
        }
        for (g, id) in &rows.groups {
            run("DELETE FROM result_groups WHERE group_id = ?1 AND result_id = ?2", &[g, id], &self.conn)?;
        }
        for seq in &rows.results {
            run("DELETE FROM results WHERE id = ?1", &[seq], &self.conn)?;
        }
        Ok(())
    }

    /// Collects the derived rows of result entry `seq` (none when it is not listed: an
    /// equal copy of a result another entry holds).
    fn gather(
        &mut self,
        seq: i64,
        r: &ResultRecord,
        known: Option<(i64, Vec<u8>)>,
        rows: &mut Doomed,
    ) -> Result<(), StoreError> {
        let listed = match known {
            Some(k) => Some(k),
            None => self
                .conn
                .prepare_cached("SELECT testcase_id, facets FROM results WHERE id = ?1")?
                .query_row([seq], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?,
        };
        let Some((testcase_id, facets)) = listed else { return Ok(()) };
        rows.results.push(seq);
        rows.uuids.push((uuid_key(&r.uuid), seq));
        for (k, v) in crate::store::facets::decode(&facets) {
            rows.postings.push((k, v, r.submit_time, seq));
        }
        for g in &r.groups {
            if let Some(gid) = self.group_id(&g.uuid)? {
                rows.groups.push((gid, seq));
            }
        }
        if fail_of(&r.outcome).is_some() {
            let first = |k: &str| r.data.get(k).and_then(|v| v.first()).map(String::as_str).unwrap_or("");
            let key_id = self.run_key(testcase_id, first("scenario"), first("arch"))?;
            self.run_changed(key_id, seq);
            rows.runs.push((key_id, r.submit_time, seq));
            if let Some(sig) = failure_signature(r) {
                rows.failures.push((sig, r.submit_time, seq));
            }
        }
        Ok(())
    }

    /// A group's id, if it exists.
    fn group_id(&mut self, uuid: &str) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.groups.get(uuid) {
            return Ok(Some(*id));
        }
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM grp WHERE uuid = ?1")?
            .query_row([uuid], |r| r.get(0))
            .optional()?)
    }

    /// Adds one day's summary of pruned results to its key.
    fn add_day(&mut self, seq: i64, d: &DaySummary) -> Result<(), StoreError> {
        let testcase_id = super::intern::intern(&self.conn, &mut self.testcases, &super::TESTCASES, &d.testcase)?;
        let key_id = self.run_key(testcase_id, &d.scenario, &d.arch)?;
        self.run_changed(key_id, seq);
        self.conn
            .prepare_cached(
                "INSERT INTO run_days(key_id, day, passes, fails, others, duration_n, duration_sum_ms, duration_min_ms, duration_max_ms)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(key_id, day) DO UPDATE SET passes = passes + excluded.passes,
                    fails = fails + excluded.fails, others = others + excluded.others,
                    duration_n = duration_n + excluded.duration_n,
                    duration_sum_ms = duration_sum_ms + excluded.duration_sum_ms,
                    duration_min_ms = min(coalesce(duration_min_ms, excluded.duration_min_ms), coalesce(excluded.duration_min_ms, duration_min_ms)),
                    duration_max_ms = max(coalesce(duration_max_ms, excluded.duration_max_ms), coalesce(excluded.duration_max_ms, duration_max_ms))",
            )?
            .execute(params![
                key_id,
                d.day,
                d.passes as i64,
                d.fails as i64,
                d.others as i64,
                d.duration_n as i64,
                d.duration_sum_ms,
                d.duration_min_ms,
                d.duration_max_ms
            ])?;
        Ok(())
    }

    /// The recorded gap of `origin_id`'s chain holding position `origin_seq`: its end and
    /// the hash there (the same seek the log's delete trigger makes).
    fn gap_holding(&self, origin_id: i64, origin_seq: u64) -> Result<Option<(u64, Hash)>, StoreError> {
        let last: Option<(i64, Vec<u8>)> = self
            .conn
            .prepare_cached(
                "SELECT to_seq, hash FROM pruned WHERE origin_id = ?1 AND from_seq <= ?2 ORDER BY from_seq DESC LIMIT 1",
            )?
            .query_row(params![origin_id, origin_seq as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((to, hash)) = last.filter(|(to, _)| *to as u64 >= origin_seq) else { return Ok(None) };
        let hash = Hash::from_slice(&hash)
            .ok_or_else(|| StoreError::Corrupt { seq: 0, reason: "pruned hash is not 32 bytes".into() })?;
        Ok(Some((to as u64, hash)))
    }

    /// Whether position `origin_seq` of `origin_id`'s chain lies in a recorded gap.
    pub(super) fn in_gap(&self, origin_id: i64, origin_seq: u64) -> Result<bool, StoreError> {
        Ok(self.gap_holding(origin_id, origin_seq)?.is_some())
    }

    /// Steps `origin_id`'s head over the recorded gaps that hold its next position (an
    /// importer meeting a chain that continues after a gap).
    pub(super) fn step_over_gaps(&mut self, origin_id: i64) -> Result<(), StoreError> {
        loop {
            let head = self.head(origin_id);
            let Some((to, hash)) = self.gap_holding(origin_id, head.seq + 1)? else { return Ok(()) };
            self.heads.insert(origin_id, Head { seq: to, hash, ts: head.ts, dirty: true });
        }
    }
}

impl Writer {
    /// Gives the pages pruning freed back to the file system: an incremental vacuum once the
    /// store is in that mode; the first time, a full `VACUUM` that also switches it (SQLite
    /// can only change the mode by rebuilding the file; after a prune that copies only what
    /// is left). Then the WAL is checkpointed so the file itself shrinks.
    pub(super) fn reclaim_space(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch(&format!("PRAGMA cache_size = -{}", super::super::WRITER_CACHE_KIB))?;
        let mode: i64 = self.conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
        if mode == 2 {
            self.conn.execute_batch("PRAGMA incremental_vacuum")?;
        } else {
            self.conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM")?;
        }
        // The file shrinks once a checkpoint copies every frame, which waits (the busy
        // handler) for readers of older snapshots (a server's); failing that, the server's
        // own checkpoints finish it.
        for _ in 0..3 {
            let busy: i64 = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Ok(())
    }
}

/// A horizon's range as a gap (`None` when empty or its hash is not hex).
pub(in crate::store) fn gap_of(origin: &str, r: &PrunedRange) -> Option<Gap> {
    let hash = Hash::from_hex(&r.hash)?;
    (r.from >= 1 && r.from <= r.to).then(|| Gap { origin: origin.to_owned(), from: r.from, to: r.to, hash })
}
