//! Last-writer-wins fields (testcase `ref_url`, group `description`/`ref_url`): deferred
//! to the end of a transaction, applied only if newer by `(ts, origin, origin_seq)`.

use super::{Stamp, Writer};
use crate::store::StoreError;
use foldhash::HashMap;
use rusqlite::params;

/// A last-writer-wins field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(in crate::store) enum LwwField {
    TestcaseRefUrl,
    GroupDescription,
    GroupRefUrl,
}

impl LwwField {
    /// The UPDATE that applies a value if its stamp is newer than the stored one.
    fn sql(self) -> &'static str {
        match self {
            LwwField::TestcaseRefUrl => {
                "UPDATE testcase SET ref_url = ?1, ref_url_ts = ?2, ref_url_origin = ?3, ref_url_oseq = ?4
                 WHERE id = ?5 AND (ref_url_ts, ref_url_origin, ref_url_oseq) < (?2, ?3, ?4)"
            }
            LwwField::GroupDescription => {
                "UPDATE grp SET description = ?1, description_ts = ?2, description_origin = ?3, description_oseq = ?4
                 WHERE id = ?5 AND (description_ts, description_origin, description_oseq) < (?2, ?3, ?4)"
            }
            LwwField::GroupRefUrl => {
                "UPDATE grp SET ref_url = ?1, ref_url_ts = ?2, ref_url_origin = ?3, ref_url_oseq = ?4
                 WHERE id = ?5 AND (ref_url_ts, ref_url_origin, ref_url_oseq) < (?2, ?3, ?4)"
            }
        }
    }
}

/// A deferred last-writer-wins value with its stamp.
#[derive(Debug, Clone)]
pub(in crate::store) struct Pending {
    pub value: Option<String>,
    pub ts: i64,
    pub origin: String,
    pub oseq: i64,
}

impl Pending {
    fn key(&self) -> (i64, &str, i64) {
        (self.ts, &self.origin, self.oseq)
    }
}

impl Writer {
    /// Records a last-writer-wins value to apply at the end of the transaction.
    pub(super) fn defer(&mut self, field: LwwField, id: i64, value: &Option<String>, stamp: &Stamp) {
        defer(&mut self.lww, field, id, value, stamp);
    }

    /// Applies the deferred last-writer-wins values (each only if newer than the stored).
    pub(super) fn flush_lww(&mut self) -> Result<(), StoreError> {
        for ((field, id), p) in self.lww.drain() {
            self.conn.prepare_cached(field.sql())?.execute(params![p.value, p.ts, p.origin, p.oseq, id])?;
        }
        Ok(())
    }
}

/// Records a last-writer-wins value in `pending`, keeping the newest per field (imports
/// may arrive in any order). Both backends defer through it.
pub(in crate::store) fn defer(
    pending: &mut HashMap<(LwwField, i64), Pending>,
    field: LwwField,
    id: i64,
    value: &Option<String>,
    stamp: &Stamp,
) {
    let new = Pending { value: value.clone(), ts: stamp.ts, origin: stamp.origin.to_owned(), oseq: stamp.oseq };
    match pending.entry((field, id)) {
        std::collections::hash_map::Entry::Occupied(mut o) => {
            if new.key() > o.get().key() {
                o.insert(new);
            }
        }
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(new);
        }
    }
}
