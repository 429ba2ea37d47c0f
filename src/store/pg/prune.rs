//! Pruning on PostgreSQL, with the SQLite writer's rules (`store/writer/prune.rs`):
//! horizon entries sealed over old results (`verdict prune`) or imported from a peer
//! record their gaps, drop the entries they cover with every derived row, and add what
//! those results said to `run_days`. Also gaps announced ahead of their horizon, and the
//! removal of a result an equal copy replaces.

use super::writer::{Head, PgWriter};
use crate::log::{Body, Gap, Hash};
use crate::model::ResultRecord;
use crate::model::horizon::{DaySummary, Dropped, HorizonRecord, day_of, horizons_of};
use crate::store::writer::prune::gap_of;
use crate::store::writer::runs::{duration_of, fail_of};
use crate::store::{PruneStep, StoreError, uuid_key};

impl PgWriter {
    /// Prunes up to `limit` of the oldest results submitted before `before` (of testcases
    /// matching `like`): one horizon entry per origin, applied at once.
    pub(super) fn prune(&mut self, before: i64, like: Option<&str>, limit: usize) -> Result<PruneStep, StoreError> {
        self.flush_rows()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match like {
            None => self.conn.query(
                "SELECT r.id, o.node, l.origin_seq, l.hash, l.body FROM results r JOIN log l ON l.seq = r.id
                 JOIN origins o ON o.id = l.origin_id WHERE r.submit_time < $1 ORDER BY r.submit_time LIMIT $2",
                &[&before, &limit],
            )?,
            Some(p) => self.conn.query(
                "SELECT r.id, o.node, l.origin_seq, l.hash, l.body FROM results r JOIN log l ON l.seq = r.id
                 JOIN origins o ON o.id = l.origin_id
                 WHERE r.submit_time < $1 AND r.testcase_id IN (SELECT id FROM testcase WHERE name LIKE $3 ESCAPE '\\')
                 ORDER BY r.submit_time LIMIT $2",
                &[&before, &limit, &super::sql::like_pattern(p)],
            )?,
        };
        let mut step = PruneStep { results: rows.len() as u64, horizons: 0 };
        let mut dropped = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get(0)?;
            let hash: Vec<u8> = row.try_get(3)?;
            let body: String = row.try_get(4)?;
            let r: ResultRecord =
                serde_json::from_str(&body).map_err(|e| StoreError::Corrupt { seq: id, reason: e.to_string() })?;
            let first = |k: &str| r.data.get(k).and_then(|v| v.first()).cloned().unwrap_or_default();
            let hash = Hash::from_slice(&hash)
                .ok_or_else(|| StoreError::Corrupt { seq: id, reason: "hash is not 32 bytes".into() })?;
            dropped.push(Dropped {
                origin: row.try_get(1)?,
                origin_seq: row.try_get::<_, i64>(2)? as u64,
                hash: hash.to_hex(),
                key: (r.testcase.name.clone(), first("scenario"), first("arch"), day_of(r.submit_time)),
                fail: fail_of(&r.outcome),
                duration: duration_of(r.data.get("duration").and_then(|v| v.first()).map(String::as_str)),
            });
        }
        for record in horizons_of(before, like, dropped) {
            self.append_local(&Body::Horizon(record), None)?;
            step.horizons += 1;
        }
        Ok(step)
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
        for &id in &doomed {
            self.unindex_result(id)?;
        }
        if !doomed.is_empty() {
            self.conn.exec("DELETE FROM log WHERE seq = ANY($1)", &[&doomed])?;
        }
        for d in &h.days {
            self.add_day(seq, d)?;
        }
        Ok(())
    }

    /// Records a gap of `origin_id`'s chain; steps the head over it when the head lies
    /// inside. A gap that disagrees with what this store holds is refused.
    pub(super) fn declare_gap(&mut self, origin_id: i64, gap: &Gap, horizon: Option<i64>) -> Result<(), StoreError> {
        self.flush_rows()?;
        let refuse = |reason: &str| StoreError::Refused {
            origin: gap.origin.clone(),
            origin_seq: gap.to,
            reason: reason.to_owned(),
        };
        let (from, to) = (gap.from as i64, gap.to as i64);
        let known = self
            .conn
            .opt("SELECT to_seq, hash FROM pruned WHERE origin_id = $1 AND from_seq = $2", &[&origin_id, &from])?;
        match known {
            Some(row) => {
                let (held_to, hash): (i64, Vec<u8>) = (row.try_get(0)?, row.try_get(1)?);
                if held_to != to || hash != gap.hash.0 {
                    return Err(refuse("diverged: a pruned range here differs from the one this store holds"));
                }
                if let Some(h) = horizon {
                    self.conn.exec(
                        "UPDATE pruned SET horizon = $3 WHERE origin_id = $1 AND from_seq = $2",
                        &[&origin_id, &from, &h],
                    )?;
                }
            }
            None => {
                let held = self
                    .conn
                    .opt("SELECT hash FROM log WHERE origin_id = $1 AND origin_seq = $2", &[&origin_id, &to])?;
                if let Some(row) = held
                    && row.try_get::<_, Vec<u8>>(0)? != gap.hash.0
                {
                    return Err(refuse("diverged: the pruned range ends at an entry this store holds differently"));
                }
                self.conn.exec(
                    "INSERT INTO pruned(origin_id, from_seq, to_seq, hash, horizon) VALUES($1, $2, $3, $4, $5)",
                    &[&origin_id, &from, &to, &&gap.hash.0[..], &horizon],
                )?;
            }
        }
        let head = self.head(origin_id);
        if head.seq + 1 >= gap.from && head.seq < gap.to {
            self.heads.insert(origin_id, Head { seq: gap.to, hash: gap.hash, ts: head.ts, dirty: true });
        }
        Ok(())
    }

    /// The log positions of a gap's entries this store holds; only results may be pruned.
    fn held_in(&mut self, origin_id: i64, gap: &Gap) -> Result<Vec<i64>, StoreError> {
        let rows = self.conn.query(
            "SELECT seq, origin_seq, kind FROM log WHERE origin_id = $1 AND origin_seq BETWEEN $2 AND $3",
            &[&origin_id, &(gap.from as i64), &(gap.to as i64)],
        )?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get(2)?;
                if kind == "result" {
                    Ok(r.try_get(0)?)
                } else {
                    Err(StoreError::Refused {
                        origin: gap.origin.clone(),
                        origin_seq: r.try_get::<_, i64>(1)? as u64,
                        reason: format!("a horizon may prune only results; this entry is a {kind}"),
                    })
                }
            })
            .collect()
    }

    /// Removes result `id` from the derived tables; its log entry stays.
    pub(super) fn unindex_result(&mut self, id: i64) -> Result<(), StoreError> {
        let record = self.logged_result(id)?;
        if self.conn.exec("DELETE FROM results WHERE id = $1", &[&id])? == 0 {
            return Ok(()); // not listed: an equal copy another entry holds
        }
        self.conn
            .exec("DELETE FROM result_uuids WHERE uuid = $1 AND result_id = $2", &[&uuid_key(&record.uuid), &id])?;
        self.conn.exec("DELETE FROM result_data WHERE result_id = $1", &[&id])?;
        self.conn.exec("DELETE FROM result_groups WHERE result_id = $1", &[&id])?;
        self.conn.exec("DELETE FROM failures WHERE result_id = $1", &[&id])?;
        for row in self.conn.query("DELETE FROM runs WHERE result_id = $1 RETURNING key_id", &[&id])? {
            self.run_changed(row.try_get(0)?, id);
        }
        Ok(())
    }

    /// Adds one day's summary of pruned results to its key.
    fn add_day(&mut self, seq: i64, d: &DaySummary) -> Result<(), StoreError> {
        let testcase_id = self.intern_testcase(&d.testcase)?;
        let key_id = self.run_key(testcase_id, &d.scenario, &d.arch)?;
        self.run_changed(key_id, seq);
        self.conn.exec(
            "INSERT INTO run_days(key_id, day, passes, fails, others, duration_n, duration_sum_ms, duration_min_ms, duration_max_ms)
             VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (key_id, day) DO UPDATE SET passes = run_days.passes + excluded.passes,
                fails = run_days.fails + excluded.fails, others = run_days.others + excluded.others,
                duration_n = run_days.duration_n + excluded.duration_n,
                duration_sum_ms = run_days.duration_sum_ms + excluded.duration_sum_ms,
                duration_min_ms = least(run_days.duration_min_ms, excluded.duration_min_ms),
                duration_max_ms = greatest(run_days.duration_max_ms, excluded.duration_max_ms)",
            &[
                &key_id,
                &d.day,
                &(d.passes as i64),
                &(d.fails as i64),
                &(d.others as i64),
                &(d.duration_n as i64),
                &d.duration_sum_ms,
                &d.duration_min_ms,
                &d.duration_max_ms,
            ],
        )?;
        Ok(())
    }

    /// The recorded gap holding position `origin_seq`: its end and the hash there.
    fn gap_holding(&mut self, origin_id: i64, origin_seq: u64) -> Result<Option<(u64, Hash)>, StoreError> {
        let row = self.conn.opt(
            "SELECT to_seq, hash FROM pruned WHERE origin_id = $1 AND from_seq <= $2 ORDER BY from_seq DESC LIMIT 1",
            &[&origin_id, &(origin_seq as i64)],
        )?;
        let Some(row) = row else { return Ok(None) };
        let (to, hash): (i64, Vec<u8>) = (row.try_get(0)?, row.try_get(1)?);
        if (to as u64) < origin_seq {
            return Ok(None);
        }
        let hash = Hash::from_slice(&hash)
            .ok_or_else(|| StoreError::Corrupt { seq: 0, reason: "pruned hash is not 32 bytes".into() })?;
        Ok(Some((to as u64, hash)))
    }

    pub(super) fn in_gap(&mut self, origin_id: i64, origin_seq: u64) -> Result<bool, StoreError> {
        Ok(self.gap_holding(origin_id, origin_seq)?.is_some())
    }

    /// Steps `origin_id`'s head over the recorded gaps that hold its next position.
    pub(super) fn step_over_gaps(&mut self, origin_id: i64) -> Result<(), StoreError> {
        loop {
            let head = self.head(origin_id);
            let Some((to, hash)) = self.gap_holding(origin_id, head.seq + 1)? else { return Ok(()) };
            self.heads.insert(origin_id, Head { seq: to, hash, ts: head.ts, dirty: true });
        }
    }
}
