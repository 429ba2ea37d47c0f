//! Query planning for result filters: resolve names to ids, pick the cheapest driver.
//!
//! SQLite's planner cannot know that `item=X` matches 200 rows while `type=koji_build`
//! matches a million (both are one key in one postings table), so we decide: every
//! filter with an index is counted up to [`SMALL`] rows, the smallest one under that drives
//! the query (ids, then a sort of at most `SMALL` rows); otherwise the time index is
//! scanned newest-first and every filter is checked per row. Each shape is forced with
//! `INDEXED BY`/`NOT INDEXED` so the plan does not depend on statistics.

use super::like_to_glob;
use crate::model::ResultQuery;
use rusqlite::types::{ToSql, Value as SqlValue};
use rusqlite::vtab::array::Array;
use rusqlite::{Connection, OptionalExtension};
use std::rc::Rc;

/// Below this many matching rows a filter drives the query.
pub(super) const SMALL: i64 = 4000;

/// More distinct values than this for a `:like` filter are matched by a join instead of a list.
const LIKE_LIST_MAX: i64 = 1000;

/// SQL text with its positional parameters.
#[derive(Default)]
pub(super) struct Sql {
    pub text: String,
    pub params: Vec<Box<dyn ToSql>>,
}

impl Sql {
    /// Adds a parameter and returns its placeholder.
    pub fn param(&mut self, v: impl ToSql + 'static) -> String {
        self.params.push(Box::new(v));
        format!("?{}", self.params.len())
    }

    pub fn params(&self) -> impl rusqlite::Params + '_ {
        rusqlite::params_from_iter(self.params.iter())
    }
}

pub(super) fn int_array(ids: &[i64]) -> Array {
    Rc::new(ids.iter().map(|i| SqlValue::Integer(*i)).collect())
}

pub(super) fn text_array(items: &[String]) -> Array {
    Rc::new(items.iter().map(|s| SqlValue::Text(s.clone())).collect())
}

/// A data filter resolved to ids.
#[derive(Debug, Clone)]
enum DataCond {
    /// The key with any of these interned values.
    Ids { key: i64, values: Vec<i64> },
    /// The key with a value matching any GLOB (too many values to list).
    Glob { key: i64, patterns: Vec<String> },
}

/// A result filter with names resolved to ids. `empty` means nothing can match.
#[derive(Debug, Clone, Default)]
pub(super) struct Resolved {
    testcases: Option<Vec<i64>>,
    groups: Option<Vec<i64>>,
    data: Vec<DataCond>,
    outcomes: Vec<String>,
    since: Option<i64>,
    until: Option<i64>,
    pub empty: bool,
}

impl Resolved {
    /// The same filter restricted to one exact submit time.
    pub fn at_time(&self, time: i64) -> Resolved {
        Resolved { since: Some(time), until: Some(time), ..self.clone() }
    }
}

/// Which index produces the candidate rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Driver {
    /// Scan `results_time` in the requested order; stop after `limit`.
    Time,
    /// The testcase index range(s); few rows.
    Testcase,
    /// The postings of data filter `i`; few rows.
    Data(usize),
    /// The group membership postings; few rows.
    Groups,
}

impl Driver {
    /// Small drivers return few rows, so callers can fetch all of them.
    pub fn is_small(self) -> bool {
        self != Driver::Time
    }
}

fn ids(conn: &Connection, sql: &Sql) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(&sql.text)?;
    let rows = stmt.query_map(sql.params(), |r| r.get(0))?;
    rows.collect()
}

/// `(col IN rarray(list) OR col GLOB p1 OR …)` for exact names plus like patterns.
fn names_cond(sql: &mut Sql, col: &str, exact: &[String], like: &[String]) -> String {
    let mut parts = Vec::new();
    if !exact.is_empty() {
        parts.push(format!("{col} IN rarray({})", sql.param(text_array(exact))));
    }
    for p in like {
        parts.push(format!("{col} GLOB {}", sql.param(like_to_glob(p))));
    }
    format!("({})", parts.join(" OR "))
}

/// Resolves a query's names, patterns and values to ids (`outcome` is kept unless
/// `with_outcome` is false: `/results/latest` ignores it).
pub(super) fn resolve(conn: &Connection, q: &ResultQuery, with_outcome: bool) -> rusqlite::Result<Resolved> {
    let mut r = Resolved {
        outcomes: if with_outcome { q.outcomes.clone() } else { Vec::new() },
        since: q.since.map(|t| t.0),
        until: q.until.map(|t| t.0),
        ..Resolved::default()
    };
    if !q.testcases.is_empty() || !q.testcases_like.is_empty() {
        let mut sql = Sql::default();
        let cond = names_cond(&mut sql, "name", &q.testcases, &q.testcases_like);
        sql.text = format!("SELECT id FROM testcase WHERE {cond}");
        let found = ids(conn, &sql)?;
        r.empty |= found.is_empty();
        r.testcases = Some(found);
    }
    if !q.groups.is_empty() {
        let mut sql = Sql::default();
        let cond = names_cond(&mut sql, "uuid", &q.groups, &[]);
        sql.text = format!("SELECT id FROM grp WHERE {cond}");
        let found = ids(conn, &sql)?;
        r.empty |= found.is_empty();
        r.groups = Some(found);
    }
    for f in &q.data {
        let key: Option<i64> = conn
            .prepare_cached("SELECT id FROM data_keys WHERE key = ?1")?
            .query_row([&f.key], |r| r.get(0))
            .optional()?;
        let Some(key) = key else {
            r.empty = true;
            continue;
        };
        let mut sql = Sql::default();
        let (exact, like): (&[String], &[String]) = if f.like { (&[], &f.values) } else { (&f.values, &[]) };
        let cond = names_cond(&mut sql, "value", exact, like);
        sql.text = format!("SELECT id FROM data_values WHERE {cond} LIMIT {}", LIKE_LIST_MAX + 1);
        let values = ids(conn, &sql)?;
        if values.len() as i64 > LIKE_LIST_MAX {
            r.data.push(DataCond::Glob { key, patterns: f.values.clone() });
        } else {
            r.empty |= values.is_empty();
            r.data.push(DataCond::Ids { key, values });
        }
    }
    Ok(r)
}

/// Counts (up to `SMALL`) the rows a candidate driver would produce.
fn estimate(conn: &Connection, r: &Resolved, driver: Driver) -> rusqlite::Result<i64> {
    let mut sql = Sql::default();
    let inner = match driver {
        Driver::Time => return Ok(SMALL),
        Driver::Testcase => match &r.testcases {
            Some(t) => format!(
                "SELECT 1 FROM results INDEXED BY results_testcase_time WHERE testcase_id IN rarray({})",
                sql.param(int_array(t))
            ),
            None => return Ok(SMALL),
        },
        Driver::Groups => match &r.groups {
            Some(g) => format!("SELECT 1 FROM result_groups WHERE group_id IN rarray({})", sql.param(int_array(g))),
            None => return Ok(SMALL),
        },
        Driver::Data(i) => match r.data.get(i) {
            Some(DataCond::Ids { key, values }) => {
                format!(
                    "SELECT 1 FROM result_data WHERE key_id = {} AND value_id IN rarray({})",
                    sql.param(*key),
                    sql.param(int_array(values))
                )
            }
            _ => return Ok(SMALL),
        },
    };
    sql.text = format!("SELECT count(*) FROM ({inner} LIMIT {SMALL})");
    conn.prepare_cached(&sql.text)?.query_row(sql.params(), |row| row.get(0))
}

/// Picks the driver producing the fewest rows, if any produces fewer than `SMALL`.
pub(super) fn choose_driver(conn: &Connection, r: &Resolved) -> rusqlite::Result<Driver> {
    let mut candidates = vec![Driver::Testcase, Driver::Groups];
    candidates.extend((0..r.data.len()).map(Driver::Data));
    let mut best = (Driver::Time, SMALL);
    for d in candidates {
        let n = estimate(conn, r, d)?;
        if n < best.1 {
            best = (d, n);
        }
    }
    Ok(best.0)
}

/// Sort order and page of a select.
#[derive(Debug, Clone, Copy)]
pub(super) struct Page {
    pub ascending: bool,
    /// `(limit, offset)`, or every row.
    pub window: Option<(i64, i64)>,
}

/// `SELECT r.id, r.testcase_id, r.submit_time` of the filtered results, driven by `driver`.
/// `only_testcase` restricts to one testcase via its index (per-testcase latest).
pub(super) fn select(r: &Resolved, driver: Driver, page: Page, only_testcase: Option<i64>) -> Sql {
    let mut sql = Sql::default();
    let mut conds: Vec<String> = Vec::new();
    let from = if only_testcase.is_some() {
        "results r INDEXED BY results_testcase_time"
    } else {
        match driver {
            Driver::Time => "results r INDEXED BY results_time",
            Driver::Testcase => "results r INDEXED BY results_testcase_time",
            Driver::Data(_) | Driver::Groups => "results r NOT INDEXED",
        }
    };
    if let Some(t) = only_testcase {
        conds.push(format!("r.testcase_id = {}", sql.param(t)));
    } else if let Some(t) = &r.testcases {
        conds.push(format!("r.testcase_id IN rarray({})", sql.param(int_array(t))));
    }
    if let Some(g) = &r.groups {
        let list = sql.param(int_array(g));
        conds.push(if driver == Driver::Groups && only_testcase.is_none() {
            format!("r.id IN (SELECT result_id FROM result_groups WHERE group_id IN rarray({list}))")
        } else {
            format!("EXISTS (SELECT 1 FROM result_groups g WHERE g.group_id IN rarray({list}) AND g.result_id = r.id)")
        });
    }
    for (i, d) in r.data.iter().enumerate() {
        let drives = driver == Driver::Data(i) && only_testcase.is_none();
        conds.push(data_cond(&mut sql, d, drives));
    }
    if !r.outcomes.is_empty() {
        conds.push(format!("r.outcome IN rarray({})", sql.param(text_array(&r.outcomes))));
    }
    if let Some(s) = r.since {
        conds.push(format!("r.submit_time >= {}", sql.param(s)));
    }
    if let Some(u) = r.until {
        conds.push(format!("r.submit_time <= {}", sql.param(u)));
    }
    let dir = if page.ascending { "ASC" } else { "DESC" };
    let mut text = format!("SELECT r.id, r.testcase_id, r.submit_time FROM {from}");
    if !conds.is_empty() {
        text.push_str(" WHERE ");
        text.push_str(&conds.join(" AND "));
    }
    text.push_str(&format!(" ORDER BY r.submit_time {dir}, r.id {dir}"));
    if let Some((limit, offset)) = page.window {
        text.push_str(&format!(" LIMIT {} OFFSET {}", sql.param(limit), sql.param(offset)));
    }
    sql.text = text;
    sql
}

fn data_cond(sql: &mut Sql, d: &DataCond, drives: bool) -> String {
    match d {
        DataCond::Ids { key, values } => {
            let (k, v) = (sql.param(*key), sql.param(int_array(values)));
            if drives {
                format!("r.id IN (SELECT result_id FROM result_data WHERE key_id = {k} AND value_id IN rarray({v}))")
            } else {
                format!(
                    "EXISTS (SELECT 1 FROM result_data d WHERE d.key_id = {k} AND d.value_id IN rarray({v}) AND d.result_id = r.id)"
                )
            }
        }
        DataCond::Glob { key, patterns } => {
            let k = sql.param(*key);
            let globs: Vec<String> =
                patterns.iter().map(|p| format!("v.value GLOB {}", sql.param(like_to_glob(p)))).collect();
            format!(
                "r.id IN (SELECT d.result_id FROM result_data d JOIN data_values v ON v.id = d.value_id WHERE d.key_id = {k} AND ({}))",
                globs.join(" OR ")
            )
        }
    }
}

/// The testcases a per-testcase scan must visit: the filter's, or all of them.
pub(super) fn testcase_scope(conn: &Connection, r: &Resolved) -> rusqlite::Result<Vec<i64>> {
    match &r.testcases {
        Some(t) => Ok(t.clone()),
        None => ids(conn, &Sql { text: "SELECT id FROM testcase ORDER BY id".into(), params: Vec::new() }),
    }
}

/// Rows of `select`: (id, testcase_id, submit_time).
pub(super) fn rows(conn: &Connection, sql: &Sql) -> rusqlite::Result<Vec<(i64, i64, i64)>> {
    let mut stmt = conn.prepare_cached(&sql.text)?;
    let rows = stmt.query_map(sql.params(), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}
