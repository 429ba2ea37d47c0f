//! The spool: a directory test rigs drop result files into; each is ingested exactly once
//! or set aside in `failed/` with a `.error` note saying why. Nothing is lost.
//!
//! A scanner thread lists the directory every `tick` (and sooner when `notify` reports a
//! change); a file becomes eligible once its size and mtime are unchanged across scans at
//! least `settle` apart (writers should write a dotfile or `*.tmp` and rename it in; names
//! starting with `.` or ending `.tmp`/`.part`/`.meta.json` are never picked up). Worker
//! threads ingest eligible files through the write queue, where concurrent files share
//! commits. After the commit, which also records the file's content hash, the file moves
//! to `done/` (or is deleted with `delete`); after a crash between commit and move, the
//! recorded hash makes the next attempt archive the file without storing it again.

use crate::formats::is_ignored_name;
use crate::model::Timestamp;
use crate::service::ingest::{
    DirContext, FileRef, IngestConfig, IngestError, Ingested, SpoolError, SpoolStatus, StartedIngest, start_ingest,
};
use crate::service::{WriteQueue, log_limit};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How a spool runs.
#[derive(Debug, Clone)]
pub struct SpoolOptions {
    pub dir: PathBuf,
    /// Delete ingested files instead of moving them to `done/`.
    pub delete: bool,
    /// A file must look unchanged for this long before it is read.
    pub settle: Duration,
    /// Directory scan interval (the fallback when change notifications are missed).
    pub tick: Duration,
    /// Files ingested concurrently (they share commits).
    pub workers: usize,
    pub ingest: IngestConfig,
}

/// Errors starting a spool.
#[derive(Debug, thiserror::Error)]
pub enum SpoolStartError {
    #[error("spool directory {dir}: {source}")]
    Dir { dir: PathBuf, source: std::io::Error },
}

/// A running spool; stops (after the files in progress) when dropped.
pub struct Spool {
    stop: Arc<AtomicBool>,
    pub status: Arc<Mutex<SpoolStatus>>,
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

const DONE: &str = "done";

/// Files one worker keeps waiting for their commit, and their most bytes.
const PIPELINE: usize = 64;
const PIPELINE_BYTES: u64 = 16 << 20;

/// How long a worker reads no new files after one failed because the disk is full.
const DISK_FULL_PAUSE: Duration = Duration::from_secs(1);

/// Shortest time between two scans.
const MIN_GAP: Duration = Duration::from_millis(100);
const FAILED: &str = "failed";
const SIDECAR_SUFFIX: &str = ".meta.json";

impl Spool {
    /// Creates the directory layout and starts the scanner and workers.
    /// Creates the spool directory and its `done/` and `failed/` (a server checks this
    /// before it opens its store, so a refused start creates no store).
    pub fn prepare_dirs(dir: &std::path::Path) -> Result<(), SpoolStartError> {
        for d in [dir.to_owned(), dir.join(DONE), dir.join(FAILED)] {
            std::fs::create_dir_all(&d).map_err(|source| SpoolStartError::Dir { dir: d.clone(), source })?;
        }
        Ok(())
    }

    pub fn start(opts: SpoolOptions, queue: WriteQueue) -> Result<Spool, SpoolStartError> {
        Self::prepare_dirs(&opts.dir)?;
        let status =
            Arc::new(Mutex::new(SpoolStatus { dir: opts.dir.display().to_string(), ..SpoolStatus::default() }));
        let stop = Arc::new(AtomicBool::new(false));
        let (work_tx, work_rx) = mpsc::channel::<Candidate>();
        let work_rx = Arc::new(Mutex::new(work_rx));
        let in_flight: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
        let opts = Arc::new(opts);
        for i in 0..opts.workers.max(1) {
            let worker = Worker {
                opts: opts.clone(),
                queue: queue.clone(),
                status: status.clone(),
                in_flight: in_flight.clone(),
                rx: work_rx.clone(),
                paused_until: std::cell::Cell::new(None),
            };
            spawn(&format!("verdict-spool-{i}"), move || worker.run())?;
        }
        let scanner =
            Scanner { opts, status: status.clone(), stop: stop.clone(), in_flight, seen: HashMap::new(), tx: work_tx };
        spawn("verdict-spool-scan", move || scanner.run())?;
        Ok(Spool { stop, status })
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), SpoolStartError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map(|_| ())
        .map_err(|source| SpoolStartError::Dir { dir: PathBuf::from(name), source })
}

/// A file ready to ingest.
#[derive(Debug, Clone)]
struct Candidate {
    path: PathBuf,
    /// Path relative to the spool, `/`-separated.
    rel: String,
    sidecar: Option<PathBuf>,
    /// Size at the last scan (bounds the bytes a worker holds).
    len: u64,
}

/// What a file looked like at a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Look {
    len: u64,
    mtime: Option<SystemTime>,
    sidecar: Option<(u64, Option<SystemTime>)>,
}

struct Scanner {
    opts: Arc<SpoolOptions>,
    status: Arc<Mutex<SpoolStatus>>,
    stop: Arc<AtomicBool>,
    in_flight: Arc<Mutex<HashSet<PathBuf>>>,
    /// Last look at each file and since when it has looked like that.
    seen: HashMap<PathBuf, (Look, Instant)>,
    tx: mpsc::Sender<Candidate>,
}

impl Scanner {
    fn run(mut self) {
        let (wake_tx, wake_rx) = mpsc::channel::<()>();
        // Change notifications make new files show up sooner; the periodic scan catches
        // anything they miss (network file systems, overflows, files present at start).
        let _watcher = watch(&self.opts.dir, wake_tx);
        while !self.stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            self.scan();
            let _ = wake_rx.recv_timeout(self.opts.tick);
            // A burst of events (thousands of files renamed in) makes one scan, and scans
            // are at least MIN_GAP apart so listing a big directory cannot eat a core.
            std::thread::sleep(MIN_GAP.saturating_sub(started.elapsed()));
            while wake_rx.try_recv().is_ok() {}
        }
    }

    fn scan(&mut self) {
        let mut files = Vec::new();
        let mut sidecars = HashSet::new();
        list(&self.opts.dir, &self.opts.dir, &mut files, &mut sidecars);
        let now = Instant::now();
        let in_flight = self.in_flight.lock().map(|s| s.clone()).unwrap_or_default();
        let mut next_seen = HashMap::with_capacity(files.len());
        let mut pending = 0;
        for (path, rel) in files {
            if in_flight.contains(&path) {
                continue;
            }
            let sidecar = sidecar_path(&path).filter(|s| sidecars.contains(s));
            let Some(look) = look(&path, sidecar.as_deref()) else { continue };
            let since = match self.seen.get(&path) {
                Some((prev, since)) if *prev == look => *since,
                _ => now,
            };
            let settled = now.duration_since(since) >= self.opts.settle && !modified_within(&look, self.opts.settle);
            if settled {
                if let Ok(mut f) = self.in_flight.lock() {
                    f.insert(path.clone());
                }
                let _ = self.tx.send(Candidate { path: path.clone(), rel, sidecar, len: look.len });
            } else {
                pending += 1;
                next_seen.insert(path, (look, since));
            }
        }
        self.seen = next_seen;
        if let Ok(mut s) = self.status.lock() {
            s.pending = pending;
            s.in_progress = self.in_flight.lock().map(|f| f.len()).unwrap_or(0);
            s.last_scan = Some(Timestamp::now().to_iso());
        }
    }
}

fn watch(dir: &Path, wake: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut w = match notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
        let _ = wake.send(());
    }) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "spool: no change notifications; relying on periodic scans");
            return None;
        }
    };
    if let Err(e) = w.watch(dir, notify::RecursiveMode::Recursive) {
        tracing::warn!(error = %e, "spool: cannot watch the directory; relying on periodic scans");
        return None;
    }
    Some(w)
}

/// Result files under `dir` (recursively), except `done/`, `failed/`, sidecars and names
/// that are still being written; sidecars are collected apart.
fn list(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>, sidecars: &mut HashSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            if dir == root && (name == DONE || name == FAILED) || name.starts_with('.') {
                continue;
            }
            list(root, &path, out, sidecars);
        } else if name.ends_with(SIDECAR_SUFFIX) {
            sidecars.insert(path);
        } else if kind.is_file() && !is_ignored_name(&name) {
            let rel = path.strip_prefix(root).map(|r| r.to_string_lossy().replace('\\', "/")).unwrap_or(name);
            out.push((path, rel));
        }
    }
}

/// Where a file's sidecar would be.
fn sidecar_path(path: &Path) -> Option<PathBuf> {
    let mut s = path.as_os_str().to_owned();
    s.push(SIDECAR_SUFFIX);
    Some(PathBuf::from(s))
}

fn look(path: &Path, sidecar: Option<&Path>) -> Option<Look> {
    let m = std::fs::metadata(path).ok()?;
    let sidecar = sidecar.and_then(|s| std::fs::metadata(s).ok()).map(|m| (m.len(), m.modified().ok()));
    Some(Look { len: m.len(), mtime: m.modified().ok(), sidecar })
}

/// Whether the file (or its sidecar) was modified less than `d` ago.
fn modified_within(look: &Look, d: Duration) -> bool {
    let recent = |t: Option<SystemTime>| t.and_then(|t| t.elapsed().ok()).is_some_and(|age| age < d);
    recent(look.mtime) || look.sidecar.is_some_and(|(_, t)| recent(t))
}

/// `<type>/<item>/<file>`: the directory names (percent-decoded) say what was tested.
pub fn dir_context(rel: &str) -> DirContext {
    let parts: Vec<&str> = rel.split('/').collect();
    if parts.len() < 3 {
        return DirContext::default();
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    DirContext { item_type: Some(decode(parts[0])), item: Some(decode(parts[1])) }
}

struct Worker {
    opts: Arc<SpoolOptions>,
    queue: WriteQueue,
    status: Arc<Mutex<SpoolStatus>>,
    in_flight: Arc<Mutex<HashSet<PathBuf>>>,
    rx: Arc<Mutex<mpsc::Receiver<Candidate>>>,
    /// After a disk-full failure: read no more files until then.
    paused_until: std::cell::Cell<Option<Instant>>,
}

/// What a worker found when it asked for the next file.
enum Next {
    File(Candidate),
    /// Nothing ready now (or another worker is waiting for the next file).
    Nothing,
    /// The scanner has stopped.
    Closed,
}

impl Worker {
    /// Parses files and queues their results, keeping up to `PIPELINE` files waiting for
    /// their commit: files share commits, and each commit rewrites the index pages it
    /// touches, so more files per commit means fewer page writes and fsyncs per file.
    fn run(self) {
        let mut waiting: VecDeque<(Candidate, Result<StartedIngest, IngestError>)> = VecDeque::new();
        loop {
            let held: u64 = waiting.iter().map(|(c, _)| c.len).sum();
            let full = waiting.len() >= PIPELINE || held >= PIPELINE_BYTES;
            let paused = self.paused_until.get().and_then(|t| t.checked_duration_since(Instant::now()));
            let next = if full || paused.is_some() { Next::Nothing } else { self.next(waiting.is_empty()) };
            match next {
                Next::File(c) => {
                    let started = start_ingest(&self.queue, &self.file_ref(&c), &self.opts.ingest);
                    waiting.push_back((c, started));
                }
                Next::Nothing => {
                    if let Some((c, started)) = waiting.pop_front() {
                        self.finish(&c, started.and_then(StartedIngest::wait));
                    } else if let Some(rest) = paused {
                        std::thread::sleep(rest);
                    }
                }
                Next::Closed => {
                    for (c, started) in waiting.drain(..) {
                        self.finish(&c, started.and_then(StartedIngest::wait));
                    }
                    return;
                }
            }
        }
    }

    /// The next file; waits for one only if `block`. A worker with files waiting for
    /// commits never queues behind another worker's blocking wait for the channel.
    fn next(&self, block: bool) -> Next {
        let rx = if block {
            match self.rx.lock() {
                Ok(rx) => rx,
                Err(_) => return Next::Closed,
            }
        } else {
            match self.rx.try_lock() {
                Ok(rx) => rx,
                Err(std::sync::TryLockError::WouldBlock) => return Next::Nothing,
                Err(std::sync::TryLockError::Poisoned(_)) => return Next::Closed,
            }
        };
        let got = if block { rx.recv().map_err(|_| mpsc::TryRecvError::Disconnected) } else { rx.try_recv() };
        match got {
            Ok(c) => Next::File(c),
            Err(mpsc::TryRecvError::Empty) => Next::Nothing,
            Err(mpsc::TryRecvError::Disconnected) => Next::Closed,
        }
    }

    fn file_ref<'a>(&self, c: &'a Candidate) -> FileRef<'a> {
        FileRef { path: &c.path, name: &c.rel, dir: dir_context(&c.rel), sidecar: c.sidecar.as_deref() }
    }

    /// Archives, quarantines or leaves a file for a retry once its fate is known.
    fn finish(&self, c: &Candidate, outcome: Result<Ingested, IngestError>) {
        self.handle(c, outcome);
        if let Ok(mut f) = self.in_flight.lock() {
            f.remove(&c.path);
        }
    }

    fn handle(&self, c: &Candidate, outcome: Result<Ingested, IngestError>) {
        match outcome {
            Ok(outcome) => {
                if let Err(e) = self.archive(c) {
                    self.note_error(&c.rel, &format!("stored, but could not archive: {e}"));
                }
                self.update(|s| match outcome {
                    Ingested::Stored { results, .. } => {
                        s.done += 1;
                        s.results += results as u64;
                    }
                    Ingested::AlreadyIngested => s.duplicates += 1,
                });
            }
            // The store or writer failed: the file stays and is retried on a later scan.
            Err(e) if e.disk_full => self.disk_full(&c.rel, &e.message),
            Err(e) if e.transient => self.note_error(&c.rel, &e.message),
            Err(e) => {
                if let Err(io) = self.quarantine(c, &e) {
                    if io.kind() == std::io::ErrorKind::StorageFull {
                        let why = format!("refused ({}); it stays until space is freed for failed/: {io}", e.message);
                        return self.disk_full(&c.rel, &why);
                    }
                    self.note_error(
                        &c.rel,
                        &format!("refused ({}), and could not move it to failed/: {io}", e.message),
                    );
                    return;
                }
                self.note_error(&c.rel, &e.message);
                self.update(|s| s.failed += 1);
            }
        }
    }

    fn update(&self, f: impl FnOnce(&mut SpoolStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    fn note_error(&self, file: &str, message: &str) {
        tracing::warn!(%file, %message, "spool");
        self.set_last_error(file, message);
    }

    fn set_last_error(&self, file: &str, message: &str) {
        let err = SpoolError { file: file.to_owned(), message: message.to_owned(), at: Timestamp::now().to_iso() };
        self.update(|s| s.last_error = Some(err));
    }

    /// A file left in place because the disk is full: every file would say the same, so
    /// the log gets one line per window, and this worker pauses before reading more.
    fn disk_full(&self, file: &str, message: &str) {
        if let Some(r) = log_limit::allow("spool: disk full") {
            tracing::warn!(%file, "spool: {message}; files stay in the spool{r}");
        }
        self.set_last_error(file, message);
        self.paused_until.set(Some(Instant::now() + DISK_FULL_PAUSE));
    }

    /// Moves (or deletes) an ingested file and its sidecar. The file goes first: its
    /// hash covers the sidecar, so a crash in between re-finds it as already ingested.
    fn archive(&self, c: &Candidate) -> std::io::Result<()> {
        if self.opts.delete {
            std::fs::remove_file(&c.path)?;
            if let Some(s) = &c.sidecar {
                std::fs::remove_file(s)?;
            }
            return Ok(());
        }
        move_with_sidecar(c, &free_name(&self.opts.dir.join(DONE).join(&c.rel)))
    }

    /// Moves a refused file (and sidecar) to `failed/` with `NAME.error` beside it.
    fn quarantine(&self, c: &Candidate, e: &IngestError) -> std::io::Result<()> {
        let target = free_name(&self.opts.dir.join(FAILED).join(&c.rel));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let note = serde_json::json!({
            "file": c.rel, "format": e.format, "line": e.line, "record": e.record, "message": e.message,
        });
        let mut error_path = target.clone().into_os_string();
        error_path.push(".error");
        std::fs::write(&error_path, format!("{note:#}\n"))?;
        move_with_sidecar(c, &target)
    }
}

/// Moves a candidate to `target` and its sidecar beside it. The file goes first: its hash
/// covers the sidecar, so a crash in between re-finds it as already ingested.
fn move_with_sidecar(c: &Candidate, target: &Path) -> std::io::Result<()> {
    move_file(&c.path, target)?;
    if let Some(s) = &c.sidecar {
        let mut st = target.as_os_str().to_owned();
        st.push(SIDECAR_SUFFIX);
        move_file(s, Path::new(&st))?;
    }
    Ok(())
}

/// `path`, or `path.N` for the first N that does not exist yet (archives never overwrite).
fn free_name(path: &Path) -> PathBuf {
    if !path.exists() {
        return path.to_owned();
    }
    (1..)
        .map(|n| {
            let mut p = path.as_os_str().to_owned();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        })
        .find(|p| !p.exists())
        .unwrap_or_else(|| path.to_owned())
}

fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(from, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_give_type_and_item() {
        assert_eq!(dir_context("x.xml"), DirContext::default());
        assert_eq!(dir_context("koji_build/a.xml"), DirContext::default());
        assert_eq!(
            dir_context("koji_build/foo-1.0%2F2-1.fc40/sub/a.xml"),
            DirContext { item_type: Some("koji_build".into()), item: Some("foo-1.0/2-1.fc40".into()) }
        );
    }
}
