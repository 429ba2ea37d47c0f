//! Interning of testcase names, data keys and values through capped caches, and the
//! postings INSERT statements.

use crate::store::StoreError;
use foldhash::HashMap;
use rusqlite::{Connection, OptionalExtension};

/// Interned-id caches are capped so a stream of unique values (or testcase names) cannot
/// grow memory forever.
pub(super) const VALUE_CACHE_MAX: usize = 100_000;

/// Postings rows per INSERT statement.
pub(super) const POSTINGS_PER_STATEMENT: usize = 8;

/// The INSERT of `rows` postings (1..=POSTINGS_PER_STATEMENT), built once: formatting it
/// per result showed up in profiles. New postings go to `result_data_recent` (`fold.rs`).
pub(super) fn postings_sql(rows: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        (0..=POSTINGS_PER_STATEMENT)
            .map(|n| {
                let values = vec!["(?, ?, ?, ?, ?)"; n].join(", ");
                format!(
                    "INSERT OR IGNORE INTO result_data_recent(key_id, value_id, submit_time, result_id, testcase_id) VALUES {values}"
                )
            })
            .collect()
    });
    all.get(rows).map_or("", String::as_str)
}

/// The id of `text` in an interning table (`testcase`, `data_keys`, `data_values`),
/// created if missing, through a cache. Inserting first costs one index search for a new
/// text instead of two (unique values such as build ids, a JUnit report's testcases); a
/// known text the cache has dropped costs one more.
pub(super) fn intern(
    conn: &Connection,
    cache: &mut HashMap<String, i64>,
    t: &InternTable,
    text: &str,
) -> Result<i64, StoreError> {
    if let Some(id) = cache.get(text) {
        return Ok(*id);
    }
    let inserted = conn.prepare_cached(t.insert)?.execute([text])?;
    let id = if inserted == 1 {
        conn.last_insert_rowid()
    } else {
        lookup(conn, t, text)?
            .ok_or_else(|| StoreError::Corrupt { seq: 0, reason: format!("{} {text:?} vanished", t.name) })?
    };
    remember(cache, text, id);
    Ok(id)
}

pub(super) fn lookup(conn: &Connection, t: &InternTable, text: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn.prepare_cached(t.select)?.query_row([text], |r| r.get(0)).optional()?)
}

/// An interning table's statements (fixed strings: no formatting per lookup).
pub(super) struct InternTable {
    name: &'static str,
    insert: &'static str,
    select: &'static str,
}

pub(super) const TESTCASES: InternTable = InternTable {
    name: "testcase",
    insert: "INSERT OR IGNORE INTO testcase(name) VALUES(?1)",
    select: "SELECT id FROM testcase WHERE name = ?1",
};
pub(super) const DATA_KEYS: InternTable = InternTable {
    name: "data key",
    insert: "INSERT OR IGNORE INTO data_keys(key) VALUES(?1)",
    select: "SELECT id FROM data_keys WHERE key = ?1",
};
pub(super) const DATA_VALUES: InternTable = InternTable {
    name: "data value",
    insert: "INSERT OR IGNORE INTO data_values(value) VALUES(?1)",
    select: "SELECT id FROM data_values WHERE value = ?1",
};

/// Caches an interned id; the caches are capped so a stream of unique texts cannot grow
/// memory forever.
pub(super) fn remember(cache: &mut HashMap<String, i64>, text: &str, id: i64) {
    if cache.len() >= VALUE_CACHE_MAX {
        cache.clear();
    }
    cache.insert(text.to_owned(), id);
}
