//! Whole-log use cases for commands run without a server: `verdict verify` walks every
//! origin's chain, `verdict replay` rebuilds a new store from the log alone.

use super::ServiceError;
use super::local::ReadOnly;
use crate::log::ChainVerifier;
use crate::store::{Store, StoreError};
use std::path::Path;

/// Log entries read per query: bounds memory however large the log is.
const CHUNK: usize = 10_000;

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// Every chain holds and the recorded heads agree with them.
    Ok {
        /// Entries checked.
        checked: u64,
        /// Origin chains walked.
        origins: usize,
        /// Entries in the log when the walk started.
        total: i64,
    },
    /// Log entry `seq` is unreadable or breaks its chain; `reason` says how.
    BrokenEntry { seq: i64, reason: String },
    /// The recorded head of `origin` (#`seq`) is not where its chain ends (`walked`: the
    /// last sequence found in the chain, if any).
    BrokenHead { origin: String, seq: u64, walked: Option<u64> },
}

/// What `replay` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Entries applied to the new store.
    pub applied: u64,
    /// Entries in the source's log when the replay started.
    pub total: i64,
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The new store refused a chunk of entries; `after` is the chunk's last log position.
    #[error("replaying log entries up to {after}")]
    Import {
        after: i64,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for ReplayError {
    fn from(e: StoreError) -> Self {
        ReplayError::Service(e.into())
    }
}

impl ReadOnly {
    /// Checks every origin's chain in log order, then that the recorded heads (the version
    /// vector) agree with the chains. `progress` gets the count checked after each chunk.
    pub fn verify(&self, mut progress: impl FnMut(u64)) -> Result<VerifyOutcome, ServiceError> {
        let reader = self.scan_reader()?;
        let total = reader.stats()?.log_entries;
        let mut v = ChainVerifier::with_gaps(reader.gaps(None)?);
        let mut after = 0;
        loop {
            let chunk = match reader.entries_after(after, CHUNK) {
                Ok(c) => c,
                Err(StoreError::Corrupt { seq, reason }) => return Ok(VerifyOutcome::BrokenEntry { seq, reason }),
                Err(e) => return Err(e.into()),
            };
            let Some((last, _)) = chunk.last() else { break };
            after = *last;
            for (seq, entry) in &chunk {
                if let Err(e) = v.feed(entry) {
                    return Ok(VerifyOutcome::BrokenEntry { seq: *seq, reason: e.to_string() });
                }
            }
            progress(v.checked());
        }
        if let Err(e) = v.finish() {
            return Ok(VerifyOutcome::BrokenEntry { seq: 0, reason: e.to_string() });
        }
        for head in reader.heads()? {
            let walked = v.heads().get(&head.origin).copied();
            if head.seq > 0 && walked != Some((head.seq, head.hash)) {
                return Ok(VerifyOutcome::BrokenHead {
                    origin: head.origin,
                    seq: head.seq,
                    walked: walked.map(|w| w.0),
                });
            }
        }
        Ok(VerifyOutcome::Ok { checked: v.checked(), origins: v.heads().len(), total })
    }

    /// Rebuilds the store at `into` (new, or empty) from this store's log alone, under this
    /// store's node id; derived tables are recomputed and commit times carried over (the
    /// `when` of decisions reads them). `progress` gets the count applied after each chunk.
    pub fn replay_into(&self, into: &Path, mut progress: impl FnMut(u64)) -> Result<Replayed, ReplayError> {
        let reader = self.scan_reader()?;
        let total = reader.stats()?.log_entries;
        let target = crate::store::create_with_node_id(into, self.node_id())?;
        let mut writer = target.writer()?;
        // Gaps first: the entries after a gap come before the horizon that declares it.
        let gaps = reader.gaps(None)?;
        if !gaps.is_empty() {
            writer.announce_gaps(&gaps)?;
        }
        let mut after = 0;
        let mut applied = 0u64;
        loop {
            let chunk = reader.entries_after(after, CHUNK)?;
            let Some((last, _)) = chunk.last() else { break };
            after = *last;
            writer.replay(&chunk).map_err(|source| ReplayError::Import { after, source })?;
            // The housekeeping the write queue does between jobs: without it a 10M-entry
            // replay grew a 5 GB WAL and kept every posting in the new-postings table.
            writer.tend_wal().map_err(|source| ReplayError::Import { after, source })?;
            while writer.tend_postings().map_err(|source| ReplayError::Import { after, source })? {}
            applied += chunk.len() as u64;
            progress(applied);
        }
        let times = reader.commit_times()?;
        if !times.is_empty() {
            writer.set_commit_times(&times)?;
        }
        Ok(Replayed { applied, total })
    }
}

/// What a backup wrote, and whether the copy verifies.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub bytes: u64,
    /// The copy's own chain check (`verify` on the new file).
    pub check: VerifyOutcome,
}

/// What a restore did: put the backup in place, or refused it.
#[derive(Debug, Clone)]
pub enum RestoreOutcome {
    Restored {
        bytes: u64,
        check: VerifyOutcome,
    },
    /// The backup does not verify; nothing was written.
    Refused(VerifyOutcome),
}

impl ReadOnly {
    /// `verdict backup`: a consistent copy of this store in the new file `to`, taken while a
    /// server may go on writing, then verified on its own.
    pub fn backup(&self, to: &Path) -> Result<BackupReport, ServiceError> {
        let bytes = self.backend().backup(to)?;
        let check = ReadOnly::open(to)?.verify(|_| {})?;
        Ok(BackupReport { bytes, check })
    }
}

/// `verdict restore`: verifies the backup `from`, then puts it in place as the store `to`,
/// which must not exist (stop the server and move the damaged store away first).
pub fn restore(from: &Path, to: &Path) -> Result<RestoreOutcome, ServiceError> {
    let check = ReadOnly::open(from)?.verify(|_| {})?;
    if !matches!(check, VerifyOutcome::Ok { .. }) {
        return Ok(RestoreOutcome::Refused(check));
    }
    let bytes = Store::restore(from, to)?;
    Ok(RestoreOutcome::Restored { bytes, check })
}
