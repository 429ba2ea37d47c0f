//! Query planning for result filters: resolve names to ids, pick the cheapest driver.
//!
//! SQLite's planner cannot know that `item=X` matches 200 rows while `type=koji_build`
//! matches a million (both are one key in one postings table), so we decide: every
//! filter with an index is counted up to [`SMALL`] rows, the smallest one under that drives
//! the query (ids, then a sort of at most `SMALL` rows); otherwise the time index is
//! scanned newest-first and every filter is checked per row. Each shape is forced with
//! `INDEXED BY`/`NOT INDEXED` so the plan does not depend on statistics.
//!
//! Parameters compared with `=` are written `+?N`: in a join, SQLite's constant
//! propagation otherwise marks the statement to be re-prepared whenever the bound value
//! changes, which costs more than running it.

use super::like_to_glob;
use crate::model::ResultQuery;
use rusqlite::types::{ToSql, Value as SqlValue};
use rusqlite::{Connection, OptionalExtension};
use std::rc::Rc;

/// Below this many matching rows a filter drives the query.
pub(super) const SMALL: i64 = 4000;

/// The same threshold for paged lists.
const PAGED_SMALL: i64 = 1024;

/// Lists longer than this are bound as one `rarray` parameter.
const IN_LIST_MAX: usize = 32;

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

    /// A membership test for `ids`: `= +?` for one, an `IN (?, …)` list for a few, and
    /// `IN rarray(?)` for many. A literal list is evaluated once per statement; a
    /// `rarray` would be re-scanned for every row of a correlated subquery.
    pub fn in_ints(&mut self, ids: &[i64]) -> String {
        self.membership(ids.iter().map(|i| SqlValue::Integer(*i)).collect())
    }

    /// Like [`Sql::in_ints`] for text values.
    pub fn in_texts(&mut self, items: &[String]) -> String {
        self.membership(items.iter().map(|s| SqlValue::Text(s.clone())).collect())
    }

    fn membership(&mut self, mut values: Vec<SqlValue>) -> String {
        match values.len() {
            1 => format!("= +{}", self.param(values.remove(0))),
            n if n <= IN_LIST_MAX => {
                let marks: Vec<String> = values.into_iter().map(|v| self.param(v)).collect();
                format!("IN ({})", marks.join(", "))
            }
            _ => format!("IN rarray({})", self.param(Rc::new(values))),
        }
    }

    pub fn params(&self) -> impl rusqlite::Params + '_ {
        rusqlite::params_from_iter(self.params.iter())
    }
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
    /// Result ids of `_uuid` (global identities resolved to this node's ids).
    ids: Option<Vec<i64>>,
    data: Vec<DataCond>,
    outcomes: Vec<String>,
    since: Option<i64>,
    until: Option<i64>,
    /// Only results at or before this log position.
    max_id: Option<i64>,
    pub empty: bool,
}

impl Resolved {
    /// Whether `driver` yields rows already in time order: one data value, or one
    /// testcase (both index ranges end in submit_time).
    fn is_ordered(&self, driver: Driver) -> bool {
        match driver {
            Driver::Data(i) => matches!(self.data.get(i), Some(DataCond::Ids { values, .. }) if values.len() == 1),
            Driver::Testcase => self.testcases.as_ref().is_some_and(|t| t.len() == 1),
            _ => false,
        }
    }

    /// Whether a result with these facets passes every exact data filter (what
    /// [`select_faceted`] leaves out of its SQL).
    pub fn facets_match(&self, facets: &[(i64, i64)]) -> bool {
        self.data.iter().all(|d| match d {
            DataCond::Ids { key, values } => facets.iter().any(|(k, v)| k == key && values.contains(v)),
            DataCond::Glob { .. } => true,
        })
    }

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
    /// Result ids named by `_uuid` (a conflicting uuid names each of its results).
    Ids,
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

/// `(col IN (list) OR col GLOB p1 OR …)` for exact names plus like patterns.
fn names_cond(sql: &mut Sql, col: &str, exact: &[String], like: &[String]) -> String {
    let mut parts = Vec::new();
    if !exact.is_empty() {
        parts.push(format!("{col} {}", sql.in_texts(exact)));
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
        max_id: q.max_id,
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
    if !q.uuids.is_empty() {
        let mut found = Vec::with_capacity(q.uuids.len());
        let mut stmt = conn.prepare_cached("SELECT result_id FROM result_uuids WHERE uuid = ?1")?;
        for u in &q.uuids {
            // Several rows only when two origins stored different results under one uuid.
            for id in stmt.query_map([super::uuid_key(u)], |r| r.get::<_, i64>(0))? {
                found.push(id?);
            }
        }
        r.empty |= found.is_empty();
        r.ids = Some(found);
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

/// Counts (up to `cap`) the rows a candidate driver would produce.
fn estimate(conn: &Connection, r: &Resolved, driver: Driver, cap: i64) -> rusqlite::Result<i64> {
    let mut sql = Sql::default();
    let inner = match driver {
        Driver::Time => return Ok(cap),
        Driver::Ids => return Ok(r.ids.as_ref().map_or(cap, |ids| ids.len() as i64)),
        Driver::Testcase => match &r.testcases {
            Some(t) => {
                format!("SELECT 1 FROM results INDEXED BY results_testcase_time WHERE testcase_id {}", sql.in_ints(t))
            }
            None => return Ok(cap),
        },
        Driver::Groups => match &r.groups {
            Some(g) => format!("SELECT 1 FROM result_groups WHERE group_id {}", sql.in_ints(g)),
            None => return Ok(cap),
        },
        Driver::Data(i) => match r.data.get(i) {
            Some(DataCond::Ids { key, values }) => {
                let (k, v) = (sql.param(*key), sql.in_ints(values));
                format!(
                    "SELECT 1 FROM result_data WHERE key_id = +{k} AND value_id {v}
                     UNION ALL SELECT 1 FROM result_data_recent WHERE key_id = +{k} AND value_id {v}"
                )
            }
            _ => return Ok(cap),
        },
    };
    // The cap is inlined: a bound LIMIT in a subquery makes SQLite re-prepare on every run.
    sql.text = format!("SELECT count(*) FROM ({inner} LIMIT {cap})");
    conn.prepare_cached(&sql.text)?.query_row(sql.params(), |row| row.get(0))
}

/// Picks the driver producing the fewest rows, if any produces fewer than `SMALL`.
/// Picks the driver: the candidate with the fewest rows if one has fewer than `SMALL`;
/// otherwise, for a paged list (`paged`), a single-valued data filter, whose postings come
/// in time order so a page needs no sort; otherwise the time index.
pub(super) fn choose_driver(conn: &Connection, r: &Resolved, paged: bool) -> rusqlite::Result<Driver> {
    if r.ids.is_some() {
        // A handful of named results: nothing is cheaper.
        return Ok(Driver::Ids);
    }
    let mut candidates = Vec::new();
    if r.testcases.is_some() {
        candidates.push(Driver::Testcase);
    }
    if r.groups.is_some() {
        candidates.push(Driver::Groups);
    }
    candidates.extend((0..r.data.len()).filter(|i| matches!(r.data[*i], DataCond::Ids { .. })).map(Driver::Data));
    let ordered = candidates.iter().copied().find(|d| r.is_ordered(*d));
    if paged && candidates.len() == 1 && ordered.is_some() {
        return Ok(candidates[0]);
    }
    // Count with growing caps so a large filter (type=koji_build: a million postings) is
    // never counted further than a small one next to it (item=X: two hundred).
    // A page needs only its rows: past ~1,000 matches the time scan finds a page quickly,
    // and counting further would cost more than it saves. `latest` fetches every match.
    let limit = if paged { PAGED_SMALL } else { SMALL };
    let mut cap = 64;
    loop {
        let mut best = (Driver::Time, cap);
        for d in &candidates {
            let n = estimate(conn, r, *d, cap)?;
            if n < best.1 {
                best = (*d, n);
            }
        }
        if best.0 != Driver::Time {
            return Ok(best.0);
        }
        if cap >= limit {
            return Ok(if paged { ordered.unwrap_or(Driver::Time) } else { Driver::Time });
        }
        cap = (cap * 4).min(limit);
    }
}

/// Sort order and page of a select.
#[derive(Debug, Clone, Copy)]
pub(super) struct Page {
    pub ascending: bool,
    /// `(limit, offset)`, or every row.
    pub window: Option<(i64, i64)>,
}

/// Column expressions of the row source a select iterates: a `results` row (`r`) or a
/// data posting (`p`), which carries the result's id, time and testcase itself.
struct Source {
    id: &'static str,
    time: &'static str,
    testcase: &'static str,
}

const RESULTS: Source = Source { id: "r.id", time: "r.submit_time", testcase: "r.testcase_id" };
const POSTINGS: Source = Source { id: "p.result_id", time: "p.submit_time", testcase: "p.testcase_id" };

/// `SELECT id, testcase_id, submit_time` of the filtered results, driven by `driver`.
/// `only_testcase` restricts to one testcase via its index (per-testcase latest).
///
/// A data driver reads its postings, which hold time and testcase: an item's newest page
/// comes straight off one index range without touching `results` (joined only for
/// `outcome`).
pub(super) fn select(r: &Resolved, driver: Driver, page: Page, only_testcase: Option<i64>) -> Sql {
    select_rows(r, driver, page, only_testcase, false)
}

/// Like [`select`] over every row, newest first, plus each row's packed facets (a
/// fourth column), for reads that group rows by data values (`/results/latest`). Exact
/// data filters are left to [`Resolved::facets_match`]: the facets are read anyway, so a
/// postings probe per row and filter would only repeat them.
pub(super) fn select_faceted(r: &Resolved, driver: Driver) -> Sql {
    select_rows(r, driver, Page { ascending: false, window: None }, None, true)
}

fn select_rows(r: &Resolved, driver: Driver, page: Page, only_testcase: Option<i64>, faceted: bool) -> Sql {
    let mut sql = Sql::default();
    let mut conds: Vec<String> = Vec::new();
    let data_driver = match driver {
        Driver::Data(i) if only_testcase.is_none() => Some(i),
        _ => None,
    };
    let (src, from, distinct) = match data_driver {
        Some(i) => {
            let Some(DataCond::Ids { key, values }) = r.data.get(i) else {
                // Only id-resolved filters are ever chosen as drivers.
                return select_rows(r, Driver::Time, page, only_testcase, faceted);
            };
            conds.push(format!("p.key_id = +{} AND p.value_id {}", sql.param(*key), sql.in_ints(values)));
            // `{postings}`: each of the two postings tables in turn (see below).
            let from = if r.outcomes.is_empty() && !faceted {
                "{postings} p".to_owned()
            } else {
                "{postings} p JOIN results r ON r.id = p.result_id".to_owned()
            };
            // A result holding two of the listed values has two postings.
            (POSTINGS, from, values.len() > 1)
        }
        None => {
            let from = match (only_testcase, driver) {
                (Some(_), _) | (None, Driver::Testcase) => "results r INDEXED BY results_testcase_time",
                (None, Driver::Time) => "results r INDEXED BY results_time",
                (None, _) => "results r NOT INDEXED",
            };
            (RESULTS, from.to_owned(), false)
        }
    };
    if let Some(t) = only_testcase {
        conds.push(format!("{} = +{}", src.testcase, sql.param(t)));
    } else if let Some(t) = &r.testcases {
        conds.push(format!("{} {}", src.testcase, sql.in_ints(t)));
    }
    if let Some(ids) = &r.ids {
        conds.push(format!("{} {}", src.id, sql.in_ints(ids)));
    }
    if let Some(g) = &r.groups {
        let list = sql.in_ints(g);
        conds.push(if driver == Driver::Groups && only_testcase.is_none() {
            format!("{} IN (SELECT result_id FROM result_groups WHERE group_id {list})", src.id)
        } else {
            format!("EXISTS (SELECT 1 FROM result_groups g WHERE g.group_id {list} AND g.result_id = {})", src.id)
        });
    }
    for (i, d) in r.data.iter().enumerate() {
        if data_driver != Some(i) && !(faceted && matches!(d, DataCond::Ids { .. })) {
            conds.push(data_cond(&mut sql, d, &src));
        }
    }
    if !r.outcomes.is_empty() {
        conds.push(format!("r.outcome {}", sql.in_texts(&r.outcomes)));
    }
    if let Some(s) = r.since {
        conds.push(format!("{} >= {}", src.time, sql.param(s)));
    }
    if let Some(u) = r.until {
        conds.push(format!("{} <= {}", src.time, sql.param(u)));
    }
    if let Some(m) = r.max_id {
        conds.push(format!("{} <= {}", src.id, sql.param(m)));
    }
    let dir = if page.ascending { "ASC" } else { "DESC" };
    let facets = if faceted { ", r.facets" } else { "" };
    let mut text = format!("SELECT {}, {}, {}{facets} FROM {from}", src.id, src.testcase, src.time);
    if !conds.is_empty() {
        text.push_str(" WHERE ");
        text.push_str(&conds.join(" AND "));
    }
    if data_driver.is_some() {
        // Postings are in `result_data` or, until folded, `result_data_recent`: one select
        // over each, merged in order by SQLite (each side comes off its index in time
        // order, so a page still stops early). UNION drops the second posting of a result
        // holding two of the listed values.
        let union = if distinct { "UNION" } else { "UNION ALL" };
        text = format!(
            "{} {union} {} ORDER BY 3 {dir}, 1 {dir}",
            text.replace("{postings}", "result_data"),
            text.replace("{postings}", "result_data_recent")
        );
    } else {
        text.push_str(&format!(" ORDER BY {} {dir}, {} {dir}", src.time, src.id));
    }
    if let Some((limit, offset)) = page.window {
        text.push_str(&format!(" LIMIT {} OFFSET {}", sql.param(limit), sql.param(offset)));
    }
    sql.text = text;
    sql
}

/// A non-driving data filter as a per-row check. Postings are keyed by (key, value, time,
/// result), so an exact filter is a point lookup given the row's time and id.
fn data_cond(sql: &mut Sql, d: &DataCond, src: &Source) -> String {
    match d {
        DataCond::Ids { key, values } => {
            let (k, v) = (sql.param(*key), sql.in_ints(values));
            let (time, id) = (src.time, src.id);
            let probe = |table: &str| {
                format!(
                    "EXISTS (SELECT 1 FROM {table} d WHERE d.key_id = +{k} AND d.value_id {v} AND d.submit_time = {time} AND d.result_id = {id})"
                )
            };
            format!("({} OR {})", probe("result_data"), probe("result_data_recent"))
        }
        DataCond::Glob { key, patterns } => {
            let k = sql.param(*key);
            let globs: Vec<String> =
                patterns.iter().map(|p| format!("v.value GLOB {}", sql.param(like_to_glob(p)))).collect();
            let globs = globs.join(" OR ");
            let matching = |table: &str| {
                format!(
                    "SELECT d.result_id FROM {table} d JOIN data_values v ON v.id = d.value_id WHERE d.key_id = +{k} AND ({globs})"
                )
            };
            format!("{} IN ({} UNION ALL {})", src.id, matching("result_data"), matching("result_data_recent"))
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

/// A row of `select_faceted`: (id, testcase_id, submit_time) with the unpacked facets.
pub(super) type FacetedRow = ((i64, i64, i64), Vec<(i64, i64)>);

/// Rows of `select_faceted`.
pub(super) fn faceted_rows(conn: &Connection, sql: &Sql) -> rusqlite::Result<Vec<FacetedRow>> {
    let mut stmt = conn.prepare_cached(&sql.text)?;
    let rows = stmt.query_map(sql.params(), |r| {
        Ok(((r.get(0)?, r.get(1)?, r.get(2)?), super::facets::decode(r.get_ref(3)?.as_blob()?)))
    })?;
    rows.collect()
}

/// Rows of `select`: (id, testcase_id, submit_time).
pub(super) fn rows(conn: &Connection, sql: &Sql) -> rusqlite::Result<Vec<(i64, i64, i64)>> {
    let mut stmt = conn.prepare_cached(&sql.text)?;
    let rows = stmt.query_map(sql.params(), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}
