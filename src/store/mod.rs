//! The one-file store: SQLite (WAL, `synchronous=FULL`) holding the log and derived indexes.
//!
//! This is the only module that speaks SQL. Its interface is narrow on purpose — open a
//! store, get the one [`Writer`] or any number of [`Reader`]s — so the engine stays
//! replaceable.

mod api;
mod backup;
mod codec;
mod disk;
mod facets;
mod insight;
mod paths;
pub mod pg;
mod plan;
mod pruned;
mod quarantines;
mod reader;
mod schema;
mod writer;

pub use api::{Backend, Housekeeping, ReadStore, WriteStore, snapshot, transaction};
pub use codec::{Prepared, SharedDict};
pub use disk::{DiskState, RESUME_FREE, free_bytes};
pub use insight::{FailureRow, KeyFilter, RunKey, RunRange, RunRow};
pub use reader::{OriginHead, Reader, Stats, WaiverKeys};
pub use writer::{ImportOutcome, PruneStep, Writer, Written};

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// PostgreSQL refused a statement or cannot be reached (the server's message).
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// A write found no space on the disk holding the store (`SQLITE_FULL`, or an I/O
    /// error while the file system is out of space). `path`: the store, where known.
    #[error("{}", disk::message(path.as_deref()))]
    DiskFull { path: Option<PathBuf> },
    #[error("cannot open store {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("log entry {seq} is unreadable: {reason}")]
    Corrupt { seq: i64, reason: String },
    #[error("entry {origin}#{origin_seq} refused: {reason}")]
    Refused { origin: String, origin_seq: u64, reason: String },
    /// A transaction's body failed and everything it wrote was rolled back (the body's own
    /// error is what [`transaction`] returns; this only marks the rollback).
    #[error("the transaction was rolled back")]
    RolledBack,
    /// A store of an older schema opened read-only lacks what this read needs.
    #[error(
        "the store predates this version of verdict: open it once with a writing command (serve, submit) to upgrade it"
    )]
    Outdated,
}

impl From<rusqlite::Error> for StoreError {
    /// Classifies SQLite's errors: a full disk is its own variant (HTTP 507, a spool file
    /// kept for a retry), everything else stays a database error.
    fn from(e: rusqlite::Error) -> Self {
        if disk::is_full_error(&e) { StoreError::DiskFull { path: None } } else { StoreError::Sqlite(e) }
    }
}

impl From<tokio_postgres::Error> for StoreError {
    /// PostgreSQL's "disk full" (SQLSTATE 53100) is the same condition as SQLite's.
    fn from(e: tokio_postgres::Error) -> Self {
        if e.code() == Some(&tokio_postgres::error::SqlState::DISK_FULL) {
            StoreError::DiskFull { path: None }
        } else {
            StoreError::Postgres(pg::describe(&e))
        }
    }
}

impl StoreError {
    /// Whether this is the disk being full (writes are refused until space is freed).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::DiskFull { .. })
    }
}

/// How long a connection waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a writer waiting for the lock tries again. SQLite's own busy handler sleeps
/// ever longer (up to 100 ms a try), so a writer that frees the lock for a moment between
/// chunks (`verdict submit` beside a server) could keep it from a waiting server for
/// seconds; trying every millisecond takes the next free moment.
const BUSY_RETRY: Duration = Duration::from_millis(1);

/// Opens the store `db` names, creating it on first use: a PostgreSQL database for a
/// `postgres://` URL (schema created or migrated), else the SQLite file at that path.
pub fn open(db: &Path) -> Result<Arc<dyn Backend>, StoreError> {
    if pg::is_url(db) {
        return Ok(Arc::new(pg::PgStore::open(&db.to_string_lossy())?));
    }
    Ok(Arc::new(Store::open(db)?))
}

/// [`open`], with reads sent to the PostgreSQL database at `read` (a streaming replica
/// of `db`) when given; only a PostgreSQL store can read elsewhere.
pub fn open_reading_from(db: &Path, read: Option<&str>) -> Result<Arc<dyn Backend>, StoreError> {
    let Some(read) = read else { return open(db) };
    if !pg::is_url(db) || !pg::is_url(Path::new(read)) {
        return Err(StoreError::Open {
            path: db.to_owned(),
            reason: "--db-read sends reads to a PostgreSQL replica: both --db and --db-read must be postgres:// URLs"
                .into(),
        });
    }
    Ok(Arc::new(pg::PgStore::open(&db.to_string_lossy())?.with_reads_from(read)?))
}

/// Creates an empty store at `db` (a file, or a PostgreSQL database with no log entries)
/// carrying the node id `node_id` (`replay`: the rebuilt store is the same node).
pub fn create_with_node_id(db: &Path, node_id: &str) -> Result<Arc<dyn Backend>, StoreError> {
    if pg::is_url(db) {
        return Ok(Arc::new(pg::PgStore::create_with_node_id(&db.to_string_lossy(), node_id)?));
    }
    Ok(Arc::new(Store::create_with_node_id(db, node_id)?))
}

/// Opens an existing store for reading (see [`Store::open_existing`]); a PostgreSQL
/// database must already hold verdict's schema of this build.
pub fn open_existing(db: &Path) -> Result<Arc<dyn Backend>, StoreError> {
    if pg::is_url(db) {
        return Ok(Arc::new(pg::PgStore::open_existing(&db.to_string_lossy())?));
    }
    Ok(Arc::new(Store::open_existing(db)?))
}

/// An opened store: its file and its node id. Connections are made on demand.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
    node_id: String,
    disk: Arc<DiskState>,
    /// Read as an immutable file: SQLite cannot make the `-shm` file a WAL reader needs
    /// (a read-only directory) and no WAL holds newer data (see [`Store::open_existing`]).
    immutable: bool,
}

/// Turns an SQLite error met while opening `path` into one naming the path and the cause.
fn opening(path: &Path, access: paths::Access) -> impl Fn(StoreError) -> StoreError + '_ {
    move |e| match e {
        StoreError::Sqlite(e) => StoreError::Open { path: path.to_owned(), reason: paths::explain(path, access, &e) },
        other => other,
    }
}

impl Store {
    /// Opens the store at `path`, creating the file, schema and node id on first use. A
    /// path that cannot work (a directory, a read-only file, a missing or read-only
    /// directory) is refused before anything is created, with the reason.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        paths::check(path, paths::Access::Write)
            .map_err(|reason| StoreError::Open { path: path.to_owned(), reason })?;
        refuse_foreign(path)?;
        let conn = open_rw(path)?;
        let node_id = (|| {
            conn.execute_batch(schema::SCHEMA)?;
            ensure_meta(&conn)
        })()
        .map_err(opening(path, paths::Access::Write))?;
        let store = Store::new(path, node_id, false);
        let version = schema_version(&conn)?;
        if version != schema::SCHEMA_VERSION {
            tracing::info!(path = %path.display(), "upgrading the store to schema version {}", schema::SCHEMA_VERSION);
            let mut writer = store.writer()?;
            if version == "1" {
                writer.upgrade_from_1()?;
            }
            if version == "1" || version == "2" {
                writer.upgrade_from_2()?;
            }
            if ["1", "2", "3"].contains(&version.as_str()) {
                writer.upgrade_from_3()?;
            }
            if ["1", "2", "3", "4"].contains(&version.as_str()) {
                writer.upgrade_from_4()?;
            }
            writer.upgrade_from_5()?;
        }
        Ok(store)
    }

    /// Creates a new store at `path` that will carry the given node id (used by `replay`,
    /// which rebuilds a node's store: the rebuilt one is the same node). Refuses an
    /// existing non-empty store.
    pub fn create_with_node_id(path: &Path, node_id: &str) -> Result<Store, StoreError> {
        paths::check(path, paths::Access::Write)
            .map_err(|reason| StoreError::Open { path: path.to_owned(), reason })?;
        refuse_foreign(path)?;
        let conn = open_rw(path)?;
        conn.execute_batch(schema::SCHEMA)?;
        let entries: i64 = conn.query_row("SELECT count(*) FROM log", [], |r| r.get(0))?;
        if entries > 0 {
            return Err(StoreError::Open { path: path.to_owned(), reason: "it already holds log entries".into() });
        }
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('node_id', ?1)", [node_id])?;
        let node_id = ensure_meta(&conn)?;
        Ok(Store::new(path, node_id, false))
    }

    /// Opens an existing store for reading without creating or changing anything: a
    /// read-only file works, and so does a store in a directory this user may not write
    /// while no `-wal` file holds newer data (it is then read as an immutable file; SQLite
    /// could not make the `-shm` file a WAL reader needs).
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        paths::check(path, paths::Access::Read).map_err(|reason| StoreError::Open { path: path.to_owned(), reason })?;
        let node_id = match read_node_id(path, false) {
            Err(StoreError::Sqlite(e)) if needs_shm(&e) && !wal_has_data(path) => {
                let node_id = read_node_id(path, true).map_err(opening(path, paths::Access::Read))?;
                return Ok(Store::new(path, node_id, true));
            }
            other => other.map_err(opening(path, paths::Access::Read))?,
        };
        Ok(Store::new(path, node_id, false))
    }

    fn new(path: &Path, node_id: String, immutable: bool) -> Store {
        Store { path: path.to_owned(), node_id, disk: Arc::new(DiskState::new(path)), immutable }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the disk holding the store is full (writes are then refused).
    pub fn disk(&self) -> &DiskState {
        &self.disk
    }

    /// This store's node id (32 hex chars), made at creation.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The writer. Only one should exist per process; SQLite serialises writers across
    /// processes, and the writer re-reads chain heads inside each transaction.
    pub fn writer(&self) -> Result<Writer, StoreError> {
        Writer::new(open_rw(&self.path)?, self.node_id.clone(), self.disk.clone())
    }

    /// Copies committed WAL frames into the database file without blocking anyone
    /// (`PASSIVE`). Writers never checkpoint themselves, so a commit's latency never includes
    /// one; the server calls this from its own thread, `submit` once at the end.
    pub fn checkpointer(&self) -> Result<Checkpointer, StoreError> {
        Ok(Checkpointer { conn: open_rw(&self.path)?, disk: self.disk.clone() })
    }

    /// Puts the backup file `from` in place as a new store at `to` (never over an existing
    /// file). Check the backup first (open it with [`Store::open_existing`] and verify).
    pub fn restore(from: &Path, to: &Path) -> Result<u64, StoreError> {
        backup::restore(from, to)
    }

    /// A read-only connection for queries.
    pub fn reader(&self) -> Result<Reader, StoreError> {
        let conn = open_ro(&self.path, self.immutable)?;
        // Reads of a large store benefit from a bigger page cache and memory mapping.
        // Random reads of bodies, postings and waivers are page reads: map the file rather
        // than pread each page (decisions: measured in BENCHMARKS.md). Mapped pages are the
        // OS page cache, shared, but counted in the process RSS.
        conn.execute_batch(&format!("PRAGMA cache_size = -8192; PRAGMA mmap_size = {MMAP_BYTES};"))?;
        rusqlite::vtab::array::load_module(&conn)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Reader::new(conn))
    }
}

impl Backend for Store {
    fn node_id(&self) -> &str {
        &self.node_id
    }

    fn location(&self) -> &Path {
        &self.path
    }

    fn backup(&self, to: &Path) -> Result<u64, StoreError> {
        backup::backup(&self.path, self.immutable, to)
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.disk.is_full() { Err(self.disk.error()) } else { Ok(()) }
    }

    fn reader(&self) -> Result<Box<dyn ReadStore>, StoreError> {
        Ok(Box::new(Store::reader(self)?))
    }

    fn writer(&self) -> Result<Box<dyn WriteStore>, StoreError> {
        Ok(Box::new(Store::writer(self)?))
    }

    fn housekeeping(&self) -> Result<Box<dyn Housekeeping>, StoreError> {
        Ok(Box::new(self.checkpointer()?))
    }

    fn size_bytes(&self) -> (i64, i64) {
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| i64::try_from(m.len()).unwrap_or(i64::MAX));
        (size(&self.path), size(&wal_path(&self.path)))
    }
}

impl Housekeeping for Checkpointer {
    fn checkpoint(&self) -> Result<(), StoreError> {
        self.run()
    }

    fn disk_full(&self) -> bool {
        self.disk.is_full()
    }

    fn recover(&self) -> bool {
        Checkpointer::recover(self)
    }

    fn full_error(&self) -> StoreError {
        self.disk.error()
    }
}

/// A connection that only checkpoints the WAL (see [`Store::checkpointer`]).
pub struct Checkpointer {
    conn: Connection,
    disk: Arc<DiskState>,
}

impl Checkpointer {
    /// A passive checkpoint: copies committed frames back into the database file without
    /// waiting for anyone. The writer restarts the WAL itself (see `Writer::tend_wal`).
    pub fn run(&self) -> Result<(), StoreError> {
        self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).map_err(|e| self.disk.locate(e.into()))
    }

    /// While the disk is full: tries to give the WAL's space back and to mark the store
    /// writable again (see `DiskState::recover`). Returns whether it is writable.
    pub fn recover(&self) -> bool {
        self.disk.recover(&self.conn, Duration::from_secs(1))
    }

    pub fn disk(&self) -> &DiskState {
        &self.disk
    }
}

/// A read-only connection; `immutable`: without locks or `-shm` (see [`Store::open_existing`]).
fn open_ro(path: &Path, immutable: bool) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if immutable {
        Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI)?
    } else {
        Connection::open_with_flags(path, flags)?
    };
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// The store's node id, read on a fresh read-only connection.
fn read_node_id(path: &Path, immutable: bool) -> Result<String, StoreError> {
    let conn = open_ro(path, immutable)?;
    let node_id: Option<String> = match conn.query_row("SELECT value FROM meta WHERE key = 'node_id'", [], |r| r.get(0))
    {
        Ok(v) => Some(v),
        Err(rusqlite::Error::QueryReturnedNoRows) => None,
        Err(rusqlite::Error::SqliteFailure(_, Some(msg))) if msg.starts_with("no such table") => None,
        Err(e) => return Err(e.into()),
    };
    node_id.ok_or_else(|| StoreError::Open {
        path: path.to_owned(),
        reason: "not a verdict store (an SQLite database without verdict's tables): check --db".into(),
    })
}

/// Whether a read-only open failed only because SQLite could not create the `-shm` file.
fn needs_shm(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen))
}

/// The store's write-ahead log file, beside the database file.
pub fn wal_path(db: &Path) -> PathBuf {
    paths::sibling(db, "-wal")
}

/// Whether the store's `-wal` file exists and is not empty (it may hold commits the
/// database file lacks, which an immutable read would miss).
fn wal_has_data(path: &Path) -> bool {
    std::fs::metadata(wal_path(path)).map(|m| m.len() > 0).unwrap_or(false)
}

/// `file:` URI of `path` with `immutable=1` (characters URIs reserve are escaped).
fn immutable_uri(path: &Path) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    let text = path.to_string_lossy();
    format!("file:{}?immutable=1", percent_encoding::utf8_percent_encode(&text, KEEP))
}

/// Refuses a file that is not a verdict store before anything writes to it: not an
/// SQLite database, or another program's database (verdict's WAL mode and schema would
/// change it). Read on a read-only connection, which changes nothing.
fn refuse_foreign(path: &Path) -> Result<(), StoreError> {
    if std::fs::metadata(path).map(|m| m.len() == 0).unwrap_or(true) {
        return Ok(());
    }
    let tables = || -> Result<(i64, i64), StoreError> {
        Ok(open_ro(path, false)?.query_row(
            "SELECT count(*), count(*) FILTER (WHERE name = 'meta') FROM sqlite_master WHERE type = 'table'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    };
    let (tables, meta) = tables().map_err(opening(path, paths::Access::Write))?;
    if tables > 0 && meta == 0 {
        return Err(StoreError::Open {
            path: path.to_owned(),
            reason: "not a verdict store (an SQLite database without verdict's tables): check --db".into(),
        });
    }
    Ok(())
}

fn open_rw(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Open { path: path.to_owned(), reason: paths::explain(path, paths::Access::Write, &e) })?;
    conn.busy_handler(Some(wait_for_lock))?;

    // WAL: readers never block the writer. synchronous=FULL: a commit is on disk (fsync of
    // the WAL) before it returns, so an acknowledged write survives power loss.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(|e| StoreError::Open {
        path: path.to_owned(),
        reason: paths::explain(path, paths::Access::Write, &e),
    })?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Open {
            path: path.to_owned(),
            reason: format!("cannot enable WAL (journal_mode is {mode})"),
        });
    }
    // 48 MB page cache: the writer's hot index pages fit (a 1M-result store's indexes are
    // ~40 MB deep in the hot tails) and a 1M-testcase ingest stays under 100 MB RSS.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = OFF;
         PRAGMA cache_size = -{WRITER_CACHE_KIB};
         PRAGMA temp_store = MEMORY;
         PRAGMA wal_autocheckpoint = 0;
         PRAGMA mmap_size = {MMAP_BYTES};
",
    ))?;
    rusqlite::vtab::array::load_module(&conn)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn schema_version(conn: &Connection) -> Result<String, StoreError> {
    Ok(conn.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))?)
}

/// How much of the store file every connection maps (1 TiB: all of it). Pages are then
/// read straight from the OS page cache instead of copied with `pread` into each
/// connection's own cache — at 10M results (~5 GB) half the writer's time went to those
/// copies (issue 13, BENCHMARKS.md). Mapped pages are shared and evictable, not private
/// memory. SQLite caps this at its compile-time SQLITE_MAX_MMAP_SIZE, raised from 2 GiB in
/// `.cargo/config.toml`.
const MMAP_BYTES: i64 = 1 << 40;

/// The writer's page cache, in KiB (48 MiB; see `open_rw`).
const WRITER_CACHE_KIB: i64 = 49152;

/// The busy handler of write connections: retries every [`BUSY_RETRY`] for up to
/// [`BUSY_TIMEOUT`] (`count` is how many times it was called for this lock).
fn wait_for_lock(count: i32) -> bool {
    let limit = BUSY_TIMEOUT.as_millis() / BUSY_RETRY.as_millis().max(1);
    if u128::try_from(count).unwrap_or(0) >= limit {
        return false;
    }
    std::thread::sleep(BUSY_RETRY);
    true
}

/// Reads or creates the node id and schema version.
fn ensure_meta(conn: &Connection) -> Result<String, StoreError> {
    conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES('node_id', ?1)", [crate::log::new_node_id()])?;
    conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', ?1)", [schema::SCHEMA_VERSION])?;
    let version = schema_version(conn)?;
    // Versions 1 to 4 are upgraded by `Store::open` (see `Writer::upgrade_from_1` … `_4`).
    if version != schema::SCHEMA_VERSION && !["1", "2", "3", "4", "5"].contains(&version.as_str()) {
        return Err(StoreError::Open {
            path: PathBuf::from(conn.path().unwrap_or_default()),
            reason: format!("schema version {version} is not supported (this build reads {})", schema::SCHEMA_VERSION),
        });
    }
    Ok(conn.query_row("SELECT value FROM meta WHERE key = 'node_id'", [], |r| r.get(0))?)
}

/// The 16-byte key of a result uuid. Non-UUID text (only possible in foreign entries) is
/// hashed so it still gets a stable key.
fn uuid_key(uuid: &str) -> Vec<u8> {
    match uuid::Uuid::parse_str(uuid) {
        Ok(u) => u.as_bytes().to_vec(),
        Err(_) => blake3::hash(uuid.as_bytes()).as_bytes()[..16].to_vec(),
    }
}

/// Converts an API `:like` pattern to a case-sensitive SQLite GLOB: `*` and `%` match any
/// run, `_` one character; GLOB's own metacharacters are escaped. GLOB (unlike LIKE) is
/// case-sensitive, as upstream's production Postgres is, and can use the index on a prefix.
pub fn like_to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for ch in pattern.chars() {
        match ch {
            '*' | '%' => out.push('*'),
            '_' => out.push('?'),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_translation() {
        assert_eq!(like_to_glob("koschei*fc24%"), "koschei*fc24*");
        assert_eq!(like_to_glob("a_b?[c]"), "a?b[?][[]c]");
    }
}
