//! Folding new postings into the main postings table, in key order, a piece per
//! transaction (issue 13: the same write cost at 10M results as at 1M).
//!
//! Results arrive for items in any order, so each new posting of an item lands on a random
//! page of `result_data`'s item section, and a transaction of a few thousand results wrote
//! a few thousand such pages (0.7–1 page per result at 10M results; BENCHMARKS.md). New
//! postings go to `result_data_recent` instead — a small table whose pages stay in the
//! writer's cache — and once it holds [`FOLD_AT`] rows a *round* moves them over in key
//! order, [`FOLD_PIECE`] rows per transaction: every page of `result_data` gets all of a
//! round's rows for it at once. Readers take the union of both tables (`plan.rs`); a move is
//! one transaction, so a posting is in exactly one of them at every instant.
//!
//! A round keeps pace with the writes: after each job the writer moves at least as many rows
//! as the job added (at least one piece). With one piece per job, a bulk `submit` (tens of
//! thousands of postings per job) outran the fold, and its new postings piled up in the
//! "small" table (4.7M rows after 1M results), left for the next server to move.

use super::Writer;
use crate::store::StoreError;
use rusqlite::OptionalExtension;

/// Rows in `result_data_recent` at which a round starts (~400k results of 5 data values:
/// ~55 MB, its item section well within the writer's 48 MiB cache).
pub(crate) const FOLD_AT: i64 = 2_000_000;

/// Rows moved per transaction: a piece touches at most this many pages of `result_data`,
/// in order, so the writes queued behind it wait a few milliseconds, not seconds.
pub(crate) const FOLD_PIECE: i64 = 5_000;

/// A posting's key: (key_id, value_id, submit_time, result_id).
type Key = (i64, i64, i64, i64);

const BEFORE_ALL: Key = (i64::MIN, i64::MIN, i64::MIN, i64::MIN);
const AFTER_ALL: Key = (i64::MAX, i64::MAX, i64::MAX, i64::MAX);

/// The writer's folding state.
#[derive(Debug)]
pub(super) struct Fold {
    /// Rows in `result_data_recent`, when known (unknown after a rollback: counted again).
    pub(super) recent: Option<i64>,
    /// Where the round in progress stands (the last key moved), if one is.
    from: Option<Key>,
    /// Rows added since the writer last folded: what it moves next, while a round is due.
    owed: i64,
    at: i64,
    piece: i64,
}

impl Default for Fold {
    fn default() -> Self {
        Fold { recent: None, from: None, owed: 0, at: FOLD_AT, piece: FOLD_PIECE }
    }
}

impl Fold {
    /// Sets the round threshold and piece size (tests fold small stores).
    pub(super) fn set_limits(&mut self, at: i64, piece: i64) {
        self.at = at.max(1);
        self.piece = piece.max(1);
    }

    /// Counts `n` rows added to (or, negative, removed from) `result_data_recent`.
    pub(super) fn added(&mut self, n: i64) {
        if let Some(r) = &mut self.recent {
            *r += n;
        }
        self.owed = self.owed.saturating_add(n.max(0));
    }

    /// Forgets the counts after a rollback (the rows it counted were never added).
    pub(super) fn forget(&mut self) {
        self.recent = None;
        self.owed = 0;
    }
}

impl Writer {
    /// Between transactions: if a round is due or under way, moves pieces of new postings,
    /// each in its own transaction, until as many rows have moved as were added since the
    /// last call (at least one piece). Returns whether the round goes on.
    pub(super) fn fold_piece(&mut self) -> Result<bool, StoreError> {
        if self.fold.recent.is_none() {
            let n: i64 = self.conn.query_row("SELECT count(*) FROM result_data_recent", [], |r| r.get(0))?;
            self.fold.recent = Some(n);
        }
        let mut from = match self.fold.from {
            Some(from) => from,
            None if self.fold.recent.unwrap_or(0) >= self.fold.at => BEFORE_ALL,
            None => {
                self.fold.owed = 0;
                return Ok(false);
            }
        };
        loop {
            let (moved, last) = self.transaction(|w| w.move_piece(from))?;
            self.fold.added(-moved);
            self.fold.owed -= moved;
            self.fold.from = (last != AFTER_ALL).then_some(last);
            if last == AFTER_ALL || self.fold.owed <= 0 {
                break;
            }
            from = last;
        }
        self.fold.owed = self.fold.owed.max(0);
        Ok(self.fold.from.is_some())
    }

    /// Moves the rows after `from`, up to one piece, and returns how many and the last key
    /// moved ([`AFTER_ALL`] when the piece reached the end of the table).
    fn move_piece(&mut self, from: Key) -> Result<(i64, Key), StoreError> {
        let (a, b, c, d) = from;
        let last: Option<Key> = self
            .conn
            .prepare_cached(
                "SELECT key_id, value_id, submit_time, result_id FROM result_data_recent
                 WHERE (key_id, value_id, submit_time, result_id) > (?1, ?2, ?3, ?4)
                 ORDER BY key_id, value_id, submit_time, result_id LIMIT 1 OFFSET ?5",
            )?
            .query_row(rusqlite::params![a, b, c, d, self.fold.piece - 1], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let to = last.unwrap_or(AFTER_ALL);
        let range = rusqlite::params![a, b, c, d, to.0, to.1, to.2, to.3];
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO result_data(key_id, value_id, submit_time, result_id, testcase_id)
                 SELECT key_id, value_id, submit_time, result_id, testcase_id FROM result_data_recent
                 WHERE (key_id, value_id, submit_time, result_id) > (?1, ?2, ?3, ?4)
                   AND (key_id, value_id, submit_time, result_id) <= (?5, ?6, ?7, ?8)
                 ORDER BY key_id, value_id, submit_time, result_id",
            )?
            .execute(range)?;
        let moved = self
            .conn
            .prepare_cached(
                "DELETE FROM result_data_recent
                 WHERE (key_id, value_id, submit_time, result_id) > (?1, ?2, ?3, ?4)
                   AND (key_id, value_id, submit_time, result_id) <= (?5, ?6, ?7, ?8)",
            )?
            .execute(range)?;
        Ok((i64::try_from(moved).unwrap_or(i64::MAX), to))
    }
}
