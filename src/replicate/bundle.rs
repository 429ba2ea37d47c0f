//! Air-gap bundles: a change stream saved to a zstd file (`verdict export`) and imported
//! elsewhere (`verdict import`). Importing verifies the whole file first — zstd checksum,
//! every chain link, count and digest, and where it joins this store's chains — and writes
//! nothing unless all of it passes; entries already held are skipped, so importing twice
//! changes nothing.

use super::{PullError, open_stream_file};
use crate::log::stream::{StreamError, VersionVector};
use crate::log::{Entry, Hash};
use crate::service::Service;
use crate::service::local::ReadOnly;
use crate::service::replication::Counts;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    pub entries: u64,
    pub origins: usize,
    pub bytes: u64,
}

/// Writes the entries a holder of `since` lacks (all, for an empty `since`) to `path`,
/// atomically (a temporary file renamed into place).
pub fn export(reads: &ReadOnly, since: &VersionVector, path: &Path) -> Result<ExportSummary, PullError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = std::path::PathBuf::from(tmp);
    let file = std::fs::File::create(&tmp)?;
    let written = (|| -> Result<_, PullError> {
        let mut enc = zstd::stream::Encoder::new(BufWriter::with_capacity(1 << 20, file), 3)?;
        enc.include_checksum(true)?;
        let (enc, produced) = reads.write_changes(since, u64::MAX, u64::MAX, enc)?;
        let mut out = enc.finish()?;
        out.flush()?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok((produced.end.entries, produced.origins))
    })();
    let (entries, origins) = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, path)?;
    Ok(ExportSummary { entries, origins, bytes: std::fs::metadata(path)?.len() })
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    /// The node that wrote the bundle.
    pub node: String,
    pub entries: u64,
    pub counts: Counts,
    pub elapsed: Duration,
}

/// Entries per import transaction.
const PAGE: usize = 50_000;

/// Verifies the bundle at `path` against this store, then imports it. `progress` gets
/// the number of entries verified (first pass) and then imported (second pass).
pub fn import_bundle(
    service: &Service,
    path: &Path,
    mut progress: impl FnMut(&str, u64),
) -> Result<ImportSummary, PullError> {
    let started = Instant::now();
    let reads = service.reads();
    let held = reads.tips()?;
    // Pass 1: verify everything; nothing is written.
    let mut stream = open_stream_file(path)?;
    let node = stream.header().node.clone();
    // Per origin: the last position both this store and the bundle hold, and our hash there.
    let mut at_held: BTreeMap<String, (u64, Option<Hash>)> = BTreeMap::new();
    for (origin, p) in &stream.header().since {
        let theirs = p.hash().unwrap_or(Hash::GENESIS);
        let (ours_seq, _) = held.get(origin).copied().unwrap_or((0, Hash::GENESIS));
        if p.seq > ours_seq {
            return Err(StreamError::Gap { origin: origin.clone(), start: p.seq, held: ours_seq }.into());
        }
        if reads.hash_at(origin, p.seq)? != Some(theirs) {
            return Err(StreamError::Diverged { origin: origin.clone(), seq: p.seq }.into());
        }
        let last = stream.header().heads.get(origin).map_or(ours_seq, |h| h.seq.min(ours_seq));
        at_held.insert(origin.clone(), (last, reads.hash_at(origin, last)?));
    }
    let mut entries = 0u64;
    while let Some(e) = stream.next_entry()? {
        // Where the bundle overlaps what we hold, its chain must be ours.
        if let Some((seq, ours)) = at_held.get(&e.origin)
            && *seq == e.origin_seq
            && *ours != Some(e.hash)
        {
            return Err(StreamError::Diverged { origin: e.origin.clone(), seq: e.origin_seq }.into());
        }
        entries += 1;
        if entries.is_multiple_of(PAGE as u64) {
            progress("verifying", entries);
        }
    }
    drop(stream);
    // Pass 2: import page by page (the file verified; a change to it since is caught again).
    let mut stream = open_stream_file(path)?;
    let mut counts = Counts::default();
    let mut page: Vec<(Entry, Hash)> = Vec::with_capacity(PAGE);
    let mut gaps = Vec::new();
    loop {
        let next = stream.next_verified()?;
        let last = next.is_none();
        if let Some(e) = next {
            page.push(e);
        }
        gaps.extend(stream.take_gaps());
        if page.len() >= PAGE || (last && !(page.is_empty() && gaps.is_empty())) {
            counts.add(service.import_page(std::mem::take(&mut gaps), std::mem::take(&mut page))?);
            progress("importing", counts.applied + counts.skipped);
        }
        if last {
            break;
        }
    }
    Ok(ImportSummary { node, entries, counts, elapsed: started.elapsed() })
}
