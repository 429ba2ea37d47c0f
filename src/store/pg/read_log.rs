//! Reads of the PostgreSQL store's log and bookkeeping: entries in log and origin order,
//! chain hashes and heads, pruned gaps, commit times and `verdict stats` (the port of the
//! SQLite `Reader`'s log walks and `store/pruned.rs`).
//!
//! Bodies are the plain canonical JSON (`log.body` is TEXT): nothing to decompress.

use super::conn::Conn;
use super::sql::storable;
use crate::log::{Entry, Gap, Hash, Kind};
use crate::store::{OriginHead, Stats, StoreError};
use tokio_postgres::Row;

/// Up to `limit` log entries after local position `after`, in log order.
pub(super) fn entries_after(conn: &Conn, after: i64, limit: usize) -> Result<Vec<(i64, Entry)>, StoreError> {
    let rows = conn.query(
        "SELECT l.seq, o.node, l.origin_seq, l.kind, l.ts, l.body, l.hash FROM log l
         JOIN origins o ON o.id = l.origin_id WHERE l.seq > $1 ORDER BY l.seq LIMIT $2",
        &[&after, &as_limit(limit)],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get(0)?;
        out.push((seq, entry(&row, seq, row.try_get(1)?, 2)?));
    }
    Ok(out)
}

/// Up to `limit` entries of `origin` after its position `after`, in origin order.
pub(super) fn origin_entries(conn: &Conn, origin: &str, after: u64, limit: usize) -> Result<Vec<Entry>, StoreError> {
    if !storable(origin) {
        return Ok(Vec::new());
    }
    let rows = conn.query(
        "SELECT l.seq, l.origin_seq, l.kind, l.ts, l.body, l.hash FROM log l
         WHERE l.origin_id = (SELECT id FROM origins WHERE node = $1) AND l.origin_seq > $2
         ORDER BY l.origin_seq LIMIT $3",
        &[&origin, &i64::try_from(after).unwrap_or(i64::MAX), &as_limit(limit)],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get(0)?;
        out.push(entry(&row, seq, origin.to_owned(), 1)?);
    }
    Ok(out)
}

/// A limit as SQL's bigint (a larger one is no limit anyway).
fn as_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The entry in `row`, whose columns from `at` are origin_seq, kind, ts, body, hash.
fn entry(row: &Row, seq: i64, origin: String, at: usize) -> Result<Entry, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { seq, reason };
    let kind: String = row.try_get(at + 1)?;
    let hash: Vec<u8> = row.try_get(at + 4)?;
    Ok(Entry {
        origin,
        origin_seq: row.try_get::<_, i64>(at)? as u64,
        kind: Kind::parse(&kind).ok_or_else(|| corrupt(format!("unknown kind {kind:?}")))?,
        ts: row.try_get(at + 2)?,
        body: row.try_get(at + 3)?,
        hash: Hash::from_slice(&hash).ok_or_else(|| corrupt("hash is not 32 bytes".into()))?,
    })
}

/// The chain hash of `origin` at `origin_seq` (genesis at 0), or where a pruned gap ends.
pub(super) fn hash_at(conn: &Conn, origin: &str, origin_seq: u64) -> Result<Option<Hash>, StoreError> {
    if origin_seq == 0 {
        return Ok(Some(Hash::GENESIS));
    }
    if !storable(origin) {
        return Ok(None);
    }
    let at = i64::try_from(origin_seq).unwrap_or(i64::MAX);
    let row = conn.opt(
        "SELECT l.hash FROM log l WHERE l.origin_id = (SELECT id FROM origins WHERE node = $1) AND l.origin_seq = $2",
        &[&origin, &at],
    )?;
    if let Some(row) = row {
        let hash: Vec<u8> = row.try_get(0)?;
        return Ok(Some(Hash::from_slice(&hash).ok_or(StoreError::Corrupt {
            seq: 0,
            reason: format!("hash of {origin}#{origin_seq} is not 32 bytes"),
        })?));
    }
    // The entry is gone when a gap ends there; the gap recorded its hash.
    let row = conn.opt(
        "SELECT p.hash FROM pruned p JOIN origins o ON o.id = p.origin_id WHERE o.node = $1 AND p.to_seq = $2
         ORDER BY p.from_seq LIMIT 1",
        &[&origin, &at],
    )?;
    Ok(match row {
        Some(row) => Hash::from_slice(&row.try_get::<_, Vec<u8>>(0)?),
        None => None,
    })
}

/// Every gap pruning left (of one origin, or of all), by origin (byte order) and position.
pub(super) fn gaps(conn: &Conn, origin: Option<&str>) -> Result<Vec<Gap>, StoreError> {
    if origin.is_some_and(|o| !storable(o)) {
        return Ok(Vec::new());
    }
    let rows = conn.query(
        "SELECT o.node, p.from_seq, p.to_seq, p.hash FROM pruned p JOIN origins o ON o.id = p.origin_id
         WHERE $1::text IS NULL OR o.node = $1 ORDER BY o.node COLLATE \"C\", p.from_seq",
        &[&origin],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let origin: String = row.try_get(0)?;
        let (from, to): (i64, i64) = (row.try_get(1)?, row.try_get(2)?);
        let hash: Vec<u8> = row.try_get(3)?;
        let hash = Hash::from_slice(&hash).ok_or_else(|| StoreError::Corrupt {
            seq: 0,
            reason: format!("pruned hash of {origin}#{to} is not 32 bytes"),
        })?;
        out.push(Gap { origin, from: from as u64, to: to as u64, hash });
    }
    Ok(out)
}

/// Each origin's chain head, by origin in byte order.
pub(super) fn heads(conn: &Conn) -> Result<Vec<OriginHead>, StoreError> {
    let rows = conn.query("SELECT node, head_seq, head_hash FROM origins ORDER BY node COLLATE \"C\"", &[])?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let origin: String = row.try_get(0)?;
        let seq: i64 = row.try_get(1)?;
        let hash: Vec<u8> = row.try_get(2)?;
        let hash = Hash::from_slice(&hash)
            .ok_or(StoreError::Corrupt { seq: 0, reason: format!("head hash of {origin} is not 32 bytes") })?;
        out.push(OriginHead { origin, seq: seq as u64, hash });
    }
    Ok(out)
}

/// Every recorded commit time `(seq, at)`, in log order.
pub(super) fn commit_times(conn: &Conn) -> Result<Vec<(i64, i64)>, StoreError> {
    let rows = conn.query("SELECT seq, at FROM commit_times ORDER BY seq", &[])?;
    Ok(rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_, tokio_postgres::Error>>()?)
}

/// The newest log position committed at or before `at` (0: none).
pub(super) fn stored_by(conn: &Conn, at: i64) -> Result<i64, StoreError> {
    Ok(conn.one("SELECT coalesce(max(seq), 0) FROM commit_times WHERE at <= $1", &[&at])?.try_get(0)?)
}

/// Counts for `verdict stats`; PostgreSQL's pages are 8 KiB, counted over the database.
pub(super) fn stats(conn: &Conn) -> Result<Stats, StoreError> {
    let row = conn.one(
        "SELECT (SELECT count(*) FROM results), (SELECT count(*) FROM testcase), (SELECT count(*) FROM grp),
                (SELECT count(*) FROM log), (SELECT count(*) FROM origins), (SELECT count(*) FROM data_keys),
                (SELECT count(*) FROM data_values), pg_database_size(current_database()) / 8192,
                (SELECT count(*) FROM waivers), (SELECT count(*) FROM pruned),
                (SELECT coalesce(sum(to_seq - from_seq + 1), 0)::bigint FROM pruned)",
        &[],
    )?;
    Ok(Stats {
        results: row.try_get(0)?,
        testcases: row.try_get(1)?,
        groups: row.try_get(2)?,
        log_entries: row.try_get(3)?,
        origins: row.try_get(4)?,
        data_keys: row.try_get(5)?,
        data_values: row.try_get(6)?,
        page_count: row.try_get(7)?,
        page_size: 8192,
        waivers: row.try_get(8)?,
        gaps: row.try_get(9)?,
        pruned: row.try_get(10)?,
    })
}

/// How many listed results have each outcome, most first (ties by outcome, byte order).
pub(super) fn outcome_counts(conn: &Conn) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = conn
        .query("SELECT outcome, count(*) FROM results GROUP BY outcome ORDER BY 2 DESC, outcome COLLATE \"C\"", &[])?;
    Ok(rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_, tokio_postgres::Error>>()?)
}
