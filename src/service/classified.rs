//! Classifications remembered per key and checked again on every question, so `flaky`
//! and `compare` classify only the keys whose runs changed since they were last asked.
//!
//! A key's classification depends only on the set of its runs in the window (see
//! `insight::flaky::classify`). A remembered one is the answer again when that set is
//! the same, which is cheap to prove:
//! - the key's runs were last added or removed at the same log position as when it was
//!   remembered (`run_key_changes`, written in the same transaction as the runs), and
//!   that position is within the question's `when`;
//! - no run of the key lies between the old and the new window's edges (one index seek
//!   per moved edge; windows slide with the clock).
//!
//! Nothing here is ever stale: a key without a recorded change position is never
//! remembered, and any doubt falls back to classifying again.

use super::ServiceError;
use crate::insight::{Classification, FlakyParams};
use crate::store::{ReadStore, RunKey, RunRange};
use std::collections::HashMap;
use std::sync::Mutex;

/// Most remembered classifications (about 1–2 KB each); past it, all are forgotten.
const CAPACITY: usize = 50_000;

/// What a classification was asked of: the key, the item/type narrowing, the thresholds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Slot {
    key: i64,
    item_id: Option<i64>,
    type_id: Option<i64>,
    min_runs: usize,
    flip_rate: u64,
    breakage_run: usize,
    clear_after: usize,
}

impl Slot {
    fn of(key: &RunKey, range: &RunRange, p: &FlakyParams) -> Slot {
        Slot {
            key: key.id,
            item_id: range.item_id,
            type_id: range.type_id,
            min_runs: p.min_runs,
            flip_rate: p.flip_rate.to_bits(),
            breakage_run: p.breakage_run,
            clear_after: p.clear_after,
        }
    }
}

/// A remembered answer and what it was the answer for.
#[derive(Debug, Clone)]
struct Entry {
    /// The key's change position when it was classified.
    changed: i64,
    /// The window (inclusive submit times).
    since: i64,
    until: i64,
    /// None: the key had no runs in the window.
    answer: Option<Classification>,
}

/// The remembered classifications of one store.
#[derive(Debug, Default)]
pub(super) struct Classified {
    entries: Mutex<HashMap<Slot, Entry>>,
    /// Whether someone asked a question that classifies since the background pass last
    /// looked: the server keeps the window warm only while it is used.
    asked: std::sync::atomic::AtomicBool,
}

/// Whether the question reads every run the key's change position stands for: the
/// position is recorded and not after the question's `when`.
fn settled(key: &RunKey, range: &RunRange) -> bool {
    key.changed != i64::MAX && key.changed <= range.max_id.unwrap_or(i64::MAX)
}

/// A window's edges with open ends made explicit.
fn edges(range: &RunRange) -> (i64, i64) {
    (range.since.unwrap_or(i64::MIN), range.until.unwrap_or(i64::MAX))
}

impl Classified {
    /// The remembered classification of `key` over `range`, when it is still the answer
    /// (`Some(None)`: the key has no runs there). `key` must come from the snapshot that
    /// `range.max_id` was taken on.
    pub(super) fn get(
        &self,
        r: &dyn ReadStore,
        key: &RunKey,
        range: &RunRange,
        p: &FlakyParams,
    ) -> Result<Option<Option<Classification>>, ServiceError> {
        if !settled(key, range) {
            return Ok(None);
        }
        let Some(entry) = self.lock().get(&Slot::of(key, range, p)).cloned() else { return Ok(None) };
        if entry.changed != key.changed {
            return Ok(None);
        }
        let (since, until) = edges(range);
        // Runs between the old and the new start, or between the old and the new end,
        // would be in one window and not the other.
        if entry.since != since && r.has_runs(key.id, entry.since.min(since), entry.since.max(since) - 1)? {
            return Ok(None);
        }
        if entry.until != until && r.has_runs(key.id, entry.until.min(until) + 1, entry.until.max(until))? {
            return Ok(None);
        }
        Ok(Some(entry.answer))
    }

    /// Remembers `answer` as the classification of `key` over `range`.
    pub(super) fn put(&self, key: &RunKey, range: &RunRange, p: &FlakyParams, answer: Option<&Classification>) {
        // An answer as of an earlier instant than the key's last change was computed
        // without some of the runs the change position stands for.
        if !settled(key, range) {
            return;
        }
        let (since, until) = edges(range);
        let entry = Entry { changed: key.changed, since, until, answer: answer.cloned() };
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(Slot::of(key, range, p), entry);
    }

    /// Notes that a client asked `flaky` or `compare`.
    pub(super) fn mark_asked(&self) {
        self.asked.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a client asked since the last call (and forgets it).
    pub(super) fn take_asked(&self) -> bool {
        self.asked.swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Slot, Entry>> {
        // A panic elsewhere while holding the lock leaves nothing half-written here.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
