//! Replication's use cases: what a store holds of every origin (tips, hashes, conflicts),
//! producing the change stream of what a peer lacks, importing verified pages through the
//! one writer, and peers' live status. The stream's wire format is `log::stream`; pulling
//! from peers, bundle files and the audit's comparison live in `replicate`.

use super::local::ReadOnly;
use super::{Service, ServiceError};
use crate::log::stream::{
    FORMAT, Position, StreamEnd, StreamHeader, StreamWriter, VERSION, VERSION_WITH_GAPS, VersionVector,
};
use crate::log::{Entry, Gap, Hash};
use crate::store::{ImportOutcome, OriginHead, ReadStore, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

/// Per origin: a position and the chain hash there.
pub type Tips = BTreeMap<String, (u64, Hash)>;

/// A version vector from chain heads (origins with no entries are left out).
pub fn vv_of(heads: &[OriginHead]) -> VersionVector {
    heads.iter().filter(|h| h.seq > 0).map(|h| (h.origin.clone(), h.seq)).collect()
}

/// Entries imported and entries skipped as already held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub applied: u64,
    pub skipped: u64,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.applied += other.applied;
        self.skipped += other.skipped;
    }

    fn of(outcomes: &[ImportOutcome]) -> Counts {
        let applied = outcomes.iter().filter(|o| **o == ImportOutcome::Applied).count() as u64;
        Counts { applied, skipped: outcomes.len() as u64 - applied }
    }
}

/// uuids under which different results from different origins are stored (both kept).
#[derive(Debug, Clone, Default)]
pub struct Conflicts {
    pub count: i64,
    /// The first few, with their result ids.
    pub examples: Vec<(String, Vec<i64>)>,
}

/// What a change stream written from this store carried.
#[derive(Debug, Clone)]
pub struct Produced {
    pub end: StreamEnd,
    /// Origins the stream carries entries of.
    pub origins: usize,
}

/// Reads of replication: the same on a server's service and on a read-only store.
impl ReadOnly {
    /// Every origin's chain head (origins with no entries included).
    pub fn heads(&self) -> Result<Vec<OriginHead>, ServiceError> {
        self.read(|r| Ok(r.heads()?))
    }

    /// Per origin held, the highest position and its hash.
    pub fn tips(&self) -> Result<Tips, ServiceError> {
        Ok(self.heads()?.into_iter().filter(|h| h.seq > 0).map(|h| (h.origin, (h.seq, h.hash))).collect())
    }

    /// The chain hash of `origin` at `seq` (genesis at 0), if held.
    pub fn hash_at(&self, origin: &str, seq: u64) -> Result<Option<Hash>, ServiceError> {
        self.read(|r| Ok(r.hash_at(origin, seq)?))
    }

    /// The chain hashes of `origin` at those of `seqs` this store holds.
    pub fn hashes(&self, origin: &str, seqs: &[u64]) -> Result<BTreeMap<u64, Hash>, ServiceError> {
        self.read(|r| {
            let mut out = BTreeMap::new();
            for &seq in seqs {
                if let Some(h) = r.hash_at(origin, seq)? {
                    out.insert(seq, h);
                }
            }
            Ok(out)
        })
    }

    /// The gaps pruning left in `origin`'s chain here, by position.
    pub fn gaps(&self, origin: &str) -> Result<Vec<Gap>, ServiceError> {
        self.read(|r| Ok(r.gaps(Some(origin))?))
    }

    /// How many uuids carry different results from different origins, and the first
    /// `examples` of them with their result ids.
    pub fn conflicts(&self, examples: usize) -> Result<Conflicts, ServiceError> {
        self.read(|r| {
            let count = r.conflict_count()?;
            let examples = if examples > 0 { r.conflicts(examples as i64)? } else { Vec::new() };
            Ok(Conflicts { count, examples })
        })
    }

    /// Whether this store holds anything a holder of `since` lacks.
    pub fn has_news(&self, since: &VersionVector) -> Result<bool, ServiceError> {
        Ok(self.heads()?.iter().any(|h| h.seq > since.get(&h.origin).copied().unwrap_or(0)))
    }

    /// Writes the change stream of what a holder of `since` lacks to `out`, from one read
    /// snapshot: at most `limit` entries and (but for a first entry larger than that)
    /// `max_bytes` bytes. Blocking: call it off the async workers.
    pub fn write_changes<W: Write>(
        &self,
        since: &VersionVector,
        limit: u64,
        max_bytes: u64,
        out: W,
    ) -> Result<(W, Produced), ServiceError> {
        let node = self.node_id().to_owned();
        self.read(|r| produce(r, &node, since, limit, max_bytes, out))
    }
}

/// Writes of replication: verified pages go through the one write queue, so imports
/// serialise with every other write.
impl Service {
    /// Imports one verified page (each entry with the hash it was verified to follow, and
    /// the gaps the page stepped over, recorded first) in one transaction; entries already
    /// held or pruned here are skipped.
    pub fn import_page(&self, gaps: Vec<Gap>, page: Vec<(Entry, Hash)>) -> Result<Counts, ServiceError> {
        let outcomes = self.inner.queue.exclusive_blocking(move |w| w.import_verified(&gaps, &page))??;
        Ok(Counts::of(&outcomes))
    }
}

/// Entries read from the store per query while producing a stream.
const CHUNK: usize = 2000;

/// Writes the change stream of what a holder of `since` lacks, up to `limit` entries and
/// (but for a first entry larger than that) `max_bytes` bytes, origin by origin (each in
/// origin-sequence order), from the reader's snapshot.
fn produce<W: Write>(
    reader: &dyn ReadStore,
    node: &str,
    since: &VersionVector,
    limit: u64,
    max_bytes: u64,
    out: W,
) -> Result<(W, Produced), ServiceError> {
    let heads = reader.heads()?;
    let mut header = StreamHeader {
        format: FORMAT.into(),
        version: VERSION,
        node: node.to_owned(),
        created: crate::model::Timestamp::now().0,
        since: BTreeMap::new(),
        heads: heads.iter().filter(|h| h.seq > 0).map(|h| (h.origin.clone(), Position::new(h.seq, &h.hash))).collect(),
    };
    let mut todo = Vec::new();
    for h in heads.iter().filter(|h| h.seq > 0) {
        let from = since.get(&h.origin).copied().unwrap_or(0);
        if from >= h.seq {
            continue;
        }
        let gaps: Vec<Gap> = reader.gaps(Some(&h.origin))?.into_iter().filter(|g| g.to > from).collect();
        // A holder of a position inside a gap is sent the whole gap, from the position
        // before it (whose hash this store knows: an entry, another gap's end or genesis).
        let start = gaps.iter().find(|g| g.from <= from + 1).map_or(from, |g| g.from - 1);
        let hash = reader.hash_at(&h.origin, start)?.ok_or_else(|| StoreError::Corrupt {
            seq: 0,
            reason: format!("origin {} has no entry #{start} below its head #{}", h.origin, h.seq),
        })?;
        header.since.insert(h.origin.clone(), Position::new(start, &hash));
        todo.push((h.origin.clone(), start, h.seq, gaps));
    }
    if todo.iter().any(|t| !t.3.is_empty()) {
        header.version = VERSION_WITH_GAPS;
    }
    let origins = todo.len();
    let mut w = StreamWriter::start(out, &header)?;
    let mut more = false;
    'origins: for (origin, start, head, gaps) in todo {
        let mut gaps = gaps.into_iter().peekable();
        let mut after = start;
        while after < head {
            after = write_gaps(&mut w, &mut gaps, after)?;
            if after >= head {
                break;
            }
            let room = limit.saturating_sub(w.entries());
            if room == 0 {
                more = true;
                break 'origins;
            }
            let chunk = reader.origin_entries(&origin, after, (room.min(CHUNK as u64)) as usize)?;
            if chunk.is_empty() {
                break;
            }
            for e in &chunk {
                after = write_gaps(&mut w, &mut gaps, after)?;
                // An entry still held inside a gap just sent (announced, its horizon not
                // yet applied here) is covered by the gap.
                if e.origin_seq <= after {
                    continue;
                }
                if !w.entry_within(e, max_bytes)? {
                    more = true;
                    break 'origins;
                }
                after = e.origin_seq;
            }
        }
    }
    let (out, end) = w.finish(more)?;
    Ok((out, Produced { end, origins }))
}

/// Writes the gaps that start right after position `after` (one after another); returns
/// where the chain then stands.
fn write_gaps<W: Write>(
    w: &mut StreamWriter<W>,
    gaps: &mut std::iter::Peekable<std::vec::IntoIter<Gap>>,
    mut after: u64,
) -> Result<u64, ServiceError> {
    while let Some(g) = gaps.next_if(|g| g.from <= after + 1) {
        if g.to > after {
            w.gap(&g)?;
            after = g.to;
        }
    }
    Ok(after)
}

/// Compares two secrets in time independent of where they differ.
pub fn token_matches(given: &str, expected: &str) -> bool {
    // Hashing first makes the comparison length-independent too.
    let (a, b) = (blake3::hash(given.as_bytes()), blake3::hash(expected.as_bytes()));
    a.as_bytes().iter().zip(b.as_bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the server knows about one peer it pulls from (`GET /api/verdict/v1/replication`).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct PeerStatus {
    pub url: String,
    /// The peer's node id, once it answered.
    #[schema(required = true)]
    pub node: Option<String>,
    /// `starting`, `in sync`, `catching up` or `error`.
    pub state: String,
    /// Last time the peer answered (success or refusal), ISO 8601 UTC.
    #[schema(required = true)]
    pub last_contact: Option<String>,
    /// Last time a pull completed.
    #[schema(required = true)]
    pub last_success: Option<String>,
    /// Entries the peer held that this node lacked at the last contact.
    #[schema(required = true)]
    pub lag: Option<u64>,
    #[schema(required = true)]
    pub last_error: Option<String>,
    #[schema(required = true)]
    pub last_error_at: Option<String>,
    /// Entries applied from this peer since the server started.
    pub applied: u64,
    /// Entries received that were already held (skipped).
    pub skipped: u64,
}

/// Replication settings and peer status shared by the HTTP adapter and the pull loops.
#[derive(Debug, Default)]
pub struct ReplicationState {
    /// The shared peer token; when set, the replication endpoints demand it.
    pub token: Option<String>,
    pub peers: Mutex<Vec<PeerStatus>>,
}

impl ReplicationState {
    pub fn new(token: Option<String>) -> ReplicationState {
        ReplicationState { token: token.filter(|t| !t.is_empty()), peers: Mutex::new(Vec::new()) }
    }

    /// Whether a request carrying `authorization` (the header's value) may replicate.
    pub fn authorized(&self, authorization: Option<&str>) -> bool {
        match &self.token {
            None => true,
            Some(expected) => authorization
                .and_then(|h| h.strip_prefix("Bearer "))
                .is_some_and(|given| token_matches(given.trim(), expected)),
        }
    }

    /// A copy of every peer's status.
    pub fn peers(&self) -> Vec<PeerStatus> {
        self.peers.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Updates peer `index` (registered with [`ReplicationState::add_peer`]).
    pub fn update(&self, index: usize, f: impl FnOnce(&mut PeerStatus)) {
        if let Ok(mut peers) = self.peers.lock()
            && let Some(p) = peers.get_mut(index)
        {
            f(p);
        }
    }

    /// Registers a peer; returns its index.
    pub fn add_peer(&self, url: &str) -> usize {
        match self.peers.lock() {
            Ok(mut peers) => {
                peers.push(PeerStatus { url: url.to_owned(), state: "starting".into(), ..PeerStatus::default() });
                peers.len() - 1
            }
            Err(_) => usize::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let s = ReplicationState::new(Some("sekrit".into()));
        assert!(s.authorized(Some("Bearer sekrit")));
        assert!(!s.authorized(Some("Bearer sekrit2")));
        assert!(!s.authorized(None));
        assert!(ReplicationState::new(None).authorized(None));
    }
}
