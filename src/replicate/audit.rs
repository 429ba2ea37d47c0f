//! `verdict audit`: compares this store's chains with a peer's (or a bundle's) per origin —
//! version vectors and chain hashes — and locates the first differing position of a
//! diverged chain by narrowing down on hashes (a chain hash commits to everything before
//! it, so chains agree up to some position and differ from the next one on).

use super::{PeerClient, PullError, open_stream_file};
use crate::log::Hash;
use crate::service::local::ReadOnly;
use crate::service::replication::Conflicts;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// How this store stands against the other side for one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    InSync,
    /// This store lacks this many entries the other side has.
    Behind(u64),
    /// The other side lacks this many entries this store has.
    Ahead(u64),
    /// The chains differ from this position on.
    Diverged(u64),
}

#[derive(Debug, Clone)]
pub struct OriginAudit {
    pub origin: String,
    /// Highest position held here and there.
    pub local: u64,
    pub remote: u64,
    pub verdict: Verdict,
    pub note: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AuditReport {
    /// The other side's node id.
    pub remote_node: String,
    pub origins: Vec<OriginAudit>,
    /// uuids under which this store holds different results from different origins (both
    /// kept and listed), how many in all and the first few with their result ids.
    pub conflicts: Conflicts,
}

impl AuditReport {
    pub fn diverged(&self) -> usize {
        self.origins.iter().filter(|o| matches!(o.verdict, Verdict::Diverged(_))).count()
    }
}

/// Hashes of the other side.
trait Remote {
    /// Positions whose hashes it can give for `origin` (inclusive).
    fn known(&self, origin: &str) -> (u64, u64);
    fn hashes(&mut self, origin: &str, seqs: &[u64]) -> Result<BTreeMap<u64, Hash>, PullError>;
    /// The stretches of `origin` it pruned (`from`, `to`).
    fn pruned(&mut self, origin: &str) -> Result<Vec<(u64, u64)>, PullError>;
}

struct Peer<'a> {
    client: &'a PeerClient,
    heads: BTreeMap<String, (u64, Hash)>,
}

impl Remote for Peer<'_> {
    fn known(&self, origin: &str) -> (u64, u64) {
        (0, self.heads.get(origin).map_or(0, |h| h.0))
    }
    fn hashes(&mut self, origin: &str, seqs: &[u64]) -> Result<BTreeMap<u64, Hash>, PullError> {
        let mut out: BTreeMap<u64, Hash> = BTreeMap::new();
        if seqs.contains(&0) {
            out.insert(0, Hash::GENESIS);
        }
        let asked: Vec<u64> = seqs.iter().copied().filter(|s| *s > 0).collect();
        if !asked.is_empty() {
            out.extend(self.client.hashes(origin, &asked)?);
        }
        Ok(out)
    }
    fn pruned(&mut self, origin: &str) -> Result<Vec<(u64, u64)>, PullError> {
        self.client.pruned(origin)
    }
}

/// A bundle's hashes: every position it carries plus the one it starts after.
struct Bundle {
    ranges: BTreeMap<String, (u64, u64)>,
    hashes: BTreeMap<String, BTreeMap<u64, Hash>>,
    pruned: BTreeMap<String, Vec<(u64, u64)>>,
}

impl Remote for Bundle {
    fn known(&self, origin: &str) -> (u64, u64) {
        self.ranges.get(origin).copied().unwrap_or((0, 0))
    }
    fn hashes(&mut self, origin: &str, seqs: &[u64]) -> Result<BTreeMap<u64, Hash>, PullError> {
        let all = self.hashes.get(origin);
        Ok(seqs.iter().filter_map(|s| all.and_then(|m| m.get(s)).map(|h| (*s, *h))).collect())
    }
    fn pruned(&mut self, origin: &str) -> Result<Vec<(u64, u64)>, PullError> {
        Ok(self.pruned.get(origin).cloned().unwrap_or_default())
    }
}

/// Audits this store against the peer at `client`.
pub fn audit_peer(reads: &ReadOnly, client: &PeerClient) -> Result<AuditReport, PullError> {
    let (node, heads) = client.heads()?;
    let remote_heads: BTreeMap<String, u64> = heads.iter().map(|(o, h)| (o.clone(), h.0)).collect();
    let mut peer = Peer { client, heads };
    audit(reads, node, &remote_heads, &mut peer)
}

/// Audits this store against a bundle file (verified completely first).
pub fn audit_bundle(reads: &ReadOnly, path: &Path) -> Result<AuditReport, PullError> {
    let mut stream = open_stream_file(path)?;
    let mut b = Bundle { ranges: BTreeMap::new(), hashes: BTreeMap::new(), pruned: BTreeMap::new() };
    for (origin, p) in &stream.header().since {
        b.ranges.insert(origin.clone(), (p.seq, p.seq));
        b.hashes.entry(origin.clone()).or_default().insert(p.seq, p.hash().unwrap_or(Hash::GENESIS));
    }
    while let Some(e) = stream.next_entry()? {
        if let Some(r) = b.ranges.get_mut(&e.origin) {
            r.1 = e.origin_seq;
        }
        b.hashes.entry(e.origin.clone()).or_default().insert(e.origin_seq, e.hash);
        for g in stream.take_gaps() {
            b.note_gap(g);
        }
    }
    for g in stream.take_gaps() {
        b.note_gap(g);
    }
    let node = stream.header().node.clone();
    let remote_heads: BTreeMap<String, u64> = b.ranges.iter().map(|(o, r)| (o.clone(), r.1)).collect();
    audit(reads, node, &remote_heads, &mut b)
}

impl Bundle {
    /// A gap the bundle carries: its end's hash is known, the positions before it are not.
    fn note_gap(&mut self, g: crate::log::Gap) {
        if let Some(r) = self.ranges.get_mut(&g.origin) {
            r.1 = r.1.max(g.to);
        }
        self.hashes.entry(g.origin.clone()).or_default().insert(g.to, g.hash);
        self.pruned.entry(g.origin).or_default().push((g.from, g.to));
    }
}

/// Pruned stretches of one origin on both sides: positions inside one (but its end) have
/// no hash to compare on that side.
struct Pruned {
    here: Vec<(u64, u64)>,
    there: Vec<(u64, u64)>,
}

impl Pruned {
    /// The stretch holding `s` without ending there, on either side.
    fn hiding(&self, s: u64) -> Option<(u64, u64)> {
        self.here.iter().chain(&self.there).find(|(from, to)| *from <= s && s < *to).copied()
    }

    /// The highest position at or below `s` whose hash both sides can give.
    fn comparable(&self, mut s: u64) -> u64 {
        while let Some((from, _)) = self.hiding(s) {
            s = from.saturating_sub(1);
        }
        s
    }

    /// How the stretches read in a report; `None` when neither side pruned.
    fn note(&self) -> Option<String> {
        if self.here.is_empty() && self.there.is_empty() {
            return None;
        }
        let describe = |v: &[(u64, u64)]| {
            let n: u64 = v.iter().map(|(f, t)| t - f + 1).sum();
            let shown: Vec<String> = v.iter().take(3).map(|(f, t)| format!("#{f}..#{t}")).collect();
            let more = if v.len() > 3 { format!(", … {} more", v.len() - 3) } else { String::new() };
            if v.is_empty() {
                "none".to_owned()
            } else {
                format!("{n} entries in {} stretches ({}{more})", v.len(), shown.join(", "))
            }
        };
        Some(format!(
            "pruned (under horizon entries, not missing): here {}; there {}",
            describe(&self.here),
            describe(&self.there)
        ))
    }
}

fn audit(
    reads: &ReadOnly,
    remote_node: String,
    remote_heads: &BTreeMap<String, u64>,
    remote: &mut dyn Remote,
) -> Result<AuditReport, PullError> {
    let local = reads.tips()?;
    let origins: BTreeSet<&String> = local.keys().chain(remote_heads.keys()).collect();
    let mut out = Vec::new();
    for origin in origins {
        let l = local.get(origin).map_or(0, |h| h.0);
        let r = remote_heads.get(origin).copied().unwrap_or(0);
        out.push(audit_origin(reads, remote, origin, l, r)?);
    }
    let conflicts = reads.conflicts(5)?;
    Ok(AuditReport { remote_node, origins: out, conflicts })
}

fn audit_origin(
    reads: &ReadOnly,
    remote: &mut dyn Remote,
    origin: &str,
    l: u64,
    r: u64,
) -> Result<OriginAudit, PullError> {
    let pruned =
        Pruned { here: reads.gaps(origin)?.iter().map(|g| (g.from, g.to)).collect(), there: remote.pruned(origin)? };
    let pruned_note = pruned.note();
    let done = |verdict, note: Option<String>| {
        let note = match (note, pruned_note.clone()) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        OriginAudit { origin: origin.to_owned(), local: l, remote: r, verdict, note }
    };
    let (known_lo, _) = remote.known(origin);
    // Compared where both sides still have the hash (a pruned stretch hides its inside).
    let k = pruned.comparable(l.min(r));
    let by_length = || match l.cmp(&r) {
        std::cmp::Ordering::Equal => Verdict::InSync,
        std::cmp::Ordering::Less => Verdict::Behind(r - l),
        std::cmp::Ordering::Greater => Verdict::Ahead(l - r),
    };
    if k < known_lo {
        // A bundle that starts past what this store holds: nothing to compare.
        return Ok(done(
            by_length(),
            Some(format!("the bundle starts after #{known_lo}; this store lacks #{}..#{known_lo}", l + 1)),
        ));
    }
    let agree = |remote: &mut dyn Remote, s: u64| -> Result<bool, PullError> {
        let theirs = remote.hashes(origin, &[s])?.get(&s).copied();
        Ok(theirs.is_some() && theirs == reads.hash_at(origin, s)?)
    };
    if agree(remote, k)? {
        return Ok(done(by_length(), None));
    }
    if !agree(remote, known_lo)? {
        return Ok(done(
            Verdict::Diverged(known_lo),
            Some(format!("already different at #{known_lo}, the first position the bundle covers")),
        ));
    }
    // Chains agree at lo and differ at hi: narrow down with up to 32 probes per round.
    let (mut lo, mut hi) = (known_lo, k);
    while hi - lo > 1 {
        let step = ((hi - lo) / 33).max(1);
        let probes: Vec<u64> =
            (1..=32).map(|i| lo + i * step).filter(|p| *p < hi && pruned.hiding(*p).is_none()).collect();
        if probes.is_empty() {
            // Only pruned positions lie between: the first difference is somewhere in them.
            break;
        }
        let theirs = remote.hashes(origin, &probes)?;
        let mut moved = false;
        for p in probes {
            if theirs.get(&p).copied().is_some() && theirs.get(&p).copied() == reads.hash_at(origin, p)? {
                lo = p;
                moved = true;
            } else {
                hi = p;
                break;
            }
        }
        if !moved && hi - lo > 1 && step == 1 {
            break;
        }
    }
    Ok(done(Verdict::Diverged(hi), None))
}
