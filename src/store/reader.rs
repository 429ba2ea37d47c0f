//! Read-only queries: the API's lists, lookups, `/results/latest`, and log walks.

use super::codec::{Decoder, stored_bytes};
use super::insight::{self, FailureRow, KeyFilter, RunKey, RunRange, RunRow};
use super::plan::{self, Driver, Page, Resolved, Sql};
use super::{ReadStore, StoreError, like_to_glob};
use crate::log::{Entry, Hash, Kind};
use crate::model::{
    GroupQuery, GroupView, ResultQuery, ResultRecord, ResultView, TestcaseQuery, TestcaseView, WaiverRecord, WaiverView,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{HashMap, HashSet};

/// Exact-field constraints on waivers (empty list: any value); see `Reader::waivers_matching`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaiverKeys {
    pub subject_types: Vec<String>,
    pub subject_identifiers: Vec<String>,
    pub testcases: Vec<String>,
    pub scenarios: Vec<String>,
    pub product_versions: Vec<String>,
    pub usernames: Vec<String>,
}

/// Whether a file with this content hash has been ingested (reader and writer).
pub(super) fn is_ingested(conn: &Connection, blake3: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM ingests WHERE blake3 = ?1")?
        .query_row([blake3], |_| Ok(()))
        .optional()?
        .is_some())
}

/// One origin's chain head: the version-vector entry for that origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginHead {
    pub origin: String,
    pub seq: u64,
    pub hash: Hash,
}

/// Counts for `verdict stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub results: i64,
    pub testcases: i64,
    pub groups: i64,
    pub log_entries: i64,
    pub origins: i64,
    pub data_keys: i64,
    pub data_values: i64,
    pub page_count: i64,
    pub page_size: i64,
    /// Waiver entries (creations and revocations alike: each is a waiver record).
    pub waivers: i64,
    /// Chain positions pruned (`verdict prune`) and the stretches they make.
    pub pruned: i64,
    pub gaps: i64,
}

/// A read-only connection.
pub struct Reader {
    conn: Connection,
    decoder: Decoder,
}

/// Loads the API view of result `id` (body from the log, live testcase `ref_url`).
pub(super) fn view_by_id(conn: &Connection, decoder: &Decoder, id: i64) -> Result<Option<ResultView>, StoreError> {
    let row: Option<(i64, Vec<u8>, Option<String>)> = conn
        .prepare_cached(
            "SELECT l.enc, l.body, t.ref_url FROM results r JOIN log l ON l.seq = r.id
             JOIN testcase t ON t.id = r.testcase_id WHERE r.id = +?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, stored_bytes(r, 1)?, r.get(2)?)))
        .optional()?;
    match row {
        Some((enc, body, testcase_ref_url)) => {
            let record = decode_result(conn, decoder, id, enc, body)?;
            Ok(Some(ResultView { id, record, testcase_ref_url }))
        }
        None => hidden_result(conn, decoder, id),
    }
}

fn decode_result(
    conn: &Connection,
    decoder: &Decoder,
    seq: i64,
    enc: i64,
    body: Vec<u8>,
) -> Result<ResultRecord, StoreError> {
    let body = decoder.decode(conn, seq, enc, body)?;
    serde_json::from_str(&body).map_err(|e| StoreError::Corrupt { seq, reason: e.to_string() })
}

/// A result entry the indexes do not list because another origin stored the same result
/// under its uuid first (see `Writer::apply_result`): still readable by its id, so an id a
/// node once answered with never stops working.
fn hidden_result(conn: &Connection, decoder: &Decoder, id: i64) -> Result<Option<ResultView>, StoreError> {
    let row: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT enc, body FROM log WHERE seq = ?1 AND kind = 'result'")?
        .query_row([id], |r| Ok((r.get(0)?, stored_bytes(r, 1)?)))
        .optional()?;
    let Some((enc, body)) = row else { return Ok(None) };
    let record = decode_result(conn, decoder, id, enc, body)?;
    let testcase_ref_url = testcase_by_name(conn, &record.testcase.name)?.and_then(|t| t.ref_url);
    Ok(Some(ResultView { id, record, testcase_ref_url }))
}

pub(super) fn testcase_by_name(conn: &Connection, name: &str) -> Result<Option<TestcaseView>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT name, ref_url FROM testcase WHERE name = ?1")?
        .query_row([name], |r| Ok(TestcaseView { name: r.get(0)?, ref_url: r.get(1)? }))
        .optional()?)
}

const GROUP_COLUMNS: &str =
    "g.uuid, g.description, g.ref_url, (SELECT count(*) FROM result_groups rg WHERE rg.group_id = g.id)";

fn group_row(r: &rusqlite::Row) -> rusqlite::Result<GroupView> {
    Ok(GroupView { uuid: r.get(0)?, description: r.get(1)?, ref_url: r.get(2)?, results_count: r.get(3)? })
}

pub(super) fn group_by_uuid(conn: &Connection, uuid: &str) -> Result<Option<GroupView>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {GROUP_COLUMNS} FROM grp g WHERE g.uuid = ?1"))?
        .query_row([uuid], group_row)
        .optional()?)
}

impl Reader {
    pub(super) fn new(conn: Connection) -> Reader {
        Reader { conn, decoder: Decoder::default() }
    }

    /// A loader for rows the indexes returned (known results).
    fn loader(&self) -> Loader<'_> {
        Loader { reader: self, ref_urls: HashMap::new() }
    }

    /// Without a selective filter: one newest-first index probe per testcase.
    fn newest_per_testcase_scan(&self, r: &Resolved) -> Result<Vec<Row>, StoreError> {
        let mut out = Vec::new();
        for t in plan::testcase_scope(&self.conn, r)? {
            let first = plan::rows(
                &self.conn,
                &plan::select(r, Driver::Time, Page { ascending: false, window: Some((1, 0)) }, Some(t)),
            )?;
            let Some(&(_, _, newest)) = first.first() else {
                continue;
            };
            // Upstream returns every result sharing the newest time.
            let tied = r.at_time(newest);
            out.extend(plan::rows(
                &self.conn,
                &plan::select(&tied, Driver::Time, Page { ascending: false, window: None }, Some(t)),
            )?);
        }
        Ok(out)
    }

    fn load_waiver(&self, id: i64) -> Result<WaiverView, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {WAIVER_COLUMNS} FROM waivers WHERE id = ?1"))?
            .query_row([id], waiver_row)?)
    }
}

impl ReadStore for Reader {
    // BEGIN and COMMIT are cached statements: `execute_batch` parsed them per read.
    fn begin_read(&self) -> Result<(), StoreError> {
        self.conn.prepare_cached("BEGIN")?.execute([])?;
        Ok(())
    }

    fn end_read(&self) {
        // Ending a read-only transaction cannot lose anything; an error here only means
        // the transaction was already closed.
        let _ = self.conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([]));
    }

    fn healthy(&self) -> bool {
        self.conn.query_row("SELECT count(*) FROM (SELECT 1 FROM results LIMIT 0)", [], |r| r.get::<_, i64>(0)).is_ok()
    }

    fn result(&self, id: i64) -> Result<Option<ResultView>, StoreError> {
        view_by_id(&self.conn, &self.decoder, id)
    }

    fn result_by_uuid(&self, uuid: &str) -> Result<Option<ResultView>, StoreError> {
        let id: Option<i64> = self
            .conn
            .prepare_cached("SELECT result_id FROM result_uuids WHERE uuid = ?1")?
            .query_row([super::uuid_key(uuid)], |r| r.get(0))
            .optional()?;
        match id {
            Some(id) => view_by_id(&self.conn, &self.decoder, id),
            None => Ok(None),
        }
    }

    fn conflict_count(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT count(*) FROM uuid_conflicts", [], |r| r.get(0))?)
    }

    fn conflicts(&self, limit: i64) -> Result<Vec<(String, Vec<i64>)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.uuid, u.result_id FROM (SELECT uuid FROM uuid_conflicts LIMIT ?1) c
             JOIN result_uuids u ON u.uuid = c.uuid ORDER BY c.uuid, u.result_id",
        )?;
        let mut rows = stmt.query([limit])?;
        let mut out: Vec<(Vec<u8>, Vec<i64>)> = Vec::new();
        while let Some(row) = rows.next()? {
            let key: Vec<u8> = row.get(0)?;
            let id: i64 = row.get(1)?;
            match out.last_mut() {
                Some((k, ids)) if *k == key => ids.push(id),
                _ => out.push((key, vec![id])),
            }
        }
        let mut named = Vec::with_capacity(out.len());
        for (_, ids) in out {
            let uuid = match ids.first() {
                Some(id) => self.result(*id)?.map(|v| v.record.uuid).unwrap_or_default(),
                None => String::new(),
            };
            named.push((uuid, ids));
        }
        Ok(named)
    }

    fn results(&self, q: &ResultQuery) -> Result<Vec<ResultView>, StoreError> {
        let r = plan::resolve(&self.conn, q, true)?;
        if r.empty {
            return Ok(Vec::new());
        }
        let driver = plan::choose_driver(&self.conn, &r, true)?;
        let page = Page { ascending: q.ascending, window: Some((q.limit.saturating_add(1), q.offset())) };
        let rows = plan::rows(&self.conn, &plan::select(&r, driver, page, None))?;
        let mut loader = self.loader();
        rows.into_iter().map(|row| loader.load(row)).collect()
    }

    fn latest(&self, q: &ResultQuery) -> Result<Vec<ResultView>, StoreError> {
        let r = plan::resolve(&self.conn, q, false)?;
        if r.empty {
            return Ok(Vec::new());
        }
        let driver = plan::choose_driver(&self.conn, &r, false)?;
        let all = Page { ascending: false, window: None };
        let mut loader = self.loader();
        let mut picked: Vec<Row> = if !q.distinct_on.is_empty() {
            let rows = plan::faceted_rows(&self.conn, &plan::select_faceted(&r, driver))?;
            let rows = rows.into_iter().filter(|(_, facets)| r.facets_match(facets));
            newest_per_distinct(&self.conn, rows, &q.distinct_on)?
        } else if driver.is_small() {
            newest_per_testcase(plan::rows(&self.conn, &plan::select(&r, driver, all, None))?)
        } else {
            self.newest_per_testcase_scan(&r)?
        };
        picked.sort_by(|a, b| b.2.cmp(&a.2).then(b.0.cmp(&a.0)));
        picked.into_iter().map(|row| loader.load(row)).collect()
    }

    fn previous_result(&self, v: &ResultView) -> Result<Option<ResultView>, StoreError> {
        let testcase: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM testcase WHERE name = ?1")?
            .query_row([&v.record.testcase.name], |r| r.get(0))
            .optional()?;
        let Some(testcase) = testcase else { return Ok(None) };
        let item = v.record.data.get("item").and_then(|i| i.first());
        let rows: Vec<Row> = match item {
            Some(item) => {
                let key: Option<i64> = self
                    .conn
                    .prepare_cached("SELECT k.id FROM data_keys k WHERE k.key = 'item'")?
                    .query_row([], |r| r.get(0))
                    .optional()?;
                let value: Option<i64> = self
                    .conn
                    .prepare_cached("SELECT id FROM data_values WHERE value = ?1")?
                    .query_row([item], |r| r.get(0))
                    .optional()?;
                let (Some(key), Some(value)) = (key, value) else { return Ok(None) };
                let mut stmt = self.conn.prepare_cached(
                    "SELECT result_id, testcase_id, submit_time FROM result_data
                     WHERE key_id = +?1 AND value_id = +?2 AND testcase_id = +?3 AND result_id < ?4
                     UNION ALL
                     SELECT result_id, testcase_id, submit_time FROM result_data_recent
                     WHERE key_id = +?1 AND value_id = +?2 AND testcase_id = +?3 AND result_id < ?4
                     ORDER BY 3 DESC, 1 DESC LIMIT 200",
                )?;
                let rows =
                    stmt.query_map(params![key, value, testcase, v.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<Result<_, _>>()?
            }
            None => {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT id, testcase_id, submit_time FROM results INDEXED BY results_testcase_time
                     WHERE testcase_id = +?1 AND id < ?2 ORDER BY submit_time DESC, id DESC LIMIT 200",
                )?;
                let rows = stmt.query_map(params![testcase, v.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<Result<_, _>>()?
            }
        };
        let mut loader = self.loader();
        let same =
            |a: &ResultView, key: &str| v.record.data.get(key).is_none_or(|want| a.record.data.get(key) == Some(want));
        for row in rows {
            let candidate = loader.load(row)?;
            if same(&candidate, "scenario")
                && same(&candidate, "arch")
                && (item.is_some() || !candidate.record.data.contains_key("item"))
            {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    fn waiver(&self, id: i64) -> Result<Option<WaiverView>, StoreError> {
        let exists: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM waivers WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        match exists {
            Some(id) => Ok(Some(self.load_waiver(id)?)),
            None => Ok(None),
        }
    }

    fn waivers_matching(&self, keys: &[WaiverKeys]) -> Result<Vec<WaiverView>, StoreError> {
        let mut sql = Sql::default();
        let mut alternatives = Vec::new();
        let mut everything = keys.is_empty();
        for k in keys {
            let mut conds = Vec::new();
            for (col, values) in [
                ("subject_type", &k.subject_types),
                ("subject_identifier", &k.subject_identifiers),
                ("testcase", &k.testcases),
                ("scenario", &k.scenarios),
                ("product_version", &k.product_versions),
                ("username", &k.usernames),
            ] {
                if !values.is_empty() {
                    conds.push(format!("{col} {}", sql.in_texts(values)));
                }
            }
            if conds.is_empty() {
                everything = true;
            }
            alternatives.push(format!("({})", conds.join(" AND ")));
        }
        let mut text = format!("SELECT {WAIVER_COLUMNS} FROM waivers");
        if !everything {
            text.push_str(&format!(" WHERE {}", alternatives.join(" OR ")));
        } else {
            sql.params.clear();
        }
        text.push_str(" ORDER BY id");
        sql.text = text;
        let mut stmt = self.conn.prepare_cached(&sql.text)?;
        let rows = stmt.query_map(sql.params(), waiver_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn commit_times(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        let exists: bool = self.conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'commit_times'",
            [],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare("SELECT seq, at FROM commit_times ORDER BY seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn stored_by(&self, at: i64) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT coalesce(max(seq), 0) FROM commit_times INDEXED BY commit_times_at WHERE at <= ?1",
            [at],
            |r| r.get(0),
        )?)
    }

    fn is_ingested(&self, blake3: &str) -> Result<bool, StoreError> {
        is_ingested(&self.conn, blake3)
    }

    fn testcase(&self, name: &str) -> Result<Option<TestcaseView>, StoreError> {
        testcase_by_name(&self.conn, name)
    }

    fn testcases(&self, q: &TestcaseQuery) -> Result<Vec<TestcaseView>, StoreError> {
        let mut sql = Sql::default();
        let mut text = "SELECT name, ref_url FROM testcase".to_owned();
        if !q.names.is_empty() {
            text.push_str(&format!(" WHERE name {}", sql.in_texts(&q.names)));
        } else if !q.name_like.is_empty() {
            let globs: Vec<String> =
                q.name_like.iter().map(|p| format!("name GLOB {}", sql.param(like_to_glob(p)))).collect();
            text.push_str(&format!(" WHERE {}", globs.join(" OR ")));
        }
        text.push_str(&format!(
            " ORDER BY name LIMIT {} OFFSET {}",
            sql.param(q.list.limit.saturating_add(1)),
            sql.param(q.list.offset())
        ));
        sql.text = text;
        let mut stmt = self.conn.prepare_cached(&sql.text)?;
        let rows = stmt.query_map(sql.params(), |r| Ok(TestcaseView { name: r.get(0)?, ref_url: r.get(1)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn group(&self, uuid: &str) -> Result<Option<GroupView>, StoreError> {
        group_by_uuid(&self.conn, uuid)
    }

    fn groups(&self, q: &GroupQuery) -> Result<Vec<GroupView>, StoreError> {
        let mut sql = Sql::default();
        let mut conds = Vec::new();
        if !q.descriptions.is_empty() {
            conds.push(format!("g.description {}", sql.in_texts(&q.descriptions)));
        } else if !q.description_like.is_empty() {
            let globs: Vec<String> = q
                .description_like
                .iter()
                .map(|p| format!("g.description GLOB {}", sql.param(like_to_glob(p))))
                .collect();
            conds.push(format!("({})", globs.join(" OR ")));
        }
        if !q.uuids.is_empty() {
            conds.push(format!("g.uuid {}", sql.in_texts(&q.uuids)));
        }
        let mut text = format!("SELECT {GROUP_COLUMNS} FROM grp g");
        if !conds.is_empty() {
            text.push_str(&format!(" WHERE {}", conds.join(" AND ")));
        }
        text.push_str(&format!(
            " ORDER BY g.id DESC LIMIT {} OFFSET {}",
            sql.param(q.list.limit.saturating_add(1)),
            sql.param(q.list.offset())
        ));
        sql.text = text;
        let mut stmt = self.conn.prepare_cached(&sql.text)?;
        let rows = stmt.query_map(sql.params(), group_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn entries_after(&self, after: i64, limit: usize) -> Result<Vec<(i64, Entry)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT l.seq, o.node, l.origin_seq, l.kind, l.ts, l.enc, l.body, l.hash FROM log l
             JOIN origins o ON o.id = l.origin_id WHERE l.seq > ?1 ORDER BY l.seq LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![after, limit as i64])?;
        let mut out = Vec::with_capacity(limit.min(4096));
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let corrupt = |reason: &str| StoreError::Corrupt { seq, reason: reason.to_owned() };
            let kind: String = row.get(3)?;
            let hash: Vec<u8> = row.get(7)?;
            let body = self.decoder.decode(&self.conn, seq, row.get(5)?, stored_bytes(row, 6)?)?;
            out.push((
                seq,
                Entry {
                    origin: row.get(1)?,
                    origin_seq: row.get::<_, i64>(2)? as u64,
                    kind: Kind::parse(&kind).ok_or_else(|| corrupt(&format!("unknown kind {kind:?}")))?,
                    ts: row.get(4)?,
                    body,
                    hash: Hash::from_slice(&hash).ok_or_else(|| corrupt("hash is not 32 bytes"))?,
                },
            ));
        }
        Ok(out)
    }

    fn origin_entries(&self, origin: &str, after: u64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT l.seq, l.origin_seq, l.kind, l.ts, l.enc, l.body, l.hash FROM log l INDEXED BY log_origin
             WHERE l.origin_id = (SELECT id FROM origins WHERE node = ?1) AND l.origin_seq > ?2
             ORDER BY l.origin_seq LIMIT ?3",
        )?;
        let mut rows = stmt.query(params![origin, i64::try_from(after).unwrap_or(i64::MAX), limit as i64])?;
        let mut out = Vec::with_capacity(limit.min(4096));
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let corrupt = |reason: &str| StoreError::Corrupt { seq, reason: reason.to_owned() };
            let kind: String = row.get(2)?;
            let hash: Vec<u8> = row.get(6)?;
            let body = self.decoder.decode(&self.conn, seq, row.get(4)?, stored_bytes(row, 5)?)?;
            out.push(Entry {
                origin: origin.to_owned(),
                origin_seq: row.get::<_, i64>(1)? as u64,
                kind: Kind::parse(&kind).ok_or_else(|| corrupt(&format!("unknown kind {kind:?}")))?,
                ts: row.get(3)?,
                body,
                hash: Hash::from_slice(&hash).ok_or_else(|| corrupt("hash is not 32 bytes"))?,
            });
        }
        Ok(out)
    }

    fn hash_at(&self, origin: &str, origin_seq: u64) -> Result<Option<Hash>, StoreError> {
        if origin_seq == 0 {
            return Ok(Some(Hash::GENESIS));
        }
        let hash: Option<Vec<u8>> = self
            .conn
            .prepare_cached(
                "SELECT l.hash FROM log l INDEXED BY log_origin
                 WHERE l.origin_id = (SELECT id FROM origins WHERE node = ?1) AND l.origin_seq = ?2",
            )?
            .query_row(params![origin, i64::try_from(origin_seq).unwrap_or(i64::MAX)], |r| r.get(0))
            .optional()?;
        match hash {
            Some(h) => Ok(Some(Hash::from_slice(&h).ok_or(StoreError::Corrupt {
                seq: 0,
                reason: format!("hash of {origin}#{origin_seq} is not 32 bytes"),
            })?)),
            None => super::pruned::hash_at_gap_end(&self.conn, origin, origin_seq),
        }
    }

    fn gaps(&self, origin: Option<&str>) -> Result<Vec<crate::log::Gap>, StoreError> {
        super::pruned::gaps(&self.conn, origin)
    }

    fn last_seq(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("SELECT coalesce(max(seq), 0) FROM log", [], |r| r.get(0))?)
    }

    fn heads(&self) -> Result<Vec<OriginHead>, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT node, head_seq, head_hash FROM origins ORDER BY node")?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (origin, seq, hash) = row?;
            let hash = Hash::from_slice(&hash)
                .ok_or(StoreError::Corrupt { seq: 0, reason: format!("head hash of {origin} is not 32 bytes") })?;
            out.push(OriginHead { origin, seq: seq as u64, hash });
        }
        Ok(out)
    }

    fn stats(&self) -> Result<Stats, StoreError> {
        let count = |table: &str| -> Result<i64, StoreError> {
            Ok(self.conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
        };
        Ok(Stats {
            results: count("results")?,
            testcases: count("testcase")?,
            groups: count("grp")?,
            log_entries: count("log")?,
            origins: count("origins")?,
            data_keys: count("data_keys")?,
            data_values: count("data_values")?,
            page_count: self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?,
            page_size: self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?,
            waivers: count("waivers")?,
            gaps: count("pruned")?,
            pruned: self
                .conn
                .query_row("SELECT coalesce(sum(to_seq - from_seq + 1), 0) FROM pruned", [], |r| r.get(0))?,
        })
    }

    fn outcome_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT outcome, count(*) FROM results GROUP BY outcome ORDER BY 2 DESC")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn run_keys(&self, f: &KeyFilter) -> Result<Vec<RunKey>, StoreError> {
        insight::keys(&self.conn, f)
    }

    fn runs(&self, key: i64, range: &RunRange) -> Result<Vec<RunRow>, StoreError> {
        insight::runs(&self.conn, key, range)
    }

    fn fail_streak(&self, key: i64, max_id: Option<i64>) -> Result<(usize, i64), StoreError> {
        insight::fail_streak(&self.conn, key, max_id)
    }

    fn run_days(
        &self,
        key: i64,
        from_day: Option<i64>,
        to_day: Option<i64>,
    ) -> Result<Vec<crate::model::DaySummary>, StoreError> {
        insight::run_days(&self.conn, key, from_day, to_day)
    }

    fn has_runs(&self, key: i64, from: i64, to: i64) -> Result<bool, StoreError> {
        insight::has_runs(&self.conn, key, from, to)
    }

    fn failures_before(
        &self,
        signature: &str,
        before: FailureRow,
        max_id: Option<i64>,
        cap: usize,
    ) -> Result<usize, StoreError> {
        insight::failures_before(&self.conn, signature, before, max_id, cap)
    }

    fn failures(
        &self,
        signature: &str,
        max_id: Option<i64>,
        before: Option<FailureRow>,
        oldest_first: bool,
        limit: usize,
    ) -> Result<Vec<FailureRow>, StoreError> {
        insight::failures(&self.conn, signature, max_id, before, oldest_first, limit)
    }

    fn values_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<(i64, String)>, StoreError> {
        insight::values_with_prefix(&self.conn, prefix, limit)
    }

    fn value_id(&self, text: &str) -> Result<Option<i64>, StoreError> {
        insight::value_id(&self.conn, text)
    }

    fn value_texts(&self, ids: &[i64]) -> Result<HashMap<i64, String>, StoreError> {
        insight::value_texts(&self.conn, ids)
    }

    fn quarantine_entries(
        &self,
        uuid: Option<&str>,
        max_seq: Option<i64>,
    ) -> Result<Vec<crate::model::QuarantineView>, StoreError> {
        super::quarantines::entries(&self.conn, uuid, max_seq)
    }

    fn quarantine_mark(&self) -> Result<i64, StoreError> {
        super::quarantines::mark(&self.conn)
    }
}

/// Per testcase, every row at that testcase's newest time. `rows` are newest first.
fn newest_per_testcase(rows: Vec<Row>) -> Vec<Row> {
    let mut newest: HashMap<i64, i64> = HashMap::new();
    rows.into_iter().filter(|&(_, testcase, time)| *newest.entry(testcase).or_insert(time) == time).collect()
}

/// Newest result per (testcase, value of each distinct key); a missing key is its own
/// group and a result with several values for a key belongs to several groups (and is
/// listed once per group, as upstream's `DISTINCT ON` join does). Values come from each
/// result's packed facets, not its body. `rows` are newest first.
fn newest_per_distinct(
    conn: &Connection,
    rows: impl Iterator<Item = plan::FacetedRow>,
    keys: &[String],
) -> Result<Vec<Row>, StoreError> {
    let mut key_ids = Vec::with_capacity(keys.len());
    for k in keys {
        key_ids.push(
            conn.prepare_cached("SELECT id FROM data_keys WHERE key = ?1")?
                .query_row([k], |r| r.get::<_, i64>(0))
                .optional()?,
        );
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

const WAIVER_COLUMNS: &str = "id, uuid, subject_type, subject_identifier, testcase, scenario, product_version, \
     username, timestamp, waived, comment, proxied_by, expires_at";

fn waiver_row(r: &rusqlite::Row) -> rusqlite::Result<WaiverView> {
    Ok(WaiverView {
        id: r.get(0)?,
        record: WaiverRecord {
            uuid: r.get(1)?,
            subject_type: r.get(2)?,
            subject_identifier: r.get(3)?,
            testcase: r.get(4)?,
            scenario: r.get(5)?,
            product_version: r.get(6)?,
            username: r.get(7)?,
            timestamp: r.get(8)?,
            waived: r.get(9)?,
            comment: r.get(10)?,
            proxied_by: r.get(11)?,
            expires_at: r.get(12)?,
        },
    })
}

/// An index row: (result id, testcase id, submit time).
type Row = (i64, i64, i64);

/// Loads result views for index rows: one log row per result, each testcase's current
/// `ref_url` once per request.
struct Loader<'a> {
    reader: &'a Reader,
    ref_urls: HashMap<i64, Option<String>>,
}

impl Loader<'_> {
    fn load(&mut self, (id, testcase, _): Row) -> Result<ResultView, StoreError> {
        let conn = &self.reader.conn;
        let (enc, body): (i64, Vec<u8>) = conn
            .prepare_cached("SELECT enc, body FROM log WHERE seq = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, stored_bytes(r, 1)?)))?;
        let body = self.reader.decoder.decode(conn, id, enc, body)?;
        let record: ResultRecord =
            serde_json::from_str(&body).map_err(|e| StoreError::Corrupt { seq: id, reason: e.to_string() })?;
        let testcase_ref_url = match self.ref_urls.get(&testcase) {
            Some(u) => u.clone(),
            None => {
                let u: Option<String> = conn
                    .prepare_cached("SELECT ref_url FROM testcase WHERE id = ?1")?
                    .query_row([testcase], |r| r.get(0))?;
                self.ref_urls.insert(testcase, u.clone());
                u
            }
        };
        Ok(ResultView { id, record, testcase_ref_url })
    }
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
