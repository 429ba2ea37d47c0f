//! Why a store file cannot be opened, in words that name the path and say what to do.
//!
//! SQLite's own errors ("unable to open database file", "disk I/O error", "attempt to
//! write a readonly database") name neither the file at fault nor the reason. [`check`]
//! runs before SQLite touches the path, so a refused open creates nothing (not even the
//! `-wal`/`-shm` files SQLite makes beside a store); [`explain`] words a failure SQLite
//! reports anyway.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// What a command needs of the store file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Reading commands: `query`, `stats`, `verify`, `export`, `audit`, `decide`, `replay`.
    Read,
    /// Writing commands: `serve`, `submit`, `ingest`, `import`, `sync` (they create a
    /// missing store).
    Write,
}

/// Checks that `path` can be opened for `access`; the error says what is wrong and what
/// to do.
pub(super) fn check(path: &Path, access: Access) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(format!(
            "it is a directory, not a store file: give --db a file path such as {}",
            path.join("verdict.db").display()
        )),
        Ok(_) if access == Access::Read => {
            if allowed(path, libc_mode::R) {
                Ok(())
            } else {
                Err("permission denied: this user may not read the file; fix its permissions or run as a user who may read it".into())
            }
        }
        Ok(_) => check_writable_file(path),
        Err(e) if e.kind() == ErrorKind::NotFound => match access {
            Access::Read => Err(
                "no such file: check --db (serve, submit, ingest, import and sync create a store on first use)".into(),
            ),
            Access::Write => check_creatable(path),
        },
        Err(e) if e.kind() == ErrorKind::PermissionDenied => Err(
            "permission denied: a directory on its path may not be searched by this user; fix the permissions or choose another --db".into(),
        ),
        Err(e) => Err(format!("cannot read its metadata: {e}")),
    }
}

/// An existing store a writer opens: the file must be writable, and SQLite must be able
/// to create (or write) its `-wal` and `-shm` files beside it.
fn check_writable_file(path: &Path) -> Result<(), String> {
    if !allowed(path, libc_mode::R | libc_mode::W) {
        return Err("permission denied: the file is read-only for this user, and this command writes to the store; \
             fix its permissions or run as its owner (reading commands such as query, stats and verify work on it)"
            .into());
    }
    let dir = parent(path);
    for companion in [sibling(path, "-wal"), sibling(path, "-shm")] {
        match std::fs::metadata(&companion) {
            Ok(_) if !allowed(&companion, libc_mode::R | libc_mode::W) => {
                return Err(format!(
                    "permission denied: {} is not writable for this user; fix its permissions or run as the store's owner",
                    companion.display()
                ));
            }
            Ok(_) => {}
            Err(_) if !allowed(&dir, libc_mode::W | libc_mode::X) => {
                return Err(format!(
                    "permission denied on directory {}: SQLite creates {} beside the store; make the directory writable for this user or move the store",
                    dir.display(),
                    companion.display()
                ));
            }
            Err(_) => {}
        }
    }
    Ok(())
}

/// A missing store a writer will create: its directory must exist and be writable.
fn check_creatable(path: &Path) -> Result<(), String> {
    let dir = parent(path);
    match std::fs::metadata(&dir) {
        Ok(m) if !m.is_dir() => Err(format!("{} is not a directory: choose another --db", dir.display())),
        Ok(_) if !allowed(&dir, libc_mode::W | libc_mode::X) => Err(format!(
            "permission denied on directory {}: cannot create the store there; choose a writable location for --db or fix the directory's permissions",
            dir.display()
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(format!(
            "directory {} does not exist: create it first (mkdir -p {}) or choose another --db",
            dir.display(),
            dir.display()
        )),
        Err(e) => Err(format!("cannot use directory {}: {e}", dir.display())),
    }
}

/// Words an error SQLite gave while opening or first reading the store.
pub(super) fn explain(path: &Path, access: Access, e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => "not a verdict store (the file is not an SQLite database): check --db".into(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => format!(
            "the store stayed locked by another process for {} s: retry when its writer is done",
            super::BUSY_TIMEOUT.as_secs()
        ),
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => match check(path, access) {
            Err(reason) => reason,
            Ok(()) => format!("SQLite cannot open it ({e}); check the file and its directory"),
        },
        _ => e.to_string(),
    }
}

/// `path`'s directory (`.` for a bare file name).
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `path` with `suffix` appended to its file name (`x.db` → `x.db-wal`).
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Access modes for [`allowed`].
mod libc_mode {
    pub const R: i32 = libc::R_OK;
    pub const W: i32 = libc::W_OK;
    pub const X: i32 = libc::X_OK;
}

/// Whether this process (its effective user) may access `path` in `mode`. When the
/// question cannot be asked, the answer is yes and SQLite's own error will tell.
#[cfg(unix)]
fn allowed(path: &Path, mode: i32) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return true };
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), mode, libc::AT_EACCESS) == 0 }
}

#[cfg(not(unix))]
fn allowed(_path: &Path, _mode: i32) -> bool {
    true
}
