//! Applying results: the uuid index (one uuid from two origins: equal copies listed once,
//! different ones both listed as a conflict), postings, and the schema-1 upgrade.

use super::intern::{POSTINGS_PER_STATEMENT, postings_sql};
use super::{Stamp, Writer};
use crate::model::ResultRecord;
use crate::store::codec::stored_bytes;
use crate::store::{StoreError, uuid_key};
use rusqlite::{OptionalExtension, params};

impl Writer {
    pub(super) fn apply_result(
        &mut self,
        seq: i64,
        stamp: &Stamp,
        r: &ResultRecord,
        uuid_is_new: bool,
    ) -> Result<Option<i64>, StoreError> {
        // A result's id is its log position: ids stay increasing and rendering needs one row.
        let id = seq;
        let uuid = uuid_key(&r.uuid);
        let holders = if uuid_is_new { Vec::new() } else { self.result_ids_by_uuid(&r.uuid)? };
        if !holders.is_empty() {
            match self.holder_with_same_content(&holders, r)? {
                // The same result reached this node twice (a file ingested on two nodes, a
                // retry sent to two nodes): the log keeps both entries, the indexes the one
                // accepted first by (ts, origin, origin_seq), so every node lists the same
                // one whatever the order the entries arrived in. The other stays readable
                // by its id.
                Some(existing) if !self.earlier_than(stamp, existing)? => return Ok(Some(existing)),
                Some(existing) => self.unindex_result(existing)?,
                // Different results under one uuid (two origins chose the same one): both
                // stay visible — hiding either would hide an acknowledged result — and the
                // uuid is recorded as a conflict for operators.
                None => {
                    self.conn
                        .prepare_cached("INSERT OR IGNORE INTO uuid_conflicts(uuid) VALUES(?1)")?
                        .execute([&uuid])?;
                }
            }
        }
        self.conn
            .prepare_cached("INSERT INTO result_uuids(uuid, result_id) VALUES(?1, ?2)")?
            .execute(params![uuid, id])?;
        let testcase_id = self.touch_testcase(stamp, &r.testcase)?;
        let mut group_ids = Vec::with_capacity(r.groups.len());
        for g in &r.groups {
            group_ids.push(self.touch_group(stamp, g)?);
        }
        let mut postings = Vec::with_capacity(r.data.len());
        for (key, values) in &r.data {
            let key_id = self.intern_key(key)?;
            for value in values {
                postings.push((key_id, self.intern_value(value)?));
            }
        }
        self.conn
            .prepare_cached(
                "INSERT INTO results(id, testcase_id, outcome, submit_time, facets) VALUES(?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![id, testcase_id, r.outcome, r.submit_time, crate::store::facets::encode(&postings)])?;
        for gid in group_ids {
            self.conn
                .prepare_cached("INSERT OR IGNORE INTO result_groups(group_id, result_id) VALUES(?1, ?2)")?
                .execute(params![gid, id])?;
        }
        self.insert_postings(&postings, r.submit_time, id, testcase_id)?;
        self.index_run(id, testcase_id, r)?;
        Ok(Some(id))
    }

    /// Inserts a result's (key, value) postings, several rows per statement. A key may
    /// carry the same value twice; the body keeps the multiset, the postings need it once.
    fn insert_postings(
        &mut self,
        postings: &[(i64, i64)],
        time: i64,
        id: i64,
        testcase: i64,
    ) -> Result<(), StoreError> {
        for chunk in postings.chunks(POSTINGS_PER_STATEMENT) {
            let mut args: Vec<i64> = Vec::with_capacity(chunk.len() * 5);
            for (k, v) in chunk {
                args.extend([*k, *v, time, id, testcase]);
            }
            let added =
                self.conn.prepare_cached(postings_sql(chunk.len()))?.execute(rusqlite::params_from_iter(args))?;
            self.fold.added(i64::try_from(added).unwrap_or(0));
        }
        Ok(())
    }

    /// Whether `stamp` orders before the entry that holds result `id`.
    fn earlier_than(&self, stamp: &Stamp, id: i64) -> Result<bool, StoreError> {
        let (ts, origin, oseq): (i64, String, i64) = self
            .conn
            .prepare_cached(
                "SELECT l.ts, o.node, l.origin_seq FROM log l JOIN origins o ON o.id = l.origin_id WHERE l.seq = ?1",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok((stamp.ts, stamp.origin, stamp.oseq) < (ts, origin.as_str(), oseq))
    }

    /// The record in the log entry of result `id`.
    pub(super) fn logged_result(&self, id: i64) -> Result<ResultRecord, StoreError> {
        let (enc, body): (i64, Vec<u8>) = self
            .conn
            .prepare_cached("SELECT enc, body FROM log WHERE seq = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, stored_bytes(r, 1)?)))?;
        let body = self.decoder.decode(&self.conn, id, enc, body)?;
        serde_json::from_str(&body).map_err(|e| StoreError::Corrupt { seq: id, reason: e.to_string() })
    }

    /// Which of the results `ids` (one uuid) says the same as `r`, if any.
    fn holder_with_same_content(&self, ids: &[i64], r: &ResultRecord) -> Result<Option<i64>, StoreError> {
        for id in ids {
            if self.logged_result(*id)?.same_content(r) {
                return Ok(Some(*id));
            }
        }
        Ok(None)
    }

    pub(super) fn result_id_by_uuid(&self, uuid: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT result_id FROM result_uuids WHERE uuid = ?1 LIMIT 1")?
            .query_row([uuid_key(uuid)], |r| r.get(0))
            .optional()?)
    }

    /// Every visible result with this uuid (more than one only after a conflict).
    pub(super) fn result_ids_by_uuid(&self, uuid: &str) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT result_id FROM result_uuids WHERE uuid = ?1")?;
        let ids = stmt.query_map([uuid_key(uuid)], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Upgrades a version-1 store in one transaction: the two-column uuid index, then every
    /// result the old one-result-per-uuid index hid is applied again (a different result
    /// under a taken uuid becomes visible and a recorded conflict; an equal one stays hidden).
    pub fn upgrade_from_1(&mut self) -> Result<(), StoreError> {
        self.transaction(|w| {
            w.conn.execute_batch(crate::store::schema::UPGRADE_FROM_1)?;
            let hidden: Vec<(i64, i64, String, i64)> = w
                .conn
                .prepare(
                    "SELECT l.seq, l.ts, o.node, l.origin_seq FROM log l JOIN origins o ON o.id = l.origin_id
                     WHERE l.kind = 'result' AND NOT EXISTS (SELECT 1 FROM results r WHERE r.id = l.seq)
                     ORDER BY l.seq",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<_, _>>()?;
            for (seq, ts, origin, oseq) in hidden {
                let record = w.logged_result(seq)?;
                w.apply_result(seq, &Stamp { ts, origin: &origin, oseq }, &record, false)?;
            }
            w.conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'", [])?;
            Ok(())
        })
    }

    /// Schema 2 → 3: builds the insight index (`runs`) of every listed result.
    pub fn upgrade_from_2(&mut self) -> Result<(), StoreError> {
        self.transaction(|w| {
            w.index_all_runs()?;
            w.index_all_failures()?;
            w.conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'", [])?;
            Ok(())
        })
    }

    /// Schema 3 → 4: every key counts as changed at the newest log position (when its runs
    /// last changed before is not known), so cached classifications start from here.
    pub fn upgrade_from_3(&mut self) -> Result<(), StoreError> {
        self.transaction(|w| {
            w.conn.execute(
                "INSERT OR REPLACE INTO run_key_changes(key_id, changed)
                 SELECT id, (SELECT coalesce(max(seq), 0) FROM log) FROM run_keys",
                [],
            )?;
            w.conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'", [])?;
            Ok(())
        })
    }

    /// Schema 5 → 6: `result_data_recent` is created on open and starts empty (every
    /// posting of a version-5 store is in `result_data`); the bump keeps older builds, blind
    /// to the new table, off the store.
    pub fn upgrade_from_5(&mut self) -> Result<(), StoreError> {
        self.transaction(|w| {
            w.conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'", [])?;
            Ok(())
        })
    }

    /// Schema 4 → 5: the `pruned` and `run_days` tables and the delete trigger that admits
    /// pruned entries are created on open; a version-4 store has pruned nothing, so that is
    /// the whole upgrade (the bump keeps older builds, blind to gaps, off pruned stores).
    pub fn upgrade_from_4(&mut self) -> Result<(), StoreError> {
        self.transaction(|w| {
            w.conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'", [])?;
            Ok(())
        })
    }
}
