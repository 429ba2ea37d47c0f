//! The rules every store applies to another origin's entry it imports (replication,
//! bundles, replay), whatever holds the store: held again, pruned here, the next link of
//! the chain, or refused with the reason. Pure.

use super::{Entry, Hash};

/// An entry a store holds at some position of an origin's chain.
pub struct Held {
    pub hash: Vec<u8>,
    pub kind: String,
    pub body: String,
    pub ts: i64,
}

/// What an imported entry at or below the store's chain head of its origin is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// The store holds this very entry.
    AlreadyHeld,
    /// A horizon pruned this position here.
    Pruned,
}

/// An entry at or below the head: `held` is what the store holds at its position, `in_gap`
/// whether the position lies in a pruned range. Anything else is a refusal (the reason).
pub fn at_or_below_head(entry: &Entry, held: Option<&Held>, in_gap: bool) -> Result<Known, String> {
    match held {
        None if in_gap => Ok(Known::Pruned),
        Some(h)
            if h.hash == entry.hash.0 && h.kind == entry.kind.as_str() && h.body == entry.body && h.ts == entry.ts =>
        {
            Ok(Known::AlreadyHeld)
        }
        Some(_) => {
            Err("diverged: differs from the entry this store holds at that position (forked or tampered chain)".into())
        }
        None => Err("position below the chain head is missing".into()),
    }
}

/// An entry above the head must be the next position and chain to the head's hash
/// (`verified_prev`: the predecessor hash a change-stream reader already checked it
/// against, compared with the head instead of hashing again).
pub fn extends(entry: &Entry, head_seq: u64, head_hash: &Hash, verified_prev: Option<&Hash>) -> Result<(), String> {
    if entry.origin_seq != head_seq + 1 {
        return Err(format!("gap: this store's chain for that origin ends at {head_seq}"));
    }
    let follows = match verified_prev {
        Some(prev) => prev == head_hash,
        None => entry.follows(head_hash),
    };
    if follows {
        Ok(())
    } else {
        Err("hash does not match the entry and the previous entry of its origin (tampered or corrupt)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Kind;

    fn entry(prev: &Hash, seq: u64) -> Entry {
        Entry::seal(prev, "a1", seq, Kind::Testcase, 7, r#"{"name":"t"}"#.into())
    }

    #[test]
    fn entries_below_the_head() {
        let e = entry(&Hash::GENESIS, 1);
        let same = Held { hash: e.hash.0.to_vec(), kind: "testcase".into(), body: e.body.clone(), ts: 7 };
        let other =
            Held { ts: 8, ..Held { hash: e.hash.0.to_vec(), kind: "testcase".into(), body: e.body.clone(), ts: 7 } };
        assert_eq!(at_or_below_head(&e, Some(&same), false), Ok(Known::AlreadyHeld));
        assert_eq!(at_or_below_head(&e, None, true), Ok(Known::Pruned));
        assert!(at_or_below_head(&e, Some(&other), false).unwrap_err().starts_with("diverged"));
        assert!(at_or_below_head(&e, None, false).unwrap_err().contains("missing"));
    }

    #[test]
    fn entries_above_the_head() {
        let first = entry(&Hash::GENESIS, 1);
        let second = entry(&first.hash, 2);
        assert_eq!(extends(&second, 1, &first.hash, None), Ok(()));
        assert_eq!(extends(&second, 1, &first.hash, Some(&first.hash)), Ok(()));
        assert!(extends(&second, 0, &Hash::GENESIS, None).unwrap_err().starts_with("gap"));
        assert!(extends(&second, 1, &Hash::GENESIS, None).unwrap_err().starts_with("hash does not match"));
    }
}
