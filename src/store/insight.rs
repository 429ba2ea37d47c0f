//! Insight's reads: the keys (testcase, scenario, arch) results were indexed under, a
//! key's runs in a time range, the latest run of every key on an item, and the texts of
//! interned values. The logic over them is `crate::insight` (pure), fed by the service.
//!
//! Parameters compared with an indexed column are written `+?`: SQLite (built with STAT4)
//! otherwise recompiles such a statement whenever the bound value changes, because the
//! value might change the plan — measured: a decision covering quarantined failures spent
//! a third of its time re-preparing these statements (BENCHMARKS.md, "Insight"). The plans
//! here do not depend on values (each query has one sensible index).

use super::{StoreError, like_to_glob};
use rusqlite::{Connection, OptionalExtension, params_from_iter, types::Value};
use std::collections::HashMap;

/// A key results are indexed under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunKey {
    pub id: i64,
    pub testcase: String,
    pub scenario: String,
    pub arch: String,
    /// The newest log position at which a run of the key was added or removed, as of the
    /// reader's snapshot (`i64::MAX` when not recorded: treat as changing all the time).
    pub changed: i64,
}

/// Which keys: by testcase name or LIKE pattern, and exact scenario/arch.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    pub testcase: Option<String>,
    /// A ResultsDB-style pattern (`*` or `%` any text, `_` one character).
    pub testcase_like: Option<String>,
    pub scenario: Option<String>,
    pub arch: Option<String>,
}

/// Which runs of a key.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunRange {
    /// Submit times from, to (microseconds, inclusive).
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only results at or before this log position (decisions-style `when`).
    pub max_id: Option<i64>,
    /// Only results of this item (and type): interned value ids.
    pub item_id: Option<i64>,
    pub type_id: Option<i64>,
    pub newest_first: bool,
    pub limit: Option<usize>,
}

/// One indexed result: what insight needs without decoding its body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunRow {
    pub result_id: i64,
    pub submit_time: i64,
    pub fail: bool,
    /// Interned value ids of the first `data.item` and `data.type` (0: none).
    pub item_id: i64,
    pub type_id: i64,
    pub duration: Option<f64>,
}

/// The keys matching `f`, by testcase name, scenario and arch.
pub(super) fn keys(conn: &Connection, f: &KeyFilter) -> Result<Vec<RunKey>, StoreError> {
    let mut sql = String::from(
        "SELECT k.id, t.name, k.scenario, k.arch, c.changed FROM run_keys k JOIN testcase t ON t.id = k.testcase_id
         LEFT JOIN run_key_changes c ON c.key_id = k.id WHERE 1",
    );
    let mut args: Vec<Value> = Vec::new();
    let mut add = |clause: &str, v: String| {
        sql.push_str(clause);
        args.push(Value::Text(v));
    };
    if let Some(t) = &f.testcase {
        add(" AND t.name = +?", t.clone());
    }
    if let Some(p) = &f.testcase_like {
        add(" AND t.name GLOB ?", like_to_glob(p));
    }
    if let Some(s) = &f.scenario {
        add(" AND k.scenario = +?", s.clone());
    }
    if let Some(a) = &f.arch {
        add(" AND k.arch = +?", a.clone());
    }
    sql.push_str(" ORDER BY t.name, k.scenario, k.arch");
    let mut stmt = conn.prepare_cached(&sql).map_err(outdated)?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        let changed: Option<i64> = r.get(4)?;
        Ok(RunKey {
            id: r.get(0)?,
            testcase: r.get(1)?,
            scenario: r.get(2)?,
            arch: r.get(3)?,
            changed: changed.unwrap_or(i64::MAX),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The newest consecutive fails of key `key` (at or before log position `max_id`): how
/// many, and the submit time of the oldest of them. Read newest first, stopping at the
/// first pass, so a short streak costs a short read.
pub(super) fn fail_streak(conn: &Connection, key: i64, max_id: Option<i64>) -> Result<(usize, i64), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT submit_time, fail FROM runs WHERE key_id = ?1 AND result_id <= ?2
         ORDER BY submit_time DESC, result_id DESC",
    )?;
    let mut rows = stmt.query([key, max_id.unwrap_or(i64::MAX)])?;
    let (mut count, mut since) = (0, 0);
    while let Some(row) = rows.next()? {
        if !row.get::<_, bool>(1)? {
            break;
        }
        count += 1;
        since = row.get(0)?;
    }
    Ok((count, since))
}

/// Whether key `key` has a run with a submit time in `from..=to` (one index seek).
pub(super) fn has_runs(conn: &Connection, key: i64, from: i64, to: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM runs WHERE key_id = ?1 AND submit_time >= ?2 AND submit_time <= ?3 LIMIT 1")?
        .query_row([key, from, to], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The runs of key `key` in `range`.
pub(super) fn runs(conn: &Connection, key: i64, range: &RunRange) -> Result<Vec<RunRow>, StoreError> {
    let mut sql =
        String::from("SELECT result_id, submit_time, fail, item_id, type_id, duration FROM runs WHERE key_id = +?");
    let mut args = vec![key];
    let mut add = |clause: &str, v: Option<i64>| {
        if let Some(v) = v {
            sql.push_str(clause);
            args.push(v);
        }
    };
    add(" AND submit_time >= +?", range.since);
    add(" AND submit_time <= +?", range.until);
    add(" AND result_id <= ?", range.max_id);
    add(" AND item_id = ?", range.item_id);
    add(" AND type_id = ?", range.type_id);
    sql.push_str(if range.newest_first {
        " ORDER BY submit_time DESC, result_id DESC"
    } else {
        " ORDER BY submit_time, result_id"
    });
    if let Some(n) = range.limit {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    let mut stmt = conn.prepare_cached(&sql).map_err(outdated)?;
    let rows = stmt.query_map(params_from_iter(args), run_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A failing result under a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureRow {
    pub result_id: i64,
    pub submit_time: i64,
}

/// How many results with `signature` came before (`submit_time`, `result_id`), at or
/// before log position `max_id`; counting stops at `cap` (a common failure can have
/// hundreds of thousands, and "more than 10,000" says enough).
pub(super) fn failures_before(
    conn: &Connection,
    signature: &str,
    before: FailureRow,
    max_id: Option<i64>,
    cap: usize,
) -> Result<usize, StoreError> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM failures WHERE signature = +?1
               AND (submit_time < +?2 OR (submit_time = +?2 AND result_id < +?3)) AND (?4 IS NULL OR result_id <= ?4)
             LIMIT ?5)",
        )
        .map_err(outdated)?
        .query_row(rusqlite::params![signature, before.submit_time, before.result_id, max_id, cap as i64], |r| {
            r.get(0)
        })?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Results with `signature` at or before log position `max_id` (and before `before`):
/// the oldest first, or the newest first, at most `limit`.
pub(super) fn failures(
    conn: &Connection,
    signature: &str,
    max_id: Option<i64>,
    before: Option<FailureRow>,
    oldest_first: bool,
    limit: usize,
) -> Result<Vec<FailureRow>, StoreError> {
    let order = if oldest_first { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT result_id, submit_time FROM failures WHERE signature = +?1 AND (?2 IS NULL OR result_id <= ?2)
           AND (?3 IS NULL OR submit_time < +?3 OR (submit_time = +?3 AND result_id < +?4))
         ORDER BY submit_time {order}, result_id {order} LIMIT ?5"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(outdated)?;
    let (t, id) = (before.map(|b| b.submit_time), before.map(|b| b.result_id));
    let rows = stmt.query_map(rusqlite::params![signature, max_id, t, id, limit as i64], |r| {
        Ok(FailureRow { result_id: r.get(0)?, submit_time: r.get(1)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Data values starting with `prefix` (ids and texts), at most `limit`, by text: an index
/// range, not a scan (`last_good` looks for earlier builds of one package this way).
pub(super) fn values_with_prefix(
    conn: &Connection,
    prefix: &str,
    limit: usize,
) -> Result<Vec<(i64, String)>, StoreError> {
    // Every text with the prefix sorts at or after it and before the prefix followed by the
    // highest character.
    let end = format!("{prefix}\u{10FFFF}");
    let mut stmt = conn.prepare_cached(
        "SELECT id, value FROM data_values WHERE value >= +?1 AND value < +?2 ORDER BY value LIMIT ?3",
    )?;
    let rows = stmt.query_map(rusqlite::params![prefix, end, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The interned id of a data value, if any result carries it.
pub(super) fn value_id(conn: &Connection, text: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM data_values WHERE value = ?1")?
        .query_row([text], |r| r.get(0))
        .optional()?)
}

/// The texts of interned data values.
pub(super) fn value_texts(conn: &Connection, ids: &[i64]) -> Result<HashMap<i64, String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, value FROM data_values WHERE id IN rarray(?1)")?;
    let list = std::rc::Rc::new(ids.iter().copied().map(Value::Integer).collect::<Vec<_>>());
    let rows = stmt.query_map([list], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn run_row(r: &rusqlite::Row) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        result_id: r.get(0)?,
        submit_time: r.get(1)?,
        fail: r.get(2)?,
        item_id: r.get(3)?,
        type_id: r.get(4)?,
        duration: r.get(5)?,
    })
}

/// A store opened read-only before it was upgraded lacks the insight tables: say so.
fn outdated(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(_, Some(msg)) if msg.contains("no such table") => StoreError::Outdated,
        _ => e.into(),
    }
}

/// What pruned results of key `key` said, per UTC day from `from_day` to `to_day`
/// (inclusive, either open), oldest first (`run_days`, written by horizon entries).
pub(super) fn run_days(
    conn: &Connection,
    key: i64,
    from_day: Option<i64>,
    to_day: Option<i64>,
) -> Result<Vec<crate::model::DaySummary>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT day, passes, fails, others, duration_n, duration_sum_ms, duration_min_ms, duration_max_ms
         FROM run_days WHERE key_id = ?1 AND day >= ?2 AND day <= ?3 ORDER BY day",
    )?;
    let rows =
        stmt.query_map(rusqlite::params![key, from_day.unwrap_or(i64::MIN), to_day.unwrap_or(i64::MAX)], |r| {
            let mut d = crate::model::DaySummary::new("", "", "", r.get(0)?);
            d.passes = r.get::<_, i64>(1)? as u64;
            d.fails = r.get::<_, i64>(2)? as u64;
            d.others = r.get::<_, i64>(3)? as u64;
            d.duration_n = r.get::<_, i64>(4)? as u64;
            d.duration_sum_ms = r.get(5)?;
            d.duration_min_ms = r.get(6)?;
            d.duration_max_ms = r.get(7)?;
            Ok(d)
        })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
