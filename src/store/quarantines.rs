//! Quarantine reads: the entries (creations and revocations) held, and the newest position
//! among them, which tells a cache whether any arrived. Which rules stand is `model`'s call.

use super::StoreError;
use crate::model::{QuarantineRecord, QuarantineView};
use rusqlite::{Connection, params};

/// The quarantine entries at or before log position `max_seq` (`None`: all), of one rule
/// when `uuid` is given, in log order.
pub(super) fn entries(
    conn: &Connection,
    uuid: Option<&str>,
    max_seq: Option<i64>,
) -> Result<Vec<QuarantineView>, StoreError> {
    let stmt = conn.prepare_cached(
        "SELECT seq, record FROM quarantines WHERE (?1 IS NULL OR uuid = ?1) AND (?2 IS NULL OR seq <= ?2) ORDER BY seq",
    );
    let mut stmt = match stmt {
        Err(e) if no_table(&e) => return Ok(Vec::new()),
        other => other?,
    };
    let rows = stmt.query_map(params![uuid, max_seq], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, text) = row?;
        let record: QuarantineRecord =
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt { seq, reason: e.to_string() })?;
        out.push(QuarantineView { seq, record });
    }
    Ok(out)
}

/// The newest log position of a quarantine entry (0: none): changes whenever one arrives.
pub(super) fn mark(conn: &Connection) -> Result<i64, StoreError> {
    // Every decision asks: a cached statement, not one parsed per call.
    let stmt = conn.prepare_cached("SELECT coalesce(max(seq), 0) FROM quarantines");
    match stmt.and_then(|mut s| s.query_row([], |r| r.get(0))) {
        Err(e) if no_table(&e) => Ok(0),
        other => Ok(other?),
    }
}

/// A store opened read-only that was made before quarantines existed lacks their table
/// (opening for writing creates it): it holds none.
fn no_table(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(_, Some(msg)) if msg.contains("no such table"))
}
