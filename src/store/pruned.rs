//! Reading the gaps pruning left in origins' chains (`pruned`, see `writer::prune`).

use super::StoreError;
use crate::log::{Gap, Hash};
use rusqlite::{Connection, OptionalExtension, params};

/// Every gap this store records (of one origin, or of all), by origin and position.
pub fn gaps(conn: &Connection, origin: Option<&str>) -> Result<Vec<Gap>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.node, p.from_seq, p.to_seq, p.hash FROM pruned p JOIN origins o ON o.id = p.origin_id
         WHERE ?1 IS NULL OR o.node = ?1 ORDER BY o.node, p.from_seq",
    )?;
    let rows = stmt.query_map(params![origin], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, Vec<u8>>(3)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (origin, from, to, hash) = row?;
        let hash = Hash::from_slice(&hash).ok_or_else(|| StoreError::Corrupt {
            seq: 0,
            reason: format!("pruned hash of {origin}#{to} is not 32 bytes"),
        })?;
        out.push(Gap { origin, from: from as u64, to: to as u64, hash });
    }
    Ok(out)
}

/// The chain hash at `origin_seq` when a gap ends there (the entry itself is gone).
pub fn hash_at_gap_end(conn: &Connection, origin: &str, origin_seq: u64) -> Result<Option<Hash>, StoreError> {
    let hash: Option<Vec<u8>> = conn
        .prepare_cached(
            "SELECT p.hash FROM pruned p JOIN origins o ON o.id = p.origin_id WHERE o.node = ?1 AND p.to_seq = ?2",
        )?
        .query_row(params![origin, origin_seq as i64], |r| r.get(0))
        .optional()?;
    Ok(hash.and_then(|h| Hash::from_slice(&h)))
}
