//! Reads of the PostgreSQL store: the port of the SQLite `Reader` (`store/reader.rs`),
//! answering every [`ReadStore`] query with the same rows in the same order. Results are
//! planned in `plan.rs`; lists, the log and insight's reads are in the `read_*` files.
//!
//! A read transaction is `REPEATABLE READ READ ONLY`: one snapshot for all its queries, as
//! an SQLite read transaction. Result rows are rendered from the log body of each result,
//! the plain canonical JSON in `log.body`; a page's bodies are read in one round trip.

use super::conn::Conn;
use super::names::NameIds;
use super::plan::{self, Driver, IndexRow, Page};
use super::{read_insight, read_lists, read_log};
use crate::log::{Entry, Gap, Hash};
use crate::model::{
    DaySummary, GroupQuery, GroupView, QuarantineView, ResultQuery, ResultRecord, ResultView, TestcaseQuery,
    TestcaseView, WaiverView,
};
use crate::store::api::ReadStore;
use crate::store::{FailureRow, KeyFilter, OriginHead, RunKey, RunRange, RunRow, Stats, StoreError, WaiverKeys};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A connection that only reads.
pub struct PgReader {
    conn: Conn,
    /// Name ids every reader of the store has seen.
    names: Arc<NameIds>,
}

/// How many candidates of `previous_result` are read per round trip (the first usually
/// matches; SQLite reads them one by one).
const PREVIOUS_CHUNK: usize = 16;

impl PgReader {
    pub fn new(mut conn: Conn, names: Arc<NameIds>) -> Result<PgReader, StoreError> {
        // Statements are planned with their bound values unless a caller asks for a
        // generic plan: a generic plan guesses a data filter's size from averages, and one
        // value (`type=koji_build`) can hold a million postings while the next holds ten.
        // Statements whose shape fixes the plan (a unique key, a page whose SQL names its
        // driver) ask for it and skip the planning (see `Conn::query_generic`).
        conn.plan_with_values()?;
        // A read here is a few index probes: starting parallel workers costs more than
        // any of them (a generic plan's guessed row counts can pick a parallel scan that
        // took 7 ms for a page read in 0.03 ms).
        conn.batch("SET max_parallel_workers_per_gather = 0")?;
        Ok(PgReader { conn, names })
    }

    /// Views of index rows, in their order: each result's log body and its testcase's
    /// current `ref_url`, all in one round trip.
    fn load(&self, rows: &[IndexRow]) -> Result<Vec<ResultView>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let testcases: Vec<i64> = rows.iter().map(|r| r.1).collect();
        // Outer joins, so a missing row is told apart from a missing testcase.
        let found = self.conn.query_generic(
            "SELECT x.id, l.body, t.id IS NOT NULL, t.ref_url FROM unnest($1::bigint[], $2::bigint[]) AS x(id, tc)
             LEFT JOIN log l ON l.seq = x.id LEFT JOIN testcase t ON t.id = x.tc",
            &[&ids, &testcases],
        )?;
        let mut loaded: HashMap<i64, Loaded> = HashMap::with_capacity(rows.len());
        for row in found {
            loaded.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?));
        }
        rows.iter()
            // A row can be listed twice (once per distinct group it is in).
            .map(|&(id, _, _)| view_of(id, loaded.get(&id).cloned().unwrap_or((None, true, None))))
            .collect()
    }

    /// The API view of result `id` (body from the log, live testcase `ref_url`).
    fn view_by_id(&self, id: i64) -> Result<Option<ResultView>, StoreError> {
        let row = self.conn.opt(
            "SELECT l.body, t.ref_url FROM results r JOIN log l ON l.seq = r.id
             JOIN testcase t ON t.id = r.testcase_id WHERE r.id = $1",
            &[&id],
        )?;
        match row {
            Some(row) => {
                let body: String = row.try_get(0)?;
                Ok(Some(ResultView { id, record: decode_result(id, &body)?, testcase_ref_url: row.try_get(1)? }))
            }
            None => self.hidden_result(id),
        }
    }

    /// A result entry the indexes do not list because another origin stored the same
    /// result under its uuid first: still readable by its id (as on SQLite).
    fn hidden_result(&self, id: i64) -> Result<Option<ResultView>, StoreError> {
        let Some(row) = self.conn.opt("SELECT body FROM log WHERE seq = $1 AND kind = 'result'", &[&id])? else {
            return Ok(None);
        };
        let body: String = row.try_get(0)?;
        let record = decode_result(id, &body)?;
        let testcase_ref_url = read_lists::testcase(&self.conn, &record.testcase.name)?.and_then(|t| t.ref_url);
        Ok(Some(ResultView { id, record, testcase_ref_url }))
    }

    /// `/results/latest` without `_distinct_on`: per testcase every matching row at its
    /// newest time, from all rows of a small driver or one probe per testcase. A lone
    /// candidate driver is tried by reading its rows (see [`plan::lone_candidate`]), which
    /// saves the round trip that counts them.
    fn newest_per_testcase(&self, r: &plan::Resolved) -> Result<Vec<IndexRow>, StoreError> {
        let (driver, rows) = match plan::lone_candidate(r) {
            Some(driver) => {
                let first = Page { ascending: false, window: Some((plan::SMALL, 0)) };
                let rows = plan::rows(&self.conn, &plan::select(r, driver, first))?;
                if rows.len() as i64 >= plan::SMALL { (Driver::Time, None) } else { (driver, Some(rows)) }
            }
            None => (plan::choose_driver(&self.conn, r, false)?, None),
        };
        if !driver.is_small() {
            return plan::rows(&self.conn, &plan::select_newest_per_testcase(r));
        }
        let rows = match rows {
            Some(rows) => rows,
            None => plan::rows(&self.conn, &plan::select(r, driver, Page { ascending: false, window: None }))?,
        };
        // Rows are newest first: a testcase's first row sets its newest time.
        let mut newest: HashMap<i64, i64> = HashMap::new();
        Ok(rows.into_iter().filter(|&(_, testcase, time)| *newest.entry(testcase).or_insert(time) == time).collect())
    }

    /// Newest result per (testcase, value of each distinct key); a missing key is its own
    /// group and a result with several values for a key belongs to several groups (and is
    /// listed once per group, as upstream's `DISTINCT ON` join does). Values come from each
    /// result's packed facets. `rows` are newest first.
    fn newest_per_distinct(
        &self,
        rows: impl Iterator<Item = plan::FacetedRow>,
        keys: &[String],
    ) -> Result<Vec<IndexRow>, StoreError> {
        let mut key_ids = Vec::with_capacity(keys.len());
        for k in keys {
            key_ids.push(plan::data_key(&self.conn, &self.names, k)?);
        }
        let mut seen: HashSet<(i64, Vec<Option<i64>>)> = HashSet::new();
        let mut out = Vec::new();
        for (row, facets) in rows {
            for combo in combinations(&facets, &key_ids) {
                if seen.insert((row.1, combo)) {
                    out.push(row);
                }
            }
        }
        Ok(out)
    }

    /// `previous_result`'s candidates: the newest results of the testcase (and item)
    /// stored before `before`, at most 200, newest first.
    fn previous_candidates(
        &self,
        testcase: i64,
        item: Option<&String>,
        before: i64,
    ) -> Result<Vec<IndexRow>, StoreError> {
        let rows = match item {
            Some(item) => {
                let Some(key) = plan::data_key(&self.conn, &self.names, "item")? else { return Ok(Vec::new()) };
                let Some(value) = read_insight::value_id(&self.conn, item)? else { return Ok(Vec::new()) };
                self.conn.query(
                    "SELECT result_id, testcase_id, submit_time FROM result_data
                     WHERE key_id = $1 AND value_id = $2 AND testcase_id = $3 AND result_id < $4
                     ORDER BY submit_time DESC, result_id DESC LIMIT 200",
                    &[&key, &value, &testcase, &before],
                )?
            }
            None => self.conn.query(
                "SELECT id, testcase_id, submit_time FROM results WHERE testcase_id = $1 AND id < $2
                 ORDER BY submit_time DESC, id DESC LIMIT 200",
                &[&testcase, &before],
            )?,
        };
        plan::index_rows(&rows)
    }
}

/// What [`PgReader::load`] reads of a result: its log body (if the entry is there), whether
/// its testcase is, and the testcase's `ref_url`.
type Loaded = (Option<String>, bool, Option<String>);

/// The view of result `id` from what [`PgReader::load`] read of it.
fn view_of(id: i64, (body, has_testcase, testcase_ref_url): Loaded) -> Result<ResultView, StoreError> {
    let missing = |what: &str| StoreError::Corrupt { seq: id, reason: format!("{what} is missing") };
    let body = body.ok_or_else(|| missing("its log entry"))?;
    if !has_testcase {
        return Err(missing("its testcase"));
    }
    Ok(ResultView { id, record: decode_result(id, &body)?, testcase_ref_url })
}

/// A result record from its log body.
fn decode_result(seq: i64, body: &str) -> Result<ResultRecord, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt { seq, reason: e.to_string() })
}

/// Every combination of the distinct keys' value ids on a result (`None` for a missing key).
fn combinations(facets: &[(i64, i64)], keys: &[Option<i64>]) -> Vec<Vec<Option<i64>>> {
    let lists: Vec<Vec<Option<i64>>> = keys
        .iter()
        .map(|key| {
            let values: Vec<Option<i64>> =
                facets.iter().filter(|(k, _)| Some(*k) == *key).map(|(_, v)| Some(*v)).collect();
            if values.is_empty() { vec![None] } else { values }
        })
        .collect();
    crate::model::cartesian(&lists)
}

impl ReadStore for PgReader {
    /// The BEGIN goes out with the snapshot's first query, in its round trip.
    fn begin_read(&self) -> Result<(), StoreError> {
        self.conn.defer("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        Ok(())
    }

    fn end_read(&self) {
        // A snapshot that read nothing never began. Ending a read-only transaction cannot
        // lose anything; an error here only means it was already closed (or the
        // connection is gone).
        if !self.conn.forget_deferred() {
            // Not waited for: the next statement on this connection queues behind it.
            self.conn.send("COMMIT");
        }
    }

    fn healthy(&self) -> bool {
        // A dropped connection answers at once, without a round trip.
        !self.conn.is_closed() && self.conn.query("SELECT 1", &[]).is_ok()
    }

    fn result(&self, id: i64) -> Result<Option<ResultView>, StoreError> {
        self.view_by_id(id)
    }

    fn result_by_uuid(&self, uuid: &str) -> Result<Option<ResultView>, StoreError> {
        // Of several results under one uuid (a conflict), the lowest id, as SQLite's
        // first row in key order.
        let row = self.conn.opt(
            "SELECT result_id FROM result_uuids WHERE uuid = $1 ORDER BY result_id LIMIT 1",
            &[&crate::store::uuid_key(uuid)],
        )?;
        match row {
            Some(row) => self.view_by_id(row.try_get(0)?),
            None => Ok(None),
        }
    }

    fn conflict_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn.one("SELECT count(*) FROM uuid_conflicts", &[])?.try_get(0)?)
    }

    fn conflicts(&self, limit: i64) -> Result<Vec<(String, Vec<i64>)>, StoreError> {
        // The first `limit` conflicts in key order (SQLite's table order: its primary key).
        let rows = self.conn.query(
            "SELECT c.uuid, u.result_id FROM (SELECT uuid FROM uuid_conflicts ORDER BY uuid LIMIT $1) c
             JOIN result_uuids u ON u.uuid = c.uuid ORDER BY c.uuid, u.result_id",
            &[&limit],
        )?;
        let mut grouped: Vec<(Vec<u8>, Vec<i64>)> = Vec::new();
        for row in rows {
            let key: Vec<u8> = row.try_get(0)?;
            let id: i64 = row.try_get(1)?;
            match grouped.last_mut() {
                Some((k, ids)) if *k == key => ids.push(id),
                _ => grouped.push((key, vec![id])),
            }
        }
        let mut named = Vec::with_capacity(grouped.len());
        for (_, ids) in grouped {
            let uuid = match ids.first() {
                Some(id) => self.result(*id)?.map(|v| v.record.uuid).unwrap_or_default(),
                None => String::new(),
            };
            named.push((uuid, ids));
        }
        Ok(named)
    }

    fn results(&self, q: &ResultQuery) -> Result<Vec<ResultView>, StoreError> {
        let r = plan::resolve(&self.conn, &self.names, q, true)?;
        if r.empty {
            return Ok(Vec::new());
        }
        let page = Page { ascending: q.ascending, window: Some((q.limit.saturating_add(1), q.offset())) };
        let sql = match plan::select_choosing(&r, page) {
            Some(sql) => plan::with_bodies(sql, page),
            None => plan::select_with_bodies(&r, plan::choose_driver(&self.conn, &r, true)?, page),
        };
        sql.run(&self.conn)?
            .iter()
            .map(|row| view_of(row.try_get(0)?, (row.try_get(3)?, row.try_get(4)?, row.try_get(5)?)))
            .collect()
    }

    fn latest(&self, q: &ResultQuery) -> Result<Vec<ResultView>, StoreError> {
        let r = plan::resolve(&self.conn, &self.names, q, false)?;
        if r.empty {
            return Ok(Vec::new());
        }
        let mut picked = if q.distinct_on.is_empty() {
            self.newest_per_testcase(&r)?
        } else {
            let driver = plan::choose_driver(&self.conn, &r, false)?;
            let rows = plan::faceted_rows(&self.conn, &plan::select_faceted(&r, driver))?;
            let rows = rows.into_iter().filter(|(_, facets)| r.facets_match(facets));
            self.newest_per_distinct(rows, &q.distinct_on)?
        };
        picked.sort_by(|a, b| b.2.cmp(&a.2).then(b.0.cmp(&a.0)));
        self.load(&picked)
    }

    fn previous_result(&self, v: &ResultView) -> Result<Option<ResultView>, StoreError> {
        let Some(testcase) = read_lists::testcase_id(&self.conn, &v.record.testcase.name)? else {
            return Ok(None);
        };
        let item = v.record.data.get("item").and_then(|i| i.first());
        let candidates = self.previous_candidates(testcase, item, v.id)?;
        let same =
            |a: &ResultView, key: &str| v.record.data.get(key).is_none_or(|want| a.record.data.get(key) == Some(want));
        for chunk in candidates.chunks(PREVIOUS_CHUNK) {
            for candidate in self.load(chunk)? {
                if same(&candidate, "scenario")
                    && same(&candidate, "arch")
                    && (item.is_some() || !candidate.record.data.contains_key("item"))
                {
                    return Ok(Some(candidate));
                }
            }
        }
        Ok(None)
    }

    fn waiver(&self, id: i64) -> Result<Option<WaiverView>, StoreError> {
        read_lists::waiver(&self.conn, id)
    }

    fn waivers_matching(&self, keys: &[WaiverKeys]) -> Result<Vec<WaiverView>, StoreError> {
        read_lists::waivers_matching(&self.conn, keys)
    }

    fn commit_times(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        read_log::commit_times(&self.conn)
    }

    fn stored_by(&self, at: i64) -> Result<i64, StoreError> {
        read_log::stored_by(&self.conn, at)
    }

    fn is_ingested(&self, blake3: &str) -> Result<bool, StoreError> {
        Ok(self.conn.opt("SELECT 1 FROM ingests WHERE blake3 = $1", &[&blake3])?.is_some())
    }

    fn testcase(&self, name: &str) -> Result<Option<TestcaseView>, StoreError> {
        read_lists::testcase(&self.conn, name)
    }

    fn testcases(&self, q: &TestcaseQuery) -> Result<Vec<TestcaseView>, StoreError> {
        read_lists::testcases(&self.conn, q)
    }

    fn group(&self, uuid: &str) -> Result<Option<GroupView>, StoreError> {
        read_lists::group(&self.conn, uuid)
    }

    fn groups(&self, q: &GroupQuery) -> Result<Vec<GroupView>, StoreError> {
        read_lists::groups(&self.conn, q)
    }

    fn entries_after(&self, after: i64, limit: usize) -> Result<Vec<(i64, Entry)>, StoreError> {
        read_log::entries_after(&self.conn, after, limit)
    }

    fn origin_entries(&self, origin: &str, after: u64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        read_log::origin_entries(&self.conn, origin, after, limit)
    }

    fn hash_at(&self, origin: &str, origin_seq: u64) -> Result<Option<Hash>, StoreError> {
        read_log::hash_at(&self.conn, origin, origin_seq)
    }

    fn gaps(&self, origin: Option<&str>) -> Result<Vec<Gap>, StoreError> {
        read_log::gaps(&self.conn, origin)
    }

    fn last_seq(&self) -> Result<i64, StoreError> {
        Ok(self.conn.one("SELECT coalesce(max(seq), 0) FROM log", &[])?.try_get(0)?)
    }

    fn heads(&self) -> Result<Vec<OriginHead>, StoreError> {
        read_log::heads(&self.conn)
    }

    fn stats(&self) -> Result<Stats, StoreError> {
        read_log::stats(&self.conn)
    }

    fn outcome_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        read_log::outcome_counts(&self.conn)
    }

    fn run_keys(&self, f: &KeyFilter) -> Result<Vec<RunKey>, StoreError> {
        read_insight::keys(&self.conn, f)
    }

    fn runs(&self, key: i64, range: &RunRange) -> Result<Vec<RunRow>, StoreError> {
        read_insight::runs(&self.conn, key, range)
    }

    fn fail_streak(&self, key: i64, max_id: Option<i64>) -> Result<(usize, i64), StoreError> {
        read_insight::fail_streak(&self.conn, key, max_id)
    }

    fn run_days(&self, key: i64, from_day: Option<i64>, to_day: Option<i64>) -> Result<Vec<DaySummary>, StoreError> {
        read_insight::run_days(&self.conn, key, from_day, to_day)
    }

    fn has_runs(&self, key: i64, from: i64, to: i64) -> Result<bool, StoreError> {
        read_insight::has_runs(&self.conn, key, from, to)
    }

    fn failures_before(
        &self,
        signature: &str,
        before: FailureRow,
        max_id: Option<i64>,
        cap: usize,
    ) -> Result<usize, StoreError> {
        read_insight::failures_before(&self.conn, signature, before, max_id, cap)
    }

    fn failures(
        &self,
        signature: &str,
        max_id: Option<i64>,
        before: Option<FailureRow>,
        oldest_first: bool,
        limit: usize,
    ) -> Result<Vec<FailureRow>, StoreError> {
        read_insight::failures(&self.conn, signature, max_id, before, oldest_first, limit)
    }

    fn values_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<(i64, String)>, StoreError> {
        read_insight::values_with_prefix(&self.conn, prefix, limit)
    }

    fn value_id(&self, text: &str) -> Result<Option<i64>, StoreError> {
        read_insight::value_id(&self.conn, text)
    }

    fn value_texts(&self, ids: &[i64]) -> Result<HashMap<i64, String>, StoreError> {
        read_insight::value_texts(&self.conn, ids)
    }

    fn quarantine_entries(&self, uuid: Option<&str>, max_seq: Option<i64>) -> Result<Vec<QuarantineView>, StoreError> {
        read_insight::quarantine_entries(&self.conn, uuid, max_seq)
    }

    fn quarantine_mark(&self) -> Result<i64, StoreError> {
        Ok(self.conn.one("SELECT coalesce(max(seq), 0) FROM quarantines", &[])?.try_get(0)?)
    }
}
