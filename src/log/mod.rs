//! The append-only log's entry format and per-origin blake3 hash chains (pure, no I/O).
//!
//! Every accepted write is one entry. Entries of one origin node form their own chain:
//! `hash = blake3(prev_hash ‖ origin ‖ origin_seq ‖ kind ‖ ts ‖ body)` with the fixed
//! encoding in [`chain_hash`]; the first entry of an origin chains to 32 zero bytes. Two
//! nodes holding an origin's first k entries agree on them iff their hashes at k are equal.
//! See `docs/log-format.md`.

pub mod stream;

use crate::model::{GroupRecord, IngestRecord, QuarantineRecord, ResultRecord, TestcaseRecord, WaiverRecord};
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
        })
    }
}

/// Walks entries in log order and checks every origin's chain: consecutive origin
/// sequence numbers, hashes that chain, bodies that decode.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    heads: std::collections::HashMap<String, (u64, Hash)>,
    checked: u64,
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

    /// Checks the next entry (in log order).
    pub fn feed(&mut self, e: &Entry) -> Result<(), ChainError> {
        let err = |reason: String| ChainError { origin: e.origin.clone(), origin_seq: e.origin_seq, reason };
        let (seq, prev) = self.heads.get(&e.origin).copied().unwrap_or((0, Hash::GENESIS));
        if e.origin_seq != seq + 1 {
            return Err(err(format!("expected origin sequence {} after {seq}", seq + 1)));
        }
        if !e.follows(&prev) {
            return Err(err(format!(
                "hash {} does not match its content and predecessor (tampered or corrupt)",
                e.hash.to_hex()
            )));
        }
        Body::decode(e.kind, &e.body).map_err(|b| err(b.to_string()))?;
        self.heads.insert(e.origin.clone(), (e.origin_seq, e.hash));
        self.checked += 1;
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
}
