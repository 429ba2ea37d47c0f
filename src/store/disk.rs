//! A full disk: recognising it in SQLite's errors, remembering it, giving WAL space back,
//! and keeping the WAL from filling a small disk.
//!
//! When the disk holding the store fills up, a commit fails with `SQLITE_FULL`, and the
//! WAL keeps the space it grew into: its committed frames cannot be checkpointed because
//! the database file cannot grow, and each new commit attempt extends the WAL file again
//! into any space freed meanwhile. So once a write fails for space (or less than
//! [`RESUME_FREE`] is left), the store is marked full: writes are refused at once (no SQL,
//! no I/O) until a `TRUNCATE` checkpoint has copied the WAL into the database file and cut
//! the WAL to zero bytes, and the file system has at least [`RESUME_FREE`] bytes available
//! again. Free space (`statvfs`, as `df`'s "Avail") is looked at at open, after a failure,
//! while full, and as the WAL grows (see [`WriterDisk::wal_due`]) — never per commit.

use super::StoreError;
use rusqlite::{Connection, ErrorCode};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Bytes that must be available on the store's file system before writes resume (and
/// below which a failed write is taken as the disk being full).
pub const RESUME_FREE: u64 = 1 << 20;

/// Whether the store's disk is full, shared by the writer, the checkpointer and the
/// service (the healthcheck reports it).
#[derive(Debug)]
pub struct DiskState {
    path: PathBuf,
    full: AtomicBool,
}

impl DiskState {
    /// The state of the store at `path`: full when its file system is (nearly) full now.
    pub(super) fn new(path: &Path) -> DiskState {
        let state = DiskState { path: path.to_owned(), full: AtomicBool::new(false) };
        if state.low_on_space() {
            state.full.store(true, Ordering::Relaxed);
        }
        state
    }

    /// True while writes are refused because the disk is full.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// The store file whose disk this is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The error writes get while the disk is full.
    pub fn error(&self) -> StoreError {
        StoreError::DiskFull { path: Some(self.path.clone()) }
    }

    pub(super) fn set_full(&self) {
        self.full.store(true, Ordering::Relaxed);
    }

    pub(super) fn set_writable(&self) {
        self.full.store(false, Ordering::Relaxed);
    }

    /// Whether the file system holding the store has less than [`RESUME_FREE`] bytes
    /// available. Unknown (no `statvfs`) counts as enough: the next write will tell.
    fn low_on_space(&self) -> bool {
        free_bytes(&self.path).is_some_and(|free| free < RESUME_FREE)
    }

    /// After a failed write: marks the disk full if the error said so (`full`) or if the
    /// file system is out of space (an I/O error, or the caller's own error type, can
    /// hide the cause).
    pub(super) fn after_failure(&self, full: bool) {
        if full || self.low_on_space() {
            self.set_full();
        }
    }

    /// Names the store in a disk-full error, and calls an I/O error one when the disk is
    /// out of space (SQLite reports some ENOSPC cases, e.g. growing the WAL index, as
    /// `SQLITE_IOERR`). Only runs on errors.
    pub(super) fn locate(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::DiskFull { path: None } => self.error(),
            StoreError::Sqlite(ref s) if code(s) == Some(ErrorCode::SystemIoFailure) && self.low_on_space() => {
                self.error()
            }
            e => e,
        }
    }

    /// While full: gives the WAL's space back (see [`DiskState::give_back`]) and marks the
    /// store writable again once that worked and enough space is available. Returns
    /// whether writes may go ahead.
    pub(super) fn recover(&self, conn: &Connection, wait: Duration) -> bool {
        if !self.is_full() {
            return true;
        }
        if self.give_back(conn, wait) && !self.low_on_space() {
            self.set_writable();
        }
        !self.is_full()
    }

    /// A `TRUNCATE` checkpoint: copies the WAL's frames into the database file and cuts
    /// the WAL to zero bytes, also dropping what failed commits left past its end. Waits
    /// at most `wait` for readers. Returns whether it finished (it cannot while the
    /// database file has no room to grow into).
    pub(super) fn give_back(&self, conn: &Connection, wait: Duration) -> bool {
        if conn.busy_timeout(wait).is_err() {
            return false;
        }
        // (busy, WAL frames, frames checkpointed): busy = 1 when readers kept it from
        // finishing; an error when the database file could not grow.
        let done =
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0)).is_ok_and(|busy| busy == 0);
        let _ = conn.busy_timeout(super::BUSY_TIMEOUT);
        done
    }
}

/// While the disk is full, writes are refused without trying; the writer itself looks
/// again at most this often (the server's checkpoint thread looks every 200 ms).
const WRITER_RETRY: Duration = Duration::from_secs(1);

/// The smallest WAL restart limit, however full the disk: below it restarts would
/// come every few commits.
const MIN_WAL_LIMIT: i64 = 1 << 20;

/// The writer's side of the disk state: when it last tried to recover, and the WAL size
/// it keeps to.
pub(super) struct WriterDisk {
    state: Arc<DiskState>,
    last_recovery: Option<Instant>,
    /// WAL fill (bytes of frames since the last restart) past which it is restarted, the
    /// most that can be, the fill at which free space is looked at again, and the last
    /// fill seen.
    wal_limit: i64,
    wal_max: i64,
    wal_look_at: i64,
    wal_fill: i64,
}

impl WriterDisk {
    pub(super) fn new(state: Arc<DiskState>, wal_max: i64) -> WriterDisk {
        let mut d = WriterDisk { state, last_recovery: None, wal_limit: wal_max, wal_max, wal_look_at: 0, wal_fill: 0 };
        d.wal_restarted();
        d
    }

    /// Whether the WAL, filled to `fill` bytes, is due for a restart. Its limit is
    /// `wal_max`, but on a small disk at most a quarter of the space the WAL could take
    /// (its file plus the free space): a restarted WAL is written again from its start but
    /// its file never shrinks, and between restarts every commit appends whole pages
    /// (~16 KB a result), so with a fixed 256 MiB limit the WAL alone filled a 64 MiB disk
    /// holding a few MiB of data. Free space is looked at after each restart and each
    /// time the fill grows by an eighth of the limit (something else may fill the disk)
    /// or starts again from the WAL's beginning (a checkpoint restarted it): one
    /// `statvfs` per several MiB of WAL (per 128 KiB at the smallest limit) or per
    /// background checkpoint, never per commit.
    pub(super) fn wal_due(&mut self, fill: i64) -> bool {
        if fill < self.wal_fill {
            self.wal_look_at = fill;
        }
        self.wal_fill = fill;
        if fill >= self.wal_look_at && fill <= self.wal_limit {
            self.wal_limit = self.look_at_space();
            self.wal_look_at = fill + self.wal_limit / 8;
        }
        fill > self.wal_limit
    }

    /// After a restart: the WAL is written from its start again.
    pub(super) fn wal_restarted(&mut self) {
        self.wal_limit = self.look_at_space();
        self.wal_look_at = self.wal_limit / 8;
        self.wal_fill = 0;
    }

    /// Sets the largest WAL restart limit (default 256 MiB).
    pub(super) fn set_wal_max(&mut self, bytes: i64) {
        self.wal_max = bytes;
        self.wal_restarted();
    }

    /// The WAL limit for the space there is now. With less than [`RESUME_FREE`] left the
    /// store is marked full before SQLite runs out: the last MiB stays free for the
    /// checkpoint that copies the WAL into the database file, so the WAL can always be
    /// given back, and a refused write has not half-written anything.
    fn look_at_space(&self) -> i64 {
        let Some(free) = free_bytes(&self.state.path) else { return self.wal_max };
        if free < RESUME_FREE {
            self.state.set_full();
        }
        let mut wal = self.state.path.clone().into_os_string();
        wal.push("-wal");
        let wal = std::fs::metadata(&wal).map_or(0, |m| m.len());
        let room = i64::try_from(free.saturating_add(wal) / 4).unwrap_or(i64::MAX);
        self.wal_max.min(room.max(MIN_WAL_LIMIT))
    }

    /// Whether to try a write: yes unless the disk is full; then at most every
    /// [`WRITER_RETRY`], once the WAL's space is back (see [`DiskState::recover`]). Never
    /// waits for readers: the writer thread must answer refused writes at once.
    pub(super) fn may_write(&mut self, conn: &Connection) -> bool {
        if !self.state.is_full() {
            return true;
        }
        if self.last_recovery.is_some_and(|t| t.elapsed() < WRITER_RETRY) {
            return false;
        }
        self.last_recovery = Some(Instant::now());
        self.state.recover(conn, Duration::ZERO)
    }

    /// After a rolled-back transaction: on a full disk, marks the store full (writes then
    /// fail fast) and at once gives back the WAL's space, including what the failed commit
    /// wrote past its end — else that would hold the space the checkpoint needs.
    pub(super) fn after_failure(&mut self, conn: &Connection, full: bool) {
        self.state.after_failure(full);
        if self.state.is_full() {
            self.last_recovery = Some(Instant::now());
            self.state.give_back(conn, Duration::ZERO);
        }
    }

    pub(super) fn error(&self) -> StoreError {
        self.state.error()
    }

    pub(super) fn locate(&self, e: StoreError) -> StoreError {
        self.state.locate(e)
    }
}

/// The SQLite error code of a failure, if it is one.
fn code(e: &rusqlite::Error) -> Option<ErrorCode> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    }
}

/// `SQLITE_FULL`: a write found no space (SQLite maps ENOSPC to it).
pub(super) fn is_full_error(e: &rusqlite::Error) -> bool {
    code(e) == Some(ErrorCode::DiskFull)
}

/// Bytes available to unprivileged users on the file system holding `path` (its
/// directory when the file does not exist yet).
pub fn free_bytes(path: &Path) -> Option<u64> {
    let probe = match path.parent() {
        _ if path.exists() => path,
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let s = rustix::fs::statvfs(probe).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// The message of a disk-full error.
pub(super) fn message(path: Option<&Path>) -> String {
    let what = match path {
        Some(p) => format!("the disk holding {}", p.display()),
        None => "the disk holding the store".to_owned(),
    };
    format!("{what} is full: writes are refused until space is freed (reads still work)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_full_is_classified_as_disk_full_and_named_by_the_store() {
        // SQLite says SQLITE_FULL both for a full disk and for a database at its page cap:
        // the cap makes the error reproducible without filling a disk.
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t(x); PRAGMA max_page_count = 3;").unwrap();
        let e = (0..100)
            .find_map(|_| conn.execute("INSERT INTO t VALUES(randomblob(3000))", []).err())
            .expect("the page cap should be hit");
        let e = StoreError::from(e);
        assert!(e.is_disk_full(), "{e:?}");
        assert_eq!(e.to_string(), message(None));
        let state = DiskState { path: PathBuf::from("/srv/verdict.db"), full: AtomicBool::new(false) };
        assert_eq!(
            state.locate(e).to_string(),
            "the disk holding /srv/verdict.db is full: writes are refused until space is freed (reads still work)"
        );
        let other = StoreError::from(conn.execute("INSERT INTO nope VALUES(1)", []).unwrap_err());
        assert!(!other.is_disk_full());
    }
}
