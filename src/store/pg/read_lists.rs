//! Reads of the PostgreSQL store's lists: testcases, groups and waivers (the port of the
//! SQLite `Reader`'s lookups and `GET /testcases`, `/groups`, WaiverDB's queries).
//!
//! Names are found by their 16-byte keys (`name_key`), uuids and waiver fields through
//! their `md5()` indexes, patterns through the `left(col, 256)` prefix indexes: PostgreSQL's
//! B-trees cannot hold the full texts clients may send.

use super::conn::Conn;
use super::sql::{Sql, like_cond, md5_in, storable};
use crate::model::{GroupQuery, GroupView, TestcaseQuery, TestcaseView, WaiverRecord, WaiverView};
use crate::store::{StoreError, WaiverKeys};
use tokio_postgres::Row;

/// A testcase by name.
pub(super) fn testcase(conn: &Conn, name: &str) -> Result<Option<TestcaseView>, StoreError> {
    let row = conn.opt("SELECT name, ref_url FROM testcase WHERE name_key = $1", &[&super::text_key(name)])?;
    row.map(|r| testcase_row(&r)).transpose()
}

/// The id of a testcase by name.
pub(super) fn testcase_id(conn: &Conn, name: &str) -> Result<Option<i64>, StoreError> {
    let row = conn.opt("SELECT id FROM testcase WHERE name_key = $1", &[&super::text_key(name)])?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

fn testcase_row(r: &Row) -> Result<TestcaseView, StoreError> {
    Ok(TestcaseView { name: r.try_get(0)?, ref_url: r.try_get(1)? })
}

/// One page of `GET /testcases` (up to `limit + 1` rows), by name in byte order. Ordered by
/// the indexed `left(name, 256)` first, which sorts as the name does (a shorter prefix
/// never reorders texts), so the index can serve the order.
pub(super) fn testcases(conn: &Conn, q: &TestcaseQuery) -> Result<Vec<TestcaseView>, StoreError> {
    let mut sql = Sql::default();
    let mut text = "SELECT name, ref_url FROM testcase".to_owned();
    if !q.names.is_empty() {
        let keys = q.names.iter().map(|n| super::text_key(n)).collect();
        text.push_str(&format!(" WHERE name_key {}", sql.in_keys(keys)));
    } else if !q.name_like.is_empty() {
        let likes: Vec<String> = q.name_like.iter().map(|p| like_cond(&mut sql, "name", p, true)).collect();
        sql.repeats(likes.len());
        text.push_str(&format!(" WHERE {}", likes.join(" OR ")));
    }
    text.push_str(&format!(
        " ORDER BY left(name, 256), name LIMIT {} OFFSET {}",
        sql.param(q.list.limit.saturating_add(1)),
        sql.param(q.list.offset())
    ));
    sql.text = text;
    sql.run(conn)?.iter().map(testcase_row).collect()
}

const GROUP_COLUMNS: &str =
    "g.uuid, g.description, g.ref_url, (SELECT count(*) FROM result_groups rg WHERE rg.group_id = g.id)";

fn group_row(r: &Row) -> Result<GroupView, StoreError> {
    Ok(GroupView {
        uuid: r.try_get(0)?,
        description: r.try_get(1)?,
        ref_url: r.try_get(2)?,
        results_count: r.try_get(3)?,
    })
}

/// A group by uuid.
pub(super) fn group(conn: &Conn, uuid: &str) -> Result<Option<GroupView>, StoreError> {
    if !storable(uuid) {
        return Ok(None);
    }
    let row = conn.opt(
        &format!("SELECT {GROUP_COLUMNS} FROM grp g WHERE md5(g.uuid) = md5($1::text) AND g.uuid = $1"),
        &[&uuid],
    )?;
    row.map(|r| group_row(&r)).transpose()
}

/// One page of `GET /groups` (up to `limit + 1` rows), newest group first.
pub(super) fn groups(conn: &Conn, q: &GroupQuery) -> Result<Vec<GroupView>, StoreError> {
    let mut sql = Sql::default();
    let mut conds = Vec::new();
    if !q.descriptions.is_empty() {
        conds.push(format!("g.description {}", sql.in_texts(&q.descriptions)));
    } else if !q.description_like.is_empty() {
        // Descriptions have no index (SQLite's GLOB scans too).
        let likes: Vec<String> =
            q.description_like.iter().map(|p| like_cond(&mut sql, "g.description", p, false)).collect();
        sql.repeats(likes.len());
        conds.push(format!("({})", likes.join(" OR ")));
    }
    if !q.uuids.is_empty() {
        conds.push(md5_in(&mut sql, "g.uuid", &q.uuids));
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
    sql.run(conn)?.iter().map(group_row).collect()
}

const WAIVER_COLUMNS: &str = "id, uuid, subject_type, subject_identifier, testcase, scenario, product_version, \
     username, timestamp, waived, comment, proxied_by, expires_at";

fn waiver_row(r: &Row) -> Result<WaiverView, StoreError> {
    Ok(WaiverView {
        id: r.try_get(0)?,
        record: WaiverRecord {
            uuid: r.try_get(1)?,
            subject_type: r.try_get(2)?,
            subject_identifier: r.try_get(3)?,
            testcase: r.try_get(4)?,
            scenario: r.try_get(5)?,
            product_version: r.try_get(6)?,
            username: r.try_get(7)?,
            timestamp: r.try_get(8)?,
            waived: r.try_get(9)?,
            comment: r.try_get(10)?,
            proxied_by: r.try_get(11)?,
            expires_at: r.try_get(12)?,
        },
    })
}

/// A waiver by its local id.
pub(super) fn waiver(conn: &Conn, id: i64) -> Result<Option<WaiverView>, StoreError> {
    let row = conn.opt(&format!("SELECT {WAIVER_COLUMNS} FROM waivers WHERE id = $1"), &[&id])?;
    row.map(|r| waiver_row(&r)).transpose()
}

/// The waivers matching any of `keys` (each an AND of exact fields; a key with no fields
/// matches every waiver), in id order. Subjects and testcases are found through their
/// `md5()` indexes; the other fields are checked on those rows.
pub(super) fn waivers_matching(conn: &Conn, keys: &[WaiverKeys]) -> Result<Vec<WaiverView>, StoreError> {
    let mut sql = Sql::default();
    let mut alternatives = Vec::new();
    let mut everything = keys.is_empty();
    for k in keys {
        let mut conds = Vec::new();
        for (col, values, hashed) in [
            ("subject_type", &k.subject_types, false),
            ("subject_identifier", &k.subject_identifiers, true),
            ("testcase", &k.testcases, true),
            ("scenario", &k.scenarios, false),
            ("product_version", &k.product_versions, false),
            ("username", &k.usernames, false),
        ] {
            if values.is_empty() {
                continue;
            }
            conds.push(if hashed { md5_in(&mut sql, col, values) } else { format!("{col} {}", sql.in_texts(values)) });
        }
        everything |= conds.is_empty();
        alternatives.push(format!("({})", conds.join(" AND ")));
    }
    let mut text = format!("SELECT {WAIVER_COLUMNS} FROM waivers");
    if everything {
        sql = Sql::default();
    } else {
        sql.repeats(alternatives.len());
        text.push_str(&format!(" WHERE {}", alternatives.join(" OR ")));
    }
    text.push_str(" ORDER BY id");
    sql.text = text;
    sql.run(conn)?.iter().map(waiver_row).collect()
}
