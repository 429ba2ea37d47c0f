//! Insight's and quarantines' reads on PostgreSQL: the port of `store/insight.rs` (keys,
//! runs, fail streaks, pruned days, known failures, interned values) and
//! `store/quarantines.rs`. The logic over these rows is `crate::insight` (pure).

use super::conn::Conn;
use super::sql::{Sql, like_cond, storable};
use crate::model::{DaySummary, QuarantineRecord, QuarantineView};
use crate::store::{FailureRow, KeyFilter, RunKey, RunRange, RunRow, StoreError};
use std::collections::HashMap;
use tokio_postgres::Row;

/// The keys matching `f`, by testcase name, scenario and arch (byte order, as SQLite's).
pub(super) fn keys(conn: &Conn, f: &KeyFilter) -> Result<Vec<RunKey>, StoreError> {
    let exact = [&f.scenario, &f.arch].into_iter().flatten();
    if exact.chain(&f.testcase_like).any(|s| !storable(s)) {
        // No stored text holds a NUL character (PostgreSQL refuses them).
        return Ok(Vec::new());
    }
    let mut sql = Sql::default();
    let mut text = String::from(
        "SELECT k.id, t.name, k.scenario, k.arch, c.changed FROM run_keys k JOIN testcase t ON t.id = k.testcase_id
         LEFT JOIN run_key_changes c ON c.key_id = k.id WHERE TRUE",
    );
    if let Some(t) = &f.testcase {
        text.push_str(&format!(" AND t.name_key = {}", sql.param(super::text_key(t))));
    }
    if let Some(p) = &f.testcase_like {
        text.push_str(&format!(" AND {}", like_cond(&mut sql, "t.name", p, true)));
    }
    // The key's unique index is on (testcase_id, md5(scenario), md5(arch)).
    if let Some(s) = &f.scenario {
        let p = sql.param(s.clone());
        text.push_str(&format!(" AND md5(k.scenario) = md5({p}::text) AND k.scenario = {p}"));
    }
    if let Some(a) = &f.arch {
        let p = sql.param(a.clone());
        text.push_str(&format!(" AND md5(k.arch) = md5({p}::text) AND k.arch = {p}"));
    }
    text.push_str(" ORDER BY t.name, k.scenario COLLATE \"C\", k.arch COLLATE \"C\"");
    sql.text = text;
    sql.run(conn)?
        .iter()
        .map(|r| {
            let changed: Option<i64> = r.try_get(4)?;
            Ok(RunKey {
                id: r.try_get(0)?,
                testcase: r.try_get(1)?,
                scenario: r.try_get(2)?,
                arch: r.try_get(3)?,
                changed: changed.unwrap_or(i64::MAX),
            })
        })
        .collect()
}

/// The newest consecutive fails of key `key` (at or before log position `max_id`): how
/// many, and the submit time of the oldest of them. SQLite reads runs newest first up to
/// the first pass; here the newest pass is found the same way (one backward index read)
/// and the runs after it are counted.
pub(super) fn fail_streak(conn: &Conn, key: i64, max_id: Option<i64>) -> Result<(usize, i64), StoreError> {
    let max_id = max_id.unwrap_or(i64::MAX);
    let pass = conn.opt(
        "SELECT submit_time, result_id FROM runs WHERE key_id = $1 AND result_id <= $2 AND fail = 0
         ORDER BY submit_time DESC, result_id DESC LIMIT 1",
        &[&key, &max_id],
    )?;
    let row = match pass {
        Some(pass) => {
            let (time, id): (i64, i64) = (pass.try_get(0)?, pass.try_get(1)?);
            conn.one(
                "SELECT count(*), coalesce(min(submit_time), 0) FROM runs
                 WHERE key_id = $1 AND result_id <= $2 AND (submit_time, result_id) > ($3, $4)",
                &[&key, &max_id, &time, &id],
            )?
        }
        None => conn.one(
            "SELECT count(*), coalesce(min(submit_time), 0) FROM runs WHERE key_id = $1 AND result_id <= $2",
            &[&key, &max_id],
        )?,
    };
    let count: i64 = row.try_get(0)?;
    Ok((usize::try_from(count).unwrap_or(0), row.try_get(1)?))
}

/// Whether key `key` has a run with a submit time in `from..=to` (one index seek).
pub(super) fn has_runs(conn: &Conn, key: i64, from: i64, to: i64) -> Result<bool, StoreError> {
    let row = conn.opt(
        "SELECT 1 FROM runs WHERE key_id = $1 AND submit_time >= $2 AND submit_time <= $3 LIMIT 1",
        &[&key, &from, &to],
    )?;
    Ok(row.is_some())
}

/// The runs of key `key` in `range`.
pub(super) fn runs(conn: &Conn, key: i64, range: &RunRange) -> Result<Vec<RunRow>, StoreError> {
    let mut sql = Sql::default();
    let mut text = format!(
        "SELECT result_id, submit_time, fail <> 0, item_id, type_id, duration FROM runs WHERE key_id = {}",
        sql.param(key)
    );
    for (clause, v) in [
        ("submit_time >=", range.since),
        ("submit_time <=", range.until),
        ("result_id <=", range.max_id),
        ("item_id =", range.item_id),
        ("type_id =", range.type_id),
    ] {
        if let Some(v) = v {
            text.push_str(&format!(" AND {clause} {}", sql.param(v)));
        }
    }
    text.push_str(if range.newest_first {
        " ORDER BY submit_time DESC, result_id DESC"
    } else {
        " ORDER BY submit_time, result_id"
    });
    if let Some(n) = range.limit {
        text.push_str(&format!(" LIMIT {}", sql.param(i64::try_from(n).unwrap_or(i64::MAX))));
    }
    sql.text = text;
    sql.run(conn)?.iter().map(run_row).collect()
}

fn run_row(r: &Row) -> Result<RunRow, StoreError> {
    Ok(RunRow {
        result_id: r.try_get(0)?,
        submit_time: r.try_get(1)?,
        fail: r.try_get(2)?,
        item_id: r.try_get(3)?,
        type_id: r.try_get(4)?,
        duration: r.try_get(5)?,
    })
}

/// How many results with `signature` came before `before`, at or before `max_id`, counting
/// up to `cap`.
pub(super) fn failures_before(
    conn: &Conn,
    signature: &str,
    before: FailureRow,
    max_id: Option<i64>,
    cap: usize,
) -> Result<usize, StoreError> {
    if !storable(signature) {
        return Ok(0);
    }
    let cap = i64::try_from(cap).unwrap_or(i64::MAX);
    let n: i64 = conn
        .one(
            "SELECT count(*) FROM (SELECT 1 FROM failures WHERE signature = $1
               AND (submit_time, result_id) < ($2, $3) AND ($4::bigint IS NULL OR result_id <= $4) LIMIT $5) x",
            &[&signature, &before.submit_time, &before.result_id, &max_id, &cap],
        )?
        .try_get(0)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Results with `signature` at or before `max_id` (and before `before`), oldest or newest
/// first, at most `limit`.
pub(super) fn failures(
    conn: &Conn,
    signature: &str,
    max_id: Option<i64>,
    before: Option<FailureRow>,
    oldest_first: bool,
    limit: usize,
) -> Result<Vec<FailureRow>, StoreError> {
    if !storable(signature) {
        return Ok(Vec::new());
    }
    let order = if oldest_first { "ASC" } else { "DESC" };
    let mut sql = Sql::default();
    let mut text = format!(
        "SELECT result_id, submit_time FROM failures WHERE signature = {} AND ({m}::bigint IS NULL OR result_id <= {m})",
        sql.param(signature.to_owned()),
        m = sql.param(max_id)
    );
    if let Some(b) = before {
        text.push_str(&format!(
            " AND (submit_time, result_id) < ({}, {})",
            sql.param(b.submit_time),
            sql.param(b.result_id)
        ));
    }
    text.push_str(&format!(
        " ORDER BY submit_time {order}, result_id {order} LIMIT {}",
        sql.param(i64::try_from(limit).unwrap_or(i64::MAX))
    ));
    sql.text = text;
    sql.run(conn)?.iter().map(|r| Ok(FailureRow { result_id: r.try_get(0)?, submit_time: r.try_get(1)? })).collect()
}

/// Data values starting with `prefix` (ids and texts), at most `limit`, by text: the same
/// range as SQLite's (`prefix <= value < prefix + U+10FFFF`), read off the
/// `left(value, 256)` index, whose order is the values' order (see `read_lists::testcases`).
pub(super) fn values_with_prefix(conn: &Conn, prefix: &str, limit: usize) -> Result<Vec<(i64, String)>, StoreError> {
    if !storable(prefix) {
        return Ok(Vec::new());
    }
    let end = format!("{prefix}\u{10FFFF}");
    let rows = conn.query(
        "SELECT id, value FROM data_values
         WHERE left(value, 256) >= left($1, 256) AND left(value, 256) <= left($2, 256) AND value >= $1 AND value < $2
         ORDER BY left(value, 256), value LIMIT $3",
        &[&prefix, &end, &i64::try_from(limit).unwrap_or(i64::MAX)],
    )?;
    Ok(rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_, tokio_postgres::Error>>()?)
}

/// The interned id of a data value, if any result carries it.
pub(super) fn value_id(conn: &Conn, text: &str) -> Result<Option<i64>, StoreError> {
    let row = conn.opt("SELECT id FROM data_values WHERE value_key = $1", &[&super::text_key(text)])?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// The texts of interned data values.
pub(super) fn value_texts(conn: &Conn, ids: &[i64]) -> Result<HashMap<i64, String>, StoreError> {
    let rows = conn.query("SELECT id, value FROM data_values WHERE id = ANY($1)", &[&ids])?;
    Ok(rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_, tokio_postgres::Error>>()?)
}

/// What pruned results of key `key` said, per UTC day in `from_day..=to_day`, oldest first.
pub(super) fn run_days(
    conn: &Conn,
    key: i64,
    from_day: Option<i64>,
    to_day: Option<i64>,
) -> Result<Vec<DaySummary>, StoreError> {
    let rows = conn.query(
        "SELECT day, passes, fails, others, duration_n, duration_sum_ms, duration_min_ms, duration_max_ms
         FROM run_days WHERE key_id = $1 AND day >= $2 AND day <= $3 ORDER BY day",
        &[&key, &from_day.unwrap_or(i64::MIN), &to_day.unwrap_or(i64::MAX)],
    )?;
    rows.iter()
        .map(|r| {
            let mut d = DaySummary::new("", "", "", r.try_get(0)?);
            d.passes = r.try_get::<_, i64>(1)? as u64;
            d.fails = r.try_get::<_, i64>(2)? as u64;
            d.others = r.try_get::<_, i64>(3)? as u64;
            d.duration_n = r.try_get::<_, i64>(4)? as u64;
            d.duration_sum_ms = r.try_get(5)?;
            d.duration_min_ms = r.try_get(6)?;
            d.duration_max_ms = r.try_get(7)?;
            Ok(d)
        })
        .collect()
}

/// The quarantine entries at or before log position `max_seq` (`None`: all), of one rule
/// when `uuid` is given, in log order.
pub(super) fn quarantine_entries(
    conn: &Conn,
    uuid: Option<&str>,
    max_seq: Option<i64>,
) -> Result<Vec<QuarantineView>, StoreError> {
    let max_seq = max_seq.unwrap_or(i64::MAX);
    let rows = match uuid {
        Some(u) if !storable(u) => return Ok(Vec::new()),
        Some(u) => conn.query(
            "SELECT seq, record FROM quarantines WHERE md5(uuid) = md5($1::text) AND uuid = $1 AND seq <= $2
             ORDER BY seq",
            &[&u, &max_seq],
        )?,
        None => conn.query("SELECT seq, record FROM quarantines WHERE seq <= $1 ORDER BY seq", &[&max_seq])?,
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get(0)?;
        let text: String = row.try_get(1)?;
        let record: QuarantineRecord =
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt { seq, reason: e.to_string() })?;
        out.push(QuarantineView { seq, record });
    }
    Ok(out)
}
