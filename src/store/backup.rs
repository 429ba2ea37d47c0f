//! Backups of the one-file store: `VACUUM INTO` a new file from one read transaction (a
//! consistent snapshot, taken while the server goes on writing), and restoring a backup
//! into place. Both write a temporary file beside the target, fsync it and rename it, so a
//! crash leaves either nothing or the whole file; neither ever overwrites a file.

use super::{StoreError, open_ro};
use std::path::{Path, PathBuf};

/// Why a path cannot take a backup or a restored store.
fn refuse(path: &Path, reason: &str) -> StoreError {
    StoreError::Open { path: path.to_owned(), reason: reason.to_owned() }
}

/// `path` with `.part` appended: where the file is written before it is renamed.
fn part_of(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".part");
    PathBuf::from(p)
}

/// Makes the file at `part` durable and moves it to `to` (then makes the rename durable).
fn settle(part: &Path, to: &Path) -> Result<u64, StoreError> {
    let io = |e: std::io::Error| refuse(to, &e.to_string());
    let file = std::fs::OpenOptions::new().read(true).write(true).open(part).map_err(io)?;
    file.sync_all().map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    std::fs::rename(part, to).map_err(io)?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(bytes)
}

/// Refuses an existing target (a backup never overwrites) and a leftover `.part`.
fn check_target(to: &Path) -> Result<PathBuf, StoreError> {
    if to.exists() {
        return Err(refuse(to, "it exists: choose a new file (a backup or restore never overwrites one)"));
    }
    let part = part_of(to);
    if part.exists() {
        return Err(refuse(&part, "a leftover of an interrupted backup or restore: remove it first"));
    }
    Ok(part)
}

/// Copies the store at `from` (read as an immutable file when `immutable`) into a new file
/// `to`, compacted, from one consistent snapshot. Returns the copy's size in bytes.
pub(super) fn backup(from: &Path, immutable: bool, to: &Path) -> Result<u64, StoreError> {
    let part = check_target(to)?;
    let conn = open_ro(from, immutable)?;
    let target = part.to_str().ok_or_else(|| refuse(to, "the path is not valid UTF-8"))?;
    if let Err(e) = conn.execute("VACUUM INTO ?1", [target]) {
        let _ = std::fs::remove_file(&part);
        return Err(refuse(to, &format!("writing the backup failed: {e}")));
    }
    settle(&part, to)
}

/// Puts the backup `from` in place as the store `to` (which must not exist). The caller
/// checks the backup first. Returns the store's size in bytes.
pub(super) fn restore(from: &Path, to: &Path) -> Result<u64, StoreError> {
    let part = check_target(to)?;
    if let Err(e) = std::fs::copy(from, &part) {
        let _ = std::fs::remove_file(&part);
        return Err(refuse(to, &format!("copying {} failed: {e}", from.display())));
    }
    settle(&part, to)
}
