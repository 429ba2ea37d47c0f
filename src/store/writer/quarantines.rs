//! Applying quarantine entries: each creation or revocation is kept under its log position
//! with its canonical record, so decisions can resolve the rules standing at any instant.

use super::{StoreError, Writer};
use crate::model::{QuarantineRecord, QuarantineView};
use rusqlite::params;

impl Writer {
    /// Indexes a quarantine entry (an entry already applied is not indexed again).
    pub(super) fn apply_quarantine(&mut self, seq: i64, q: &QuarantineRecord) -> Result<Option<i64>, StoreError> {
        let record = serde_json::to_string(q).map_err(|e| StoreError::Corrupt { seq, reason: e.to_string() })?;
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO quarantines(seq, uuid, timestamp, record) VALUES(?1, ?2, ?3, ?4)")?
            .execute(params![seq, q.uuid, q.timestamp, record])?;
        Ok(Some(seq))
    }

    /// The answer for an appended quarantine entry: it with its log position.
    pub(super) fn written_quarantine(&self, q: &QuarantineRecord) -> Result<QuarantineView, StoreError> {
        let seq: i64 = self
            .conn
            .prepare_cached("SELECT max(seq) FROM quarantines WHERE uuid = ?1 AND timestamp = ?2")?
            .query_row(params![q.uuid, q.timestamp], |r| r.get::<_, Option<i64>>(0))?
            .ok_or_else(|| StoreError::Corrupt { seq: 0, reason: "quarantine not stored".into() })?;
        Ok(QuarantineView { seq, record: q.clone() })
    }
}
