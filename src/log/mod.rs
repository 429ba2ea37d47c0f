//! The append-only log's entry format and per-origin blake3 hash chains (pure, no I/O).
//!
//! Every accepted write is one entry. Entries of one origin node form their own chain:
//! `hash = blake3(prev_hash ‖ origin ‖ origin_seq ‖ kind ‖ ts ‖ body)` with the fixed
//! encoding in [`chain_hash`]; the first entry of an origin chains to 32 zero bytes. Two
//! nodes holding an origin's first k entries agree on them iff their hashes at k are equal.
//! See `docs/log-format.md`.

pub mod import;
pub mod stream;

use crate::model::{
    GroupRecord, HorizonRecord, IngestRecord, QuarantineRecord, ResultRecord, TestcaseRecord, WaiverRecord,
};
use std::fmt;

/// A 32-byte blake3 chain hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The `prev` of an origin's first entry.
    pub const GENESIS: Hash = Hash([0; 32]);

    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    pub fn from_hex(s: &str) -> Option<Hash> {
        blake3::Hash::from_hex(s).ok().map(|h| Hash(*h.as_bytes()))
    }

    pub fn from_slice(b: &[u8]) -> Option<Hash> {
        <[u8; 32]>::try_from(b).ok().map(Hash)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

/// What an entry records. The kind string is part of the hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Result,
    Testcase,
    Group,
    Ingest,
    Waiver,
    Quarantine,
    /// Old results of one origin pruned (`verdict prune`), with what they said.
    Horizon,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Result => "result",
            Kind::Testcase => "testcase",
            Kind::Group => "group",
            Kind::Ingest => "ingest",
            Kind::Waiver => "waiver",
            Kind::Quarantine => "quarantine",
            Kind::Horizon => "horizon",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "result" => Some(Kind::Result),
            "testcase" => Some(Kind::Testcase),
            "group" => Some(Kind::Group),
            "ingest" => Some(Kind::Ingest),
            "waiver" => Some(Kind::Waiver),
            "quarantine" => Some(Kind::Quarantine),
            "horizon" => Some(Kind::Horizon),
            _ => None,
        }
    }
}

/// One log entry as stored and as replicated. `seq` (the local position) is not part of it:
/// it differs between nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Node id (32 lowercase hex chars) of the node that accepted the write.
    pub origin: String,
    /// 1-based position in the origin's chain.
    pub origin_seq: u64,
    pub kind: Kind,
    /// Acceptance time on the origin, microseconds since the epoch (monotonic per origin).
    pub ts: i64,
    /// Canonical JSON of the body (see [`Body`]).
    pub body: String,
    pub hash: Hash,
}

/// Computes an entry's chain hash. Encoding: `prev` (32 bytes), then `origin`, `kind` and
/// `body` each as a u64 big-endian length followed by the UTF-8 bytes, with `origin_seq` (u64
/// BE) after the origin and `ts` (i64 BE) after the kind. Lengths make it unambiguous.
pub fn chain_hash(prev: &Hash, origin: &str, origin_seq: u64, kind: Kind, ts: i64, body: &str) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&prev.0);
    put_bytes(&mut h, origin.as_bytes());
    h.update(&origin_seq.to_be_bytes());
    put_bytes(&mut h, kind.as_str().as_bytes());
    h.update(&ts.to_be_bytes());
    put_bytes(&mut h, body.as_bytes());
    Hash(*h.finalize().as_bytes())
}

fn put_bytes(h: &mut blake3::Hasher, b: &[u8]) {
    h.update(&(b.len() as u64).to_be_bytes());
    h.update(b);
}

impl Entry {
    /// Seals a new entry onto a chain whose last hash is `prev`.
    pub fn seal(prev: &Hash, origin: &str, origin_seq: u64, kind: Kind, ts: i64, body: String) -> Entry {
        let hash = chain_hash(prev, origin, origin_seq, kind, ts, &body);
        Entry { origin: origin.to_owned(), origin_seq, kind, ts, body, hash }
    }

    /// Whether this entry correctly follows `prev` in its origin's chain.
    pub fn follows(&self, prev: &Hash) -> bool {
        chain_hash(prev, &self.origin, self.origin_seq, self.kind, self.ts, &self.body) == self.hash
    }
}

/// A testcase write (`POST /testcases`): create if missing, set `ref_url` when present.
pub type TestcaseBody = TestcaseRecord;

/// A group write (`POST /groups`): create if missing, set the fields that are present.
pub type GroupBody = GroupRecord;

/// A decoded entry body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Result(ResultRecord),
    Testcase(TestcaseBody),
    Group(GroupBody),
    /// A result file ingested; its results follow it in the same transaction.
    Ingest(IngestRecord),
    /// A waiver (or, with `waived: false`, a revocation).
    Waiver(WaiverRecord),
    /// A quarantine rule (or, with `revoked: true`, its revocation).
    Quarantine(QuarantineRecord),
    /// Result entries of an origin pruned, with their summaries (see `model::horizon`).
    Horizon(HorizonRecord),
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("{kind} entry body does not decode: {source}")]
pub struct BodyError {
    pub kind: &'static str,
    #[source]
    pub source: serde_json::Error,
}

impl Body {
    pub fn kind(&self) -> Kind {
        match self {
            Body::Result(_) => Kind::Result,
            Body::Testcase(_) => Kind::Testcase,
            Body::Group(_) => Kind::Group,
            Body::Ingest(_) => Kind::Ingest,
            Body::Waiver(_) => Kind::Waiver,
            Body::Quarantine(_) => Kind::Quarantine,
            Body::Horizon(_) => Kind::Horizon,
        }
    }

    /// Canonical JSON: compact, fields in alphabetical order, absent optionals omitted.
    pub fn encode(&self) -> String {
        let encoded = match self {
            Body::Result(r) => serde_json::to_string(r),
            Body::Testcase(t) => serde_json::to_string(t),
            Body::Group(g) => serde_json::to_string(g),
            Body::Ingest(i) => serde_json::to_string(i),
            Body::Waiver(w) => serde_json::to_string(w),
            Body::Quarantine(q) => serde_json::to_string(q),
            Body::Horizon(h) => serde_json::to_string(h),
        };
        // Serializing these plain structs (strings, integers, maps with string keys) cannot fail.
        encoded.unwrap_or_default()
    }

    pub fn decode(kind: Kind, body: &str) -> Result<Body, BodyError> {
        let err = |source| BodyError { kind: kind.as_str(), source };
        Ok(match kind {
            Kind::Result => Body::Result(serde_json::from_str(body).map_err(err)?),
            Kind::Testcase => Body::Testcase(serde_json::from_str(body).map_err(err)?),
            Kind::Group => Body::Group(serde_json::from_str(body).map_err(err)?),
            Kind::Ingest => Body::Ingest(serde_json::from_str(body).map_err(err)?),
            Kind::Waiver => Body::Waiver(serde_json::from_str(body).map_err(err)?),
            Kind::Quarantine => Body::Quarantine(serde_json::from_str(body).map_err(err)?),
            Kind::Horizon => Body::Horizon(serde_json::from_str(body).map_err(err)?),
        })
    }
}

/// A pruned stretch of one origin's chain, as a store records it: positions `from..=to`
/// are gone and `hash` is the chain hash of entry `to` (see `model::horizon`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gap {
    pub origin: String,
    pub from: u64,
    pub to: u64,
    pub hash: Hash,
}

/// Walks entries in log order and checks every origin's chain: consecutive origin
/// sequence numbers, hashes that chain, bodies that decode. A store that pruned results
/// hands it its gaps: the walk steps over a gap to the gap's hash, and [`ChainVerifier::finish`]
/// demands that a horizon entry of the walk declared every gap it was given.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    heads: std::collections::HashMap<String, (u64, Hash)>,
    checked: u64,
    /// Origin → gap start → (gap end, hash at the end).
    gaps: std::collections::HashMap<String, std::collections::BTreeMap<u64, (u64, Hash)>>,
    /// Gaps declared by the horizon entries checked so far.
    declared: std::collections::HashSet<Gap>,
}

/// The first problem found in a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("origin {origin} entry #{origin_seq}: {reason}")]
pub struct ChainError {
    pub origin: String,
    pub origin_seq: u64,
    pub reason: String,
}

impl ChainVerifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// A verifier for a store holding these pruned gaps.
    pub fn with_gaps(gaps: impl IntoIterator<Item = Gap>) -> Self {
        let mut v = Self::default();
        for g in gaps {
            v.gaps.entry(g.origin).or_default().insert(g.from, (g.to, g.hash));
        }
        v
    }

    /// From position `seq` (hash `hash`) of `origin`, steps over every gap that holds the
    /// next position; returns where the chain then stands.
    fn step_over(&self, origin: &str, mut seq: u64, mut hash: Hash) -> (u64, Hash) {
        let Some(gaps) = self.gaps.get(origin) else { return (seq, hash) };
        while let Some((_, (to, h))) = gaps.range(..=seq + 1).next_back() {
            if *to <= seq {
                break;
            }
            (seq, hash) = (*to, *h);
        }
        (seq, hash)
    }

    /// Checks the next entry (in log order).
    pub fn feed(&mut self, e: &Entry) -> Result<(), ChainError> {
        let err = |reason: String| ChainError { origin: e.origin.clone(), origin_seq: e.origin_seq, reason };
        let (mut seq, mut prev) = self.heads.get(&e.origin).copied().unwrap_or((0, Hash::GENESIS));
        if e.origin_seq != seq + 1 {
            (seq, prev) = self.step_over(&e.origin, seq, prev);
        }
        if e.origin_seq != seq + 1 {
            return Err(err(format!("expected origin sequence {} after {seq}", seq + 1)));
        }
        if !e.follows(&prev) {
            return Err(err(format!(
                "hash {} does not match its content and predecessor (tampered or corrupt)",
                e.hash.to_hex()
            )));
        }
        let body = Body::decode(e.kind, &e.body).map_err(|b| err(b.to_string()))?;
        if let Body::Horizon(h) = body {
            for r in h.ranges {
                let hash = Hash::from_hex(&r.hash).ok_or_else(|| err(format!("range hash {:?} is not hex", r.hash)))?;
                self.declared.insert(Gap { origin: h.origin.clone(), from: r.from, to: r.to, hash });
            }
        }
        self.heads.insert(e.origin.clone(), (e.origin_seq, e.hash));
        self.checked += 1;
        Ok(())
    }

    /// Ends the walk: steps every chain over the gaps at its end, then checks that a horizon
    /// entry declared every gap the store holds.
    pub fn finish(&mut self) -> Result<(), ChainError> {
        let origins: Vec<String> = self.gaps.keys().cloned().collect();
        for origin in origins {
            let (seq, hash) = self.heads.get(&origin).copied().unwrap_or((0, Hash::GENESIS));
            let stepped = self.step_over(&origin, seq, hash);
            if stepped.0 != seq {
                self.heads.insert(origin, stepped);
            }
        }
        for (origin, gaps) in &self.gaps {
            for (from, (to, hash)) in gaps {
                let gap = Gap { origin: origin.clone(), from: *from, to: *to, hash: *hash };
                if !self.declared.contains(&gap) {
                    return Err(ChainError {
                        origin: origin.clone(),
                        origin_seq: *from,
                        reason: format!("entries #{from}..#{to} are pruned but no horizon entry declares it"),
                    });
                }
            }
        }
        Ok(())
    }

    /// Entries checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// Each origin's last sequence and hash seen.
    pub fn heads(&self) -> &std::collections::HashMap<String, (u64, Hash)> {
        &self.heads
    }
}

/// A fresh random node id: 16 random bytes as 32 lowercase hex chars.
pub fn new_node_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_detects_any_change() {
        let a = Entry::seal(&Hash::GENESIS, "n1", 1, Kind::Testcase, 5, r#"{"name":"t"}"#.into());
        let b = Entry::seal(&a.hash, "n1", 2, Kind::Testcase, 6, r#"{"name":"u"}"#.into());
        assert!(a.follows(&Hash::GENESIS));
        assert!(b.follows(&a.hash));
        let mut t = b.clone();
        t.body = r#"{"name":"v"}"#.into();
        assert!(!t.follows(&a.hash));
        let mut t = b.clone();
        t.ts += 1;
        assert!(!t.follows(&a.hash));
        assert!(!b.follows(&Hash::GENESIS));
        assert_eq!(Hash::from_hex(&a.hash.to_hex()), Some(a.hash));
    }

    #[test]
    fn bodies_round_trip_canonically() {
        let body = r#"{"data":{"a":["1","2"]},"groups":[{"description":null,"uuid":"g"}],"outcome":"PASSED","submit_time":7,"testcase":{"name":"t","ref_url":null},"uuid":"u"}"#;
        let decoded = Body::decode(Kind::Result, body).unwrap();
        assert_eq!(decoded.encode(), body);
    }

    #[test]
    fn the_verifier_steps_over_declared_gaps_only() {
        let mut chain = Vec::new();
        let mut prev = Hash::GENESIS;
        for i in 1..=6u64 {
            let e = Entry::seal(&prev, "n1", i, Kind::Testcase, i as i64, format!(r#"{{"name":"t{i}"}}"#));
            prev = e.hash;
            chain.push(e);
        }
        let gap = Gap { origin: "n1".into(), from: 2, to: 3, hash: chain[2].hash };
        let horizon = crate::model::HorizonRecord {
            before: 0,
            days: Vec::new(),
            origin: "n1".into(),
            ranges: vec![crate::model::PrunedRange { from: 2, hash: gap.hash.to_hex(), to: 3 }],
            results: 2,
            testcases_like: None,
        };
        let h = Entry::seal(&chain[5].hash, "n1", 7, Kind::Horizon, 7, Body::Horizon(horizon).encode());
        let kept = [&chain[0], &chain[3], &chain[4], &chain[5], &h];
        let mut v = ChainVerifier::with_gaps([gap.clone()]);
        for e in kept {
            v.feed(e).unwrap();
        }
        v.finish().unwrap();
        assert_eq!(v.heads()["n1"], (7, h.hash));
        // The same walk without the gap fails; a gap no horizon declares fails at the end.
        let mut v = ChainVerifier::new();
        v.feed(kept[0]).unwrap();
        assert!(v.feed(kept[1]).is_err());
        let mut v = ChainVerifier::with_gaps([gap]);
        for e in &kept[..4] {
            v.feed(e).unwrap();
        }
        assert!(v.finish().is_err(), "undeclared gap");
    }
}
