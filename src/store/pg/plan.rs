//! Query planning for result filters on PostgreSQL: the port of `store/plan.rs` — names
//! resolved to ids, the driving filter picked by counting, and the SQL of each shape.
//!
//! PostgreSQL plans each statement itself (readers plan with the bound values, see
//! `PgReader::new`), but a cost model cannot know that `item=X` matches 200 postings while
//! `type=koji_build` matches a million when both are one `(key_id, value_id)` pair, nor
//! that a newest-first page stops early. So, as on SQLite, every indexed filter is counted
//! up to a cap and the smallest one under it drives: the query then reads that filter's
//! postings (or results) and checks the others per row; with no small filter it reads the
//! time index newest-first. Only the shape of the SQL is chosen here, never an index.
//!
//! A single value is compared with `=`, never `= ANY`: an array comparison on the first
//! index column loses the index order, and an item's newest page would then be a sort of
//! all its postings instead of a read of the first rows.

use super::conn::Conn;
use super::names::{Kind, NameIds};
use super::sql::{Sql, like_cond, md5_in, names_cond, storable};
use crate::model::{DataFilter, ResultQuery};
use crate::store::StoreError;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// Below this many matching rows a filter drives the query.
pub(super) const SMALL: i64 = 4000;

/// The same threshold for paged lists.
const PAGED_SMALL: i64 = 1024;

/// More distinct values than this for a `:like` filter are matched by a join instead of a list.
const LIKE_LIST_MAX: i64 = 1000;

/// A data filter resolved to ids.
#[derive(Debug, Clone)]
enum DataCond {
    /// The key with any of these interned values.
    Ids { key: i64, values: Vec<i64> },
    /// The key with a value matching any API pattern (too many values to list).
    Like { key: i64, patterns: Vec<String> },
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
    /// Whether `driver` yields rows already in time order: one data value, or one testcase.
    fn is_ordered(&self, driver: Driver) -> bool {
        match driver {
            Driver::Data(i) => matches!(self.data.get(i), Some(DataCond::Ids { values, .. }) if values.len() == 1),
            Driver::Testcase => self.testcases.as_ref().is_some_and(|t| t.len() == 1),
            _ => false,
        }
    }

    /// Whether every condition besides the driver is a check made on each of the
    /// driver's rows (no group, `_uuid` or pattern filter), so the SQL names its driver.
    fn checks_only(&self) -> bool {
        self.groups.is_none() && self.ids.is_none() && self.data.iter().all(|d| matches!(d, DataCond::Ids { .. }))
    }

    /// Whether the SQL of a page driven by `driver` fixes its plan whatever the values, so
    /// the statement can keep a generic plan: the driver's rows come from one index range
    /// in the page's order (one data value or testcase, or the time index) and every other
    /// condition is checked per row (see [`data_cond`]; a testcase list beside the time
    /// index is kept off its own index, see [`select_rows`]).
    fn fixed_plan(&self, driver: Driver) -> bool {
        self.checks_only()
            && match driver {
                // With an outcome the postings are joined to their results.
                Driver::Data(_) => self.is_ordered(driver) && self.outcomes.is_empty(),
                Driver::Testcase => self.is_ordered(driver),
                Driver::Time => true,
                Driver::Groups | Driver::Ids => false,
            }
    }

    /// Whether a result with these facets passes every exact data filter (what
    /// [`select_faceted`] leaves out of its SQL).
    pub fn facets_match(&self, facets: &[(i64, i64)]) -> bool {
        self.data.iter().all(|d| match d {
            DataCond::Ids { key, values } => facets.iter().any(|(k, v)| k == key && values.contains(v)),
            DataCond::Like { .. } => true,
        })
    }
}

/// Which index produces the candidate rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Driver {
    /// The time index in the requested order; stop after `limit`.
    Time,
    /// The testcase index range(s); few rows.
    Testcase,
    /// The postings of data filter `i`; few rows.
    Data(usize),
    /// The group membership postings; few rows.
    Groups,
    /// Result ids named by `_uuid`.
    Ids,
}

impl Driver {
    /// Small drivers return few rows, so callers can fetch all of them.
    pub fn is_small(self) -> bool {
        self != Driver::Time
    }
}

fn ids(conn: &Conn, sql: &Sql) -> Result<Vec<i64>, StoreError> {
    ids_of(sql.run(conn)?)
}

/// Resolves a query's names, patterns and values to ids (`outcome` is kept unless
/// `with_outcome` is false: `/results/latest` ignores it). Exact names whose ids `names`
/// remembers cost no round trip.
pub(super) fn resolve(
    conn: &Conn,
    names: &NameIds,
    q: &ResultQuery,
    with_outcome: bool,
) -> Result<Resolved, StoreError> {
    let mut r = Resolved {
        outcomes: if with_outcome { q.outcomes.clone() } else { Vec::new() },
        since: q.since.map(|t| t.0),
        until: q.until.map(|t| t.0),
        max_id: q.max_id,
        ..Resolved::default()
    };
    if !q.testcases.is_empty() || !q.testcases_like.is_empty() {
        let found = testcase_ids(conn, names, &q.testcases, &q.testcases_like)?;
        r.empty |= found.is_empty();
        r.testcases = Some(found);
    }
    if !q.groups.is_empty() {
        let mut sql = Sql::default();
        sql.text = format!("SELECT id FROM grp WHERE {}", md5_in(&mut sql, "uuid", &q.groups));
        let found = ids(conn, &sql)?;
        r.empty |= found.is_empty();
        r.groups = Some(found);
    }
    if !q.uuids.is_empty() {
        // Several ids for one uuid only when two origins stored different results under it.
        let keys: Vec<Vec<u8>> = q.uuids.iter().map(|u| crate::store::uuid_key(u)).collect();
        let found = ids_of(conn.query("SELECT result_id FROM result_uuids WHERE uuid = ANY($1)", &[&keys])?)?;
        r.empty |= found.is_empty();
        r.ids = Some(found);
    }
    for f in &q.data {
        let Some((key, values)) = data_filter_ids(conn, names, f)? else {
            r.empty = true;
            continue;
        };
        if values.len() as i64 > LIKE_LIST_MAX {
            // As SQLite: past the list size even exact values are matched as patterns.
            r.data.push(DataCond::Like { key, patterns: f.values.clone() });
        } else {
            r.empty |= values.is_empty();
            r.data.push(DataCond::Ids { key, values });
        }
    }
    Ok(r)
}

/// The ids of the testcases named exactly or matching a pattern, ascending and distinct.
fn testcase_ids(conn: &Conn, names: &NameIds, exact: &[String], like: &[String]) -> Result<Vec<i64>, StoreError> {
    let known = if like.is_empty() { names.all(Kind::Testcase, exact) } else { None };
    let mut found = match known {
        Some(ids) => ids,
        None => {
            let mut sql = Sql::default();
            let cond = names_cond(&mut sql, "name_key", "name", exact, like);
            sql.text = format!("SELECT id, name FROM testcase WHERE {cond}");
            // Exact names are unique keys, a pattern's prefix is one range of the name
            // index: one plan fits all.
            sql.generic = true;
            let rows = sql.run(conn)?;
            let pairs: Vec<(String, i64)> =
                rows.iter().map(|row| Ok((row.try_get(1)?, row.try_get(0)?))).collect::<Result<_, StoreError>>()?;
            let ids = pairs.iter().map(|(_, id)| *id).collect();
            names.put(Kind::Testcase, pairs);
            ids
        }
    };
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// The first column of `rows`.
fn ids_of(rows: Vec<Row>) -> Result<Vec<i64>, StoreError> {
    Ok(rows.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?)
}

/// The id of a data key, if any result carries it.
pub(super) fn data_key(conn: &Conn, names: &NameIds, key: &str) -> Result<Option<i64>, StoreError> {
    if !storable(key) {
        return Ok(None);
    }
    if let Some(id) = names.get(Kind::DataKey, key) {
        return Ok(Some(id));
    }
    let id: Option<i64> =
        conn.opt("SELECT id FROM data_keys WHERE key = $1", &[&key])?.map(|r| r.try_get(0)).transpose()?;
    if let Some(id) = id {
        names.put(Kind::DataKey, [(key.to_owned(), id)]);
    }
    Ok(id)
}

/// A data filter's key id and up to `LIKE_LIST_MAX + 1` ids of the values equal to (or,
/// with `like`, matching) any of its values, in one round trip (none when `names`
/// remembers them all); `None` when no result carries the key.
fn data_filter_ids(conn: &Conn, names: &NameIds, f: &DataFilter) -> Result<Option<(i64, Vec<i64>)>, StoreError> {
    if !storable(&f.key) {
        return Ok(None);
    }
    if !f.like
        && let (Some(key), Some(mut values)) = (names.get(Kind::DataKey, &f.key), names.all(Kind::DataValue, &f.values))
    {
        values.sort_unstable();
        values.dedup();
        return Ok(Some((key, values)));
    }
    let mut sql = Sql::default();
    let (exact, patterns): (&[String], &[String]) = if f.like { (&[], &f.values) } else { (&f.values, &[]) };
    let key = sql.param(f.key.clone());
    let cond = names_cond(&mut sql, "value_key", "value", exact, patterns);
    // The texts of exact values come back too (in the ids' order), to be remembered.
    let texts = if f.like {
        "NULL::text[]".to_owned()
    } else {
        format!("ARRAY(SELECT value FROM data_values WHERE {cond} ORDER BY id)")
    };
    let order = if f.like { "" } else { " ORDER BY id" };
    sql.text = format!(
        "SELECT (SELECT id FROM data_keys WHERE key = {key}),
                ARRAY(SELECT id FROM data_values WHERE {cond}{order} LIMIT {}), {texts}",
        LIKE_LIST_MAX + 1
    );
    // Unique keys, or a pattern's prefix as one range of the value index.
    sql.generic = true;
    let Some(row) = sql.run(conn)?.into_iter().next() else { return Ok(None) };
    let Some(key) = row.try_get::<_, Option<i64>>(0)? else { return Ok(None) };
    let values: Vec<i64> = row.try_get(1)?;
    names.put(Kind::DataKey, [(f.key.clone(), key)]);
    if let Some(texts) = row.try_get::<_, Option<Vec<String>>>(2)? {
        names.put(Kind::DataValue, texts.into_iter().zip(values.iter().copied()));
    }
    Ok(Some((key, values)))
}

/// The count (up to `cap`) of the rows a candidate driver would produce: the statement
/// that counts them, or the count itself when no statement is needed. Each listed id is
/// probed on its own (a lateral join over the list), so the plan is the same for any ids
/// and the statement keeps a generic plan.
fn estimate(r: &Resolved, driver: Driver, cap: i64) -> Result<Sql, i64> {
    let mut sql = Sql::default();
    let cap_param = sql.param(cap);
    sql.text = count_text(&mut sql, r, driver, &cap_param).ok_or(match (driver, &r.ids) {
        (Driver::Ids, Some(ids)) => ids.len() as i64,
        _ => cap,
    })?;
    sql.generic = true;
    Ok(sql)
}

/// The statement counting a candidate driver's rows up to `cap` (a placeholder or a
/// literal); `None` for the time index and `_uuid` ids (nothing to count).
fn count_text(sql: &mut Sql, r: &Resolved, driver: Driver, cap: &str) -> Option<String> {
    let (ids, probe) = match driver {
        Driver::Time | Driver::Ids => return None,
        Driver::Testcase => (r.testcases.clone()?, "results WHERE testcase_id = s.id".to_owned()),
        Driver::Groups => (r.groups.clone()?, "result_groups WHERE group_id = s.id".to_owned()),
        Driver::Data(i) => match r.data.get(i) {
            Some(DataCond::Ids { key, values }) => {
                (values.clone(), format!("result_data WHERE key_id = {} AND value_id = s.id", sql.param(*key)))
            }
            _ => return None,
        },
    };
    let list = sql.param(ids);
    Some(format!(
        "SELECT count(*) FROM (SELECT 1 FROM unnest({list}::bigint[]) s(id)
         CROSS JOIN LATERAL (SELECT 1 FROM {probe} LIMIT {cap}) x LIMIT {cap}) y"
    ))
}

/// The first count cap of [`choose_driver`] when several candidates are counted.
const FIRST_CAP: i64 = 64;

/// A paged list whose candidate drivers are several single values (each read in time
/// order) and whose other conditions are per-row checks: the page and the choice of its
/// driver in one statement, one round trip sooner than [`choose_driver`] and deciding as
/// it does (the smallest count up to 64, else up to `PAGED_SMALL`, else the first
/// candidate). Each candidate's page is a branch of a `UNION ALL` behind a one-time filter
/// on the choice, so PostgreSQL runs only the chosen branch, and the counts up to
/// `PAGED_SMALL` only when no count reached under 64 (an InitPlan runs when first used).
pub(super) fn select_choosing(r: &Resolved, page: Page) -> Option<Sql> {
    let candidates = candidates(r);
    if r.ids.is_some() || candidates.len() < 2 || !candidates.iter().all(|d| r.is_ordered(*d) && r.fixed_plan(*d)) {
        return None;
    }
    let mut sql = Sql::default();
    let counts = |sql: &mut Sql, cap: i64| -> Option<String> {
        let texts: Option<Vec<String>> =
            candidates.iter().map(|d| count_text(sql, r, *d, &cap.to_string()).map(|t| format!("({t})"))).collect();
        Some(format!("ARRAY[{}]", texts?.join(", ")))
    };
    let (first, then) = (counts(&mut sql, FIRST_CAP)?, counts(&mut sql, PAGED_SMALL)?);
    // The 1-based position of the smallest count, the first of equals.
    let smallest =
        |counts: &str| format!("(SELECT i FROM unnest({counts}) WITH ORDINALITY u(c, i) ORDER BY c, i LIMIT 1)");
    let branches: Vec<String> = candidates
        .iter()
        .enumerate()
        .map(|(i, d)| {
            format!(
                "SELECT * FROM ({}) b WHERE (SELECT i FROM w) = {}",
                select_rows_text(&mut sql, r, *d, page, false),
                i + 1
            )
        })
        .collect();
    sql.text = format!(
        "WITH a AS MATERIALIZED (SELECT {first} AS c),
         w AS MATERIALIZED (SELECT CASE WHEN (SELECT min(n) FROM unnest(a.c) n) < {FIRST_CAP}
           THEN {} ELSE {} END AS i FROM a)
         SELECT * FROM ({}) u",
        smallest("a.c"),
        smallest(&then),
        branches.join(" UNION ALL ")
    );
    sql.repeats(candidates.len());
    sql.generic = true;
    Some(sql)
}

/// The counts (up to `cap`) of every candidate driver, counted in one pipeline.
fn estimates(conn: &Conn, r: &Resolved, drivers: &[Driver], cap: i64) -> Result<Vec<i64>, StoreError> {
    let mut counts = Vec::with_capacity(drivers.len());
    let mut statements = Vec::new();
    for (i, d) in drivers.iter().enumerate() {
        match estimate(r, *d, cap) {
            Ok(sql) => {
                statements.push((i, sql));
                counts.push(0);
            }
            Err(n) => counts.push(n),
        }
    }
    let params: Vec<Vec<&(dyn ToSql + Sync)>> = statements.iter().map(|(_, sql)| sql.param_refs()).collect();
    let pipeline: Vec<(&str, &[&(dyn ToSql + Sync)])> =
        statements.iter().zip(&params).map(|((_, sql), p)| (sql.text.as_str(), p.as_slice())).collect();
    let generic = statements.iter().all(|(_, sql)| sql.generic);
    for ((i, _), rows) in statements.iter().zip(conn.pipeline_planned(&pipeline, generic)?) {
        counts[*i] = rows.first().map(|row| row.try_get(0)).transpose()?.unwrap_or(0);
    }
    Ok(counts)
}

/// The filters that could drive a query (besides the time index), in counting order.
fn candidates(r: &Resolved) -> Vec<Driver> {
    let mut candidates = Vec::new();
    if r.testcases.is_some() {
        candidates.push(Driver::Testcase);
    }
    if r.groups.is_some() {
        candidates.push(Driver::Groups);
    }
    candidates.extend((0..r.data.len()).filter(|i| matches!(r.data[*i], DataCond::Ids { .. })).map(Driver::Data));
    candidates
}

/// For `/results/latest`: the one filter that could drive, when there is exactly one. What
/// [`choose_driver`] would decide for it by counting up to `SMALL` rows, reading its rows
/// up to `SMALL` decides too (fewer: it drives, and those are all its rows; else the time
/// index drives), in the same round trip as the rows themselves.
pub(super) fn lone_candidate(r: &Resolved) -> Option<Driver> {
    match candidates(r).as_slice() {
        [one] if r.ids.is_none() => Some(*one),
        _ => None,
    }
}

/// Picks the driver: the candidate with the fewest rows if one has fewer than `SMALL`;
/// otherwise, for a paged list (`paged`), a single-valued data filter, whose postings come
/// in time order so a page needs no sort; otherwise the time index.
pub(super) fn choose_driver(conn: &Conn, r: &Resolved, paged: bool) -> Result<Driver, StoreError> {
    if r.ids.is_some() {
        // A handful of named results: nothing is cheaper.
        return Ok(Driver::Ids);
    }
    let candidates = candidates(r);
    let ordered = candidates.iter().copied().find(|d| r.is_ordered(*d));
    if paged && candidates.len() == 1 && ordered.is_some() {
        return Ok(candidates[0]);
    }
    // Growing caps, so a large filter is never counted further than a small one beside it.
    // A lone candidate has nothing beside it: one count up to the limit decides the same,
    // in one round trip instead of up to four.
    let limit = if paged { PAGED_SMALL } else { SMALL };
    let mut cap = if candidates.len() == 1 { limit } else { FIRST_CAP };
    loop {
        let mut best = (Driver::Time, cap);
        for (d, n) in candidates.iter().zip(estimates(conn, r, &candidates, cap)?) {
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
pub(super) fn select(r: &Resolved, driver: Driver, page: Page) -> Sql {
    select_rows(r, driver, page, false)
}

/// [`select`] with each row's log body, whether its testcase is there and the testcase's
/// `ref_url` as three more columns, in the select's order: a page and its bodies in one
/// round trip. Outer joins, so a missing row is told apart from a missing testcase.
pub(super) fn select_with_bodies(r: &Resolved, driver: Driver, page: Page) -> Sql {
    with_bodies(select(r, driver, page), page)
}

/// A select of index rows (`id, testcase_id, submit_time`) with the bodies of
/// [`select_with_bodies`], in the page's order.
pub(super) fn with_bodies(mut sql: Sql, page: Page) -> Sql {
    let dir = if page.ascending { "ASC" } else { "DESC" };
    sql.text = format!(
        "SELECT x.id, x.testcase_id, x.submit_time, l.body, t.id IS NOT NULL, t.ref_url
         FROM ({}) x(id, testcase_id, submit_time)
         LEFT JOIN log l ON l.seq = x.id LEFT JOIN testcase t ON t.id = x.testcase_id
         ORDER BY x.submit_time {dir}, x.id {dir}",
        sql.text
    );
    sql
}

/// Like [`select`] over every row, newest first, plus each row's packed facets (a fourth
/// column), for reads that group rows by data values (`/results/latest`). Exact data
/// filters are left to [`Resolved::facets_match`], as on SQLite.
pub(super) fn select_faceted(r: &Resolved, driver: Driver) -> Sql {
    select_rows(r, driver, Page { ascending: false, window: None }, true)
}

fn select_rows(r: &Resolved, driver: Driver, page: Page, faceted: bool) -> Sql {
    let mut sql = Sql::default();
    sql.text = select_rows_text(&mut sql, r, driver, page, faceted);
    sql.generic = !faceted && r.fixed_plan(driver);
    sql
}

/// The text of [`select_rows`], its parameters added to `sql`.
fn select_rows_text(sql: &mut Sql, r: &Resolved, driver: Driver, page: Page, faceted: bool) -> String {
    let mut conds: Vec<String> = Vec::new();
    let (src, from, distinct) = match driver {
        Driver::Data(i) => {
            let Some(DataCond::Ids { key, values }) = r.data.get(i) else {
                // Only id-resolved filters are ever chosen as drivers.
                return select_rows_text(sql, r, Driver::Time, page, faceted);
            };
            conds.push(format!("p.key_id = {} AND p.value_id {}", sql.param(*key), sql.in_ints(values)));
            let from = if r.outcomes.is_empty() && !faceted {
                "result_data p"
            } else {
                "result_data p JOIN results r ON r.id = p.result_id"
            };
            // A result holding two of the listed values has two postings.
            (POSTINGS, from, values.len() > 1)
        }
        _ => (RESULTS, "results r", false),
    };
    if let Some(t) = &r.testcases {
        // Beside the time index (the filter was counted large), `+ 0` keeps the planner
        // off the testcase index: reading a large testcase's rows to sort them is what
        // driving by time avoids.
        let time_driven = if driver == Driver::Time { " + 0" } else { "" };
        conds.push(format!("{}{time_driven} {}", src.testcase, sql.in_ints(t)));
    }
    let skip = match driver {
        Driver::Data(i) => Some(i),
        _ => None,
    };
    conds.extend(filter_conds(sql, r, &src, driver == Driver::Groups, skip, faceted));
    let dir = if page.ascending { "ASC" } else { "DESC" };
    let facets = if faceted { ", r.facets" } else { "" };
    let distinct = if distinct { "DISTINCT " } else { "" };
    let mut text = format!("SELECT {distinct}{}, {}, {}{facets} FROM {from}", src.id, src.testcase, src.time);
    if !conds.is_empty() {
        text.push_str(" WHERE ");
        text.push_str(&conds.join(" AND "));
    }
    text.push_str(&format!(" ORDER BY {} {dir}, {} {dir}", src.time, src.id));
    if let Some((limit, offset)) = page.window {
        text.push_str(&format!(" LIMIT {} OFFSET {}", sql.param(limit), sql.param(offset)));
    }
    text
}

/// The conditions on a row of `src` besides its driver and testcase: `_uuid` ids, groups
/// (as the membership list when `by_groups` drives), data filters but the driver's (`skip`)
/// and, when `faceted`, the exact ones (checked on the facets), outcome, times, position.
fn filter_conds(
    sql: &mut Sql,
    r: &Resolved,
    src: &Source,
    by_groups: bool,
    skip: Option<usize>,
    faceted: bool,
) -> Vec<String> {
    let mut conds = Vec::new();
    if let Some(ids) = &r.ids {
        conds.push(format!("{} {}", src.id, sql.in_ints(ids)));
    }
    if let Some(g) = &r.groups {
        let list = sql.in_ints(g);
        conds.push(if by_groups {
            format!("{} IN (SELECT result_id FROM result_groups WHERE group_id {list})", src.id)
        } else {
            format!("EXISTS (SELECT 1 FROM result_groups g WHERE g.group_id {list} AND g.result_id = {})", src.id)
        });
    }
    for (i, d) in r.data.iter().enumerate() {
        if skip != Some(i) && !(faceted && matches!(d, DataCond::Ids { .. })) {
            conds.push(data_cond(sql, d, src));
        }
    }
    sql.repeats(r.data.len());
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
    conds
}

/// A non-driving data filter as a per-row check. Postings are keyed by (key, value, time,
/// result), so an exact filter is a point lookup given the row's time and id, written as a
/// scalar subquery so that the planner cannot turn it into a join that drives the query
/// (a generic plan, guessing sizes from averages, would drive from `type=koji_build`'s
/// million postings); a pattern filter reads the row's postings (by result) and their
/// values.
fn data_cond(sql: &mut Sql, d: &DataCond, src: &Source) -> String {
    match d {
        DataCond::Ids { key, values } => {
            let (k, v) = (sql.param(*key), sql.in_ints(values));
            format!(
                "(SELECT true FROM result_data d WHERE d.key_id = {k} AND d.value_id {v} AND d.submit_time = {} AND d.result_id = {} LIMIT 1)",
                src.time, src.id
            )
        }
        DataCond::Like { key, patterns } => {
            let k = sql.param(*key);
            let likes: Vec<String> = patterns.iter().map(|p| like_cond(sql, "v.value", p, false)).collect();
            sql.repeats(patterns.len());
            format!(
                "EXISTS (SELECT 1 FROM result_data d JOIN data_values v ON v.id = d.value_id WHERE d.result_id = {} AND d.key_id = {k} AND ({}))",
                src.id,
                likes.join(" OR ")
            )
        }
    }
}

/// Per testcase (the filter's, or every one), its matching results at its newest time —
/// one newest-first probe of the testcase's time index each (`/results/latest` without a
/// selective filter; SQLite runs the same probes one statement at a time).
pub(super) fn select_newest_per_testcase(r: &Resolved) -> Sql {
    let mut sql = Sql::default();
    let scope = match &r.testcases {
        Some(t) => format!("unnest({}::bigint[]) AS s(tc)", sql.param(t.clone())),
        None => "(SELECT id AS tc FROM testcase) s".to_owned(),
    };
    let mut conds = vec!["r.testcase_id = s.tc".to_owned()];
    conds.extend(filter_conds(&mut sql, r, &RESULTS, false, None, false));
    // One probe per testcase, each row checked: the same plan for any values.
    sql.generic = r.checks_only();
    sql.text = format!(
        "SELECT x.id, x.testcase_id, x.submit_time FROM {scope} CROSS JOIN LATERAL (
           SELECT r.id, r.testcase_id, r.submit_time FROM results r WHERE {}
           ORDER BY r.submit_time DESC FETCH FIRST 1 ROWS WITH TIES) x",
        conds.join(" AND ")
    );
    sql
}

/// An index row: (result id, testcase id, submit time).
pub(super) type IndexRow = (i64, i64, i64);

/// A row of [`select_faceted`]: the index row with the unpacked facets.
pub(super) type FacetedRow = (IndexRow, Vec<(i64, i64)>);

/// Rows of [`select`] (and [`select_newest_per_testcase`]).
pub(super) fn rows(conn: &Conn, sql: &Sql) -> Result<Vec<IndexRow>, StoreError> {
    index_rows(&sql.run(conn)?)
}

/// Index rows from their three first columns.
pub(super) fn index_rows(rows: &[Row]) -> Result<Vec<IndexRow>, StoreError> {
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect()
}

/// Rows of [`select_faceted`].
pub(super) fn faceted_rows(conn: &Conn, sql: &Sql) -> Result<Vec<FacetedRow>, StoreError> {
    let mut out = Vec::new();
    for row in sql.run(conn)? {
        let facets: Vec<u8> = row.try_get(3)?;
        out.push(((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?), crate::store::facets::decode(&facets)));
    }
    Ok(out)
}
