//! The ids of names (testcases, data keys, data values) the readers have seen, shared by
//! a store's readers: a filter naming them then needs no round trip to resolve them.
//!
//! Safe to remember because a name's id never changes once committed: names are created
//! once, never renamed, and never deleted (pruning removes results, not names). Only ids
//! a reader read are remembered, so only committed ones; a name not found is not
//! remembered, since a later write may create it.

use std::collections::HashMap;
use std::sync::Mutex;

/// Which table a name is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Testcase,
    DataKey,
    DataValue,
}

/// Names remembered at most per kind; past it the kind's cache starts over (a cheap
/// bound: a miss only costs the round trip the cache saves).
const MAX: usize = 200_000;

/// Name → id, one map per kind.
#[derive(Default)]
pub(super) struct NameIds {
    ids: [Mutex<HashMap<String, i64>>; 3],
}

impl NameIds {
    fn of(&self, kind: Kind) -> Option<std::sync::MutexGuard<'_, HashMap<String, i64>>> {
        self.ids[kind as usize].lock().ok()
    }

    /// The id of every name, or `None` if any is not remembered.
    pub fn all(&self, kind: Kind, names: &[String]) -> Option<Vec<i64>> {
        let ids = self.of(kind)?;
        names.iter().map(|n| ids.get(n).copied()).collect()
    }

    /// The id of `name`, if remembered.
    pub fn get(&self, kind: Kind, name: &str) -> Option<i64> {
        self.of(kind)?.get(name).copied()
    }

    /// Remembers ids read from the database.
    pub fn put(&self, kind: Kind, found: impl IntoIterator<Item = (String, i64)>) {
        let Some(mut ids) = self.of(kind) else { return };
        for (name, id) in found {
            if ids.len() >= MAX {
                ids.clear();
            }
            ids.insert(name, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_or_nothing() {
        let names = NameIds::default();
        names.put(Kind::DataValue, [("a".to_owned(), 1), ("b".to_owned(), 2)]);
        assert_eq!(names.all(Kind::DataValue, &["b".into(), "a".into()]), Some(vec![2, 1]));
        assert_eq!(names.all(Kind::DataValue, &["a".into(), "c".into()]), None);
        assert_eq!(names.all(Kind::Testcase, &["a".into()]), None);
        assert_eq!(names.get(Kind::DataValue, "b"), Some(2));
        assert_eq!(names.get(Kind::DataKey, "b"), None);
    }
}
