//! Insight's index: every result with a pass or fail outcome, by key (testcase, scenario,
//! arch) and submit time, with its item, type and duration (`runs`, `run_keys`). Written
//! with the result in the same transaction like every derived table, and built for a
//! store of schema version 2 when it is upgraded.

use super::Writer;
use super::intern::remember;
use crate::insight::{Class, class_of, signature_of};
use crate::model::ResultRecord;
use crate::store::StoreError;
use crate::store::facets;
use foldhash::HashMap;
use rusqlite::{OptionalExtension, params};

/// What `runs` keeps of one result, interned.
struct RunRow {
    key_id: i64,
    fail: bool,
    /// `data_values` ids of the first `data.item` and `data.type` (0: none).
    item_id: i64,
    type_id: i64,
    duration: Option<f64>,
}

/// Whether an outcome is a fail, a pass, or not a run at all (`None`).
pub(in crate::store) fn fail_of(outcome: &str) -> Option<bool> {
    match class_of(outcome) {
        Class::Pass => Some(false),
        Class::Fail => Some(true),
        Class::Ignored => None,
    }
}

/// A result's failure signature (see `insight::signature`).
pub(in crate::store) fn failure_signature(r: &ResultRecord) -> Option<String> {
    let error_reason = r.data.get("error_reason").and_then(|v| v.first()).map(String::as_str);
    signature_of(&r.outcome, r.note.as_deref(), error_reason)
}

/// `data.duration` in seconds, when it is a plain finite number.
pub(in crate::store) fn duration_of(text: Option<&str>) -> Option<f64> {
    text.and_then(|d| d.trim().parse::<f64>().ok()).filter(|d| d.is_finite())
}

impl Writer {
    /// Indexes result `id` for insight (nothing for outcomes that are neither a pass nor a
    /// fail: QUEUED, RUNNING and custom ones).
    pub(super) fn index_run(&mut self, id: i64, testcase_id: i64, r: &ResultRecord) -> Result<(), StoreError> {
        let Some(fail) = fail_of(&r.outcome) else { return Ok(()) };
        let first = |k: &str| r.data.get(k).and_then(|v| v.first()).map(String::as_str);
        let mut intern = |k: &str| first(k).map(|v| self.intern_value(v)).transpose().map(|id| id.unwrap_or(0));
        let (item_id, type_id) = (intern("item")?, intern("type")?);
        let key_id = self.run_key(testcase_id, first("scenario").unwrap_or(""), first("arch").unwrap_or(""))?;
        let row = RunRow { key_id, fail, item_id, type_id, duration: duration_of(first("duration")) };
        self.insert_run(id, r.submit_time, &row)?;
        if fail {
            self.index_failure(id, r)?;
        }
        Ok(())
    }

    /// Indexes a failing result under its failure signature (none without text).
    fn index_failure(&mut self, id: i64, r: &ResultRecord) -> Result<(), StoreError> {
        let Some(sig) = failure_signature(r) else { return Ok(()) };
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO failures(signature, submit_time, result_id) VALUES(?1, ?2, ?3)")?
            .execute(params![sig, r.submit_time, id])?;
        Ok(())
    }

    fn insert_run(&mut self, id: i64, submit_time: i64, row: &RunRow) -> Result<(), StoreError> {
        self.run_changed(row.key_id, id);
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO runs(key_id, submit_time, result_id, fail, item_id, type_id, duration)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![row.key_id, submit_time, id, row.fail, row.item_id, row.type_id, row.duration])?;
        Ok(())
    }

    /// Notes that key `key_id`'s runs changed at log position `at` (see `flush_run_changes`).
    pub(super) fn run_changed(&mut self, key_id: i64, at: i64) {
        let slot = self.runs_changed.entry(key_id).or_insert(at);
        *slot = (*slot).max(at);
    }

    /// Records, once per transaction, the position at which each key's runs changed: a
    /// cached classification of a key is valid while it stays put. That is the newest
    /// position the transaction wrote (a removal is noted under the removed result's id,
    /// older than the entry that caused it), so it is never earlier than the change.
    pub(super) fn flush_run_changes(&mut self) -> Result<(), StoreError> {
        let newest = self.wrote_up_to;
        for (key_id, at) in std::mem::take(&mut self.runs_changed) {
            let at = newest.map_or(at, |n| n.max(at));
            self.conn
                .prepare_cached(
                    "INSERT INTO run_key_changes(key_id, changed) VALUES(?1, ?2)
                     ON CONFLICT(key_id) DO UPDATE SET changed = max(changed, excluded.changed)",
                )?
                .execute(params![key_id, at])?;
        }
        Ok(())
    }

    /// The id of key (testcase, scenario, arch), created if missing.
    pub(super) fn run_key(&mut self, testcase_id: i64, scenario: &str, arch: &str) -> Result<i64, StoreError> {
        let text = format!("{testcase_id}\u{1f}{scenario}\u{1f}{arch}");
        if let Some(id) = self.run_keys.get(&text) {
            return Ok(*id);
        }
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO run_keys(testcase_id, scenario, arch) VALUES(?1, ?2, ?3)")?
            .execute(params![testcase_id, scenario, arch])?;
        let id: i64 = self
            .conn
            .prepare_cached("SELECT id FROM run_keys WHERE testcase_id = ?1 AND scenario = ?2 AND arch = ?3")?
            .query_row(params![testcase_id, scenario, arch], |r| r.get(0))?;
        remember(&mut self.run_keys, &text, id);
        Ok(id)
    }

    /// Schema 2 → 3, after [`Writer::index_all_runs`]: indexes the signature of every
    /// failing result it indexed (their notes are in the log bodies).
    pub(super) fn index_all_failures(&mut self) -> Result<(), StoreError> {
        // Ids only (8 bytes each), read in one pass; `runs` is ordered by key and time, so
        // they are sorted to read the log bodies in log order.
        let mut ids: Vec<i64> = self
            .conn
            .prepare("SELECT result_id FROM runs WHERE fail")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        ids.sort_unstable();
        for id in ids {
            let record = self.logged_result(id)?;
            self.index_failure(id, &record)?;
        }
        Ok(())
    }

    /// Schema 2 → 3: indexes every listed result for insight, from the `results` rows and
    /// their interned data (no log body is decoded).
    pub(super) fn index_all_runs(&mut self) -> Result<(), StoreError> {
        let key_id = |w: &Writer, k: &str| -> Result<i64, StoreError> {
            Ok(w.conn
                .prepare_cached("SELECT id FROM data_keys WHERE key = ?1")?
                .query_row([k], |r| r.get(0))
                .optional()?
                .unwrap_or(-1))
        };
        let [scenario_k, arch_k, item_k, type_k, duration_k] =
            ["scenario", "arch", "item", "type", "duration"].map(|k| key_id(self, k));
        let (scenario_k, arch_k, item_k, type_k, duration_k) = (scenario_k?, arch_k?, item_k?, type_k?, duration_k?);
        let values: HashMap<i64, String> = self
            .conn
            .prepare("SELECT id, value FROM data_values WHERE id IN (SELECT value_id FROM result_data WHERE key_id IN (?1, ?2, ?3)
                 UNION SELECT value_id FROM result_data_recent WHERE key_id IN (?1, ?2, ?3))")?
            .query_map([scenario_k, arch_k, duration_k], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        // In batches, so a large store is not held in memory at once.
        let mut after = 0i64;
        loop {
            let rows: Vec<(i64, i64, String, i64, Vec<u8>)> = self
                .conn
                .prepare_cached(
                    "SELECT id, testcase_id, outcome, submit_time, facets FROM results WHERE id > ?1 ORDER BY id LIMIT 50000",
                )?
                .query_map([after], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                .collect::<Result<_, _>>()?;
            let Some(last) = rows.last() else { break };
            after = last.0;
            for (id, testcase_id, outcome, submit_time, blob) in rows {
                let Some(fail) = fail_of(&outcome) else { continue };
                // Facets keep a result's (key, value) pairs in the order its data listed
                // them, so the first pair of a key is its first value.
                let pairs = facets::decode(&blob);
                let first = |k: i64| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
                let text = |k: i64| first(k).and_then(|v| values.get(&v)).map(String::as_str);
                let key_id = self.run_key(testcase_id, text(scenario_k).unwrap_or(""), text(arch_k).unwrap_or(""))?;
                let (item_id, type_id) = (first(item_k).unwrap_or(0), first(type_k).unwrap_or(0));
                let row = RunRow { key_id, fail, item_id, type_id, duration: duration_of(text(duration_k)) };
                self.insert_run(id, submit_time, &row)?;
            }
        }
        Ok(())
    }
}
