//! Reads the web pages need beyond the API's use cases: one result's log entry checked
//! against its chain ("verify this entry").

use super::{Service, ServiceError};
use serde::Serialize;

/// A result's log entry and whether its chain hash checks out.
#[derive(Debug, Clone, Serialize)]
pub struct EntryCheck {
    /// Local log position (the result's id).
    pub seq: i64,
    pub origin: String,
    /// Position in the origin's chain.
    pub origin_seq: u64,
    pub kind: String,
    /// The entry's chain hash (hex).
    pub hash: String,
    /// The previous entry's hash of the same origin (hex), when held.
    pub prev_hash: Option<String>,
    /// The hash recomputed from the previous hash and the entry's content matches.
    pub verified: bool,
}

impl Service {
    /// The log entry at position `seq`, checked against the previous hash of its origin's
    /// chain (`None`: no entry there).
    pub async fn entry_check(&self, seq: i64) -> Result<Option<EntryCheck>, ServiceError> {
        self.read_now(|r| {
            let Some((at, entry)) = r.entries_after(seq - 1, 1)?.into_iter().next() else { return Ok(None) };
            if at != seq {
                return Ok(None);
            }
            let prev = r.hash_at(&entry.origin, entry.origin_seq.saturating_sub(1))?;
            Ok(Some(EntryCheck {
                seq,
                origin: entry.origin.clone(),
                origin_seq: entry.origin_seq,
                kind: entry.kind.as_str().to_owned(),
                hash: entry.hash.to_hex(),
                verified: prev.as_ref().is_some_and(|p| entry.follows(p)),
                prev_hash: prev.map(|p| p.to_hex()),
            }))
        })
    }
}
