//! Peer replication: pulling change streams from peers (continuously for `serve --peer`,
//! once for `verdict sync`), air-gap bundles (`export`/`import`) and the chain `audit`.
//!
//! A pull asks a peer for what this store lacks (`since` = our version vector), verifies
//! every page completely (header positions against our chains, every chain link, count
//! and digest) and only then hands it to the writer, which imports the page in one
//! transaction (its own chain checks again; entries already held are skipped). Fetching
//! page n+1 overlaps importing page n. Nothing refused is ever merged.

mod audit;
mod bundle;
mod client;

pub use audit::{AuditReport, OriginAudit, Verdict, audit_bundle, audit_peer};
pub use bundle::{ExportSummary, export, import_bundle};
pub use client::{
    DEFAULT_MAX_PAGE_BYTES, DEFAULT_REQUEST_TIMEOUT_SECS, DEFAULT_TIMEOUT_SECS, PeerClient, PeerLimits, RemoteStream,
    system_roots,
};

use crate::log::stream::{StreamError, StreamHeader, StreamReader, VersionVector};
use crate::log::{Entry, Gap, Hash};
use crate::service::local::ReadOnly;
use crate::service::replication::{Counts, ReplicationState, Tips};
use crate::service::{Service, ServiceError};
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Errors of a pull, an import or an audit.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Refused(#[from] StreamError),
    /// The peer could not be reached, timed out or answered an error.
    #[error("peer {url}: {reason}")]
    Peer { url: String, reason: String },
    /// The peer broke a bound of the protocol (more entries or bytes than asked for).
    #[error("peer {url} {reason}")]
    Misbehaved { url: String, reason: String },
    #[error("peer {url} refused the peer token (401): set --peer-token / VERDICT_PEER_TOKEN to the token it expects")]
    Unauthorized { url: String },
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("the writer has stopped")]
    Stopped,
    #[error("{0}")]
    Bundle(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// How a pull runs.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Entries per page (one transaction each).
    pub page: u64,
    /// Ask for everything, not just what is missing (held entries are then skipped):
    /// a duplicate-suppression check and a repair tool.
    pub full: bool,
    /// Keep following the peer (long-polls of `wait` seconds) instead of stopping once
    /// caught up; ends only on an error or when `stop` is set.
    pub follow: bool,
    pub wait: u64,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions { page: 20_000, full: false, follow: false, wait: 5 }
    }
}

/// Progress after each verified page.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The peer's node id.
    pub peer_node: String,
    /// Entries received and verified so far.
    pub received: u64,
    /// Entries the peer held beyond what this store held or had received, at the last page.
    pub lag: u64,
    /// Imported so far (pages applied).
    pub counts: Counts,
}

/// What a completed one-shot pull did.
#[derive(Debug, Clone, Default)]
pub struct PullSummary {
    pub peer_node: String,
    pub received: u64,
    pub counts: Counts,
    pub pages: u64,
    pub elapsed: Duration,
}

/// Checks a page header's `since` positions against what this store holds (or will, once
/// the pages in flight are imported: `tips`).
fn check_since(header: &StreamHeader, tips: &Tips, reads: &ReadOnly) -> Result<(), PullError> {
    for (origin, p) in &header.since {
        let theirs = p.hash().ok_or_else(|| StreamError::Malformed(format!("header: hash of {origin} is not hex")))?;
        let (held, tip_hash) = tips.get(origin).copied().unwrap_or((0, Hash::GENESIS));
        let ours = if p.seq == held {
            Some(tip_hash)
        } else if p.seq < held {
            reads.hash_at(origin, p.seq)?
        } else {
            return Err(StreamError::Gap { origin: origin.clone(), start: p.seq, held }.into());
        };
        if ours.is_some_and(|h| h != theirs) {
            return Err(StreamError::Diverged { origin: origin.clone(), seq: p.seq }.into());
        }
    }
    // Where the peer holds no more of an origin than we do, its head must be on our chain
    // (else we are ahead on a fork it will never send us entries of).
    for (origin, p) in &header.heads {
        let held = tips.get(origin).map_or(0, |t| t.0);
        if p.seq <= held
            && let Some(ours) = reads.hash_at(origin, p.seq)?
            && Some(ours) != p.hash()
        {
            return Err(StreamError::Diverged { origin: origin.clone(), seq: p.seq }.into());
        }
    }
    Ok(())
}

/// Pulls from `client` into `service`'s store until caught up (or, with `follow`, until `stop`).
/// Each page is verified completely before it is imported; importing page n overlaps
/// fetching page n+1. On an error, pages already imported stay (each was verified and
/// committed whole); nothing of a refused page is kept.
pub fn pull(
    client: &PeerClient,
    service: &Service,
    opts: &PullOptions,
    stop: &AtomicBool,
    mut progress: impl FnMut(&Progress),
) -> Result<PullSummary, PullError> {
    let started = Instant::now();
    let reads = service.reads();
    let mut tips = reads.tips()?;
    let mut state = Progress::default();
    let mut pages = 0u64;
    let (page_tx, page_rx) = std::sync::mpsc::sync_channel::<(Vec<Gap>, Vec<(Entry, Hash)>)>(1);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<Counts>();
    std::thread::scope(|scope| {
        let applier = scope.spawn(move || -> Result<Counts, PullError> {
            let mut total = Counts::default();
            for (gaps, page) in page_rx {
                let c = service.import_page(gaps, page)?;
                total.add(c);
                let _ = done_tx.send(c);
            }
            Ok(total)
        });
        let fetched = (|| -> Result<(), PullError> {
            let mut caught_up = false;
            // What to ask for next: our version vector (or nothing held, for `full`),
            // advanced by every verified page.
            let mut cursor: VersionVector =
                if opts.full { VersionVector::new() } else { tips.iter().map(|(o, (s, _))| (o.clone(), *s)).collect() };
            loop {
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let wait = if opts.follow && caught_up { opts.wait } else { 0 };
                let mut stream = client.changes(&cursor, opts.page, wait)?;
                check_since(stream.header(), &tips, reads)?;
                // The page is bounded while it is read: in bytes by the stream's reader, in
                // entries here; a peer that sends more than asked is refused at once.
                let mut page = Vec::new();
                while let Some(e) = stream.next_verified().map_err(|e| client.stream_err(e))? {
                    if page.len() as u64 >= opts.page {
                        return Err(client.misbehaved(format!(
                            "sent more than the {} entries asked for (limit={}); refused the page, nothing of it was stored",
                            opts.page, opts.page
                        )));
                    }
                    page.push(e);
                }
                let more = stream.end().is_some_and(|e| e.more);
                // The page verified: advance the cursor and our expectation to its tips.
                for (origin, tip) in stream.tips() {
                    let c = cursor.entry(origin.clone()).or_insert(0);
                    *c = (*c).max(tip.0);
                    let held = tips.get(origin).map_or(0, |t| t.0);
                    if tip.0 > held {
                        tips.insert(origin.clone(), *tip);
                    }
                }
                let header = stream.header();
                state.peer_node = header.node.clone();
                state.received += page.len() as u64;
                state.lag =
                    header.heads.iter().map(|(o, p)| p.seq.saturating_sub(tips.get(o).map_or(0, |t| t.0))).sum();
                let gaps = stream.take_gaps();
                let sent = !page.is_empty() || !gaps.is_empty();
                if sent {
                    pages += 1;
                    page_tx.send((gaps, page)).map_err(|_| PullError::Stopped)?;
                }
                if sent && !more {
                    // Caught up: report once the last page is imported (no more to overlap).
                    state.counts.add(done_rx.recv().map_err(|_| PullError::Stopped)?);
                }
                while let Ok(c) = done_rx.try_recv() {
                    state.counts.add(c);
                }
                progress(&state);
                caught_up = !more;
                if caught_up && !opts.follow {
                    return Ok(());
                }
            }
        })();
        drop(page_tx);
        let applied = applier.join().map_err(|_| PullError::Stopped)?;
        // An import error explains a failed send better than the send error.
        let total = match (fetched, applied) {
            (_, Err(e)) => return Err(e),
            (Err(e), Ok(_)) => return Err(e),
            (Ok(()), Ok(total)) => total,
        };
        state.counts = total;
        progress(&state);
        Ok(PullSummary {
            peer_node: state.peer_node.clone(),
            received: state.received,
            counts: total,
            pages,
            elapsed: started.elapsed(),
        })
    })
}

/// `serve --peer`: one thread per peer pulls continuously, with exponential backoff
/// while the peer is unreachable or refused, resuming from the store's version vector.
pub struct Peers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Backoff bounds between failed pulls.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

impl Peers {
    pub fn start(
        urls: &[String],
        token: Option<String>,
        limits: PeerLimits,
        tls: Option<ureq::tls::TlsConfig>,
        service: Service,
        state: Arc<ReplicationState>,
        opts: PullOptions,
    ) -> Result<Peers, PullError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for url in urls {
            let client = PeerClient::new(url, token.clone(), limits, tls.clone());
            let index = state.add_peer(client.url());
            let (service, state, stop, opts) = (service.clone(), state.clone(), stop.clone(), opts.clone());
            let t = std::thread::Builder::new()
                .name(format!("verdict-peer-{index}"))
                .spawn(move || follow(&client, &service, &state, index, &opts, &stop))?;
            threads.push(t);
        }
        Ok(Peers { stop, threads })
    }

    /// Stops the pull loops and waits for them (at most one long-poll).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn now_iso() -> String {
    crate::model::Timestamp::now().to_iso()
}

fn follow(
    client: &PeerClient,
    service: &Service,
    state: &ReplicationState,
    index: usize,
    opts: &PullOptions,
    stop: &AtomicBool,
) {
    let opts = PullOptions { follow: true, ..opts.clone() };
    let mut backoff = BACKOFF_MIN;
    while !stop.load(Ordering::Relaxed) {
        let mut applied_before = Counts::default();
        let outcome = pull(client, service, &opts, stop, |p| {
            let delta = Counts {
                applied: p.counts.applied - applied_before.applied.min(p.counts.applied),
                skipped: p.counts.skipped - applied_before.skipped.min(p.counts.skipped),
            };
            applied_before = p.counts;
            let now = now_iso();
            state.update(index, |s| {
                s.node = Some(p.peer_node.clone());
                s.state = if p.lag == 0 { "in sync".into() } else { "catching up".into() };
                s.last_contact = Some(now.clone());
                s.last_success = Some(now);
                s.lag = Some(p.lag);
                s.applied += delta.applied;
                s.skipped += delta.skipped;
            });
            backoff = BACKOFF_MIN;
        });
        let Err(e) = outcome else { continue };
        let loud = matches!(e, PullError::Refused(_) | PullError::Misbehaved { .. });
        if loud {
            tracing::error!(peer = client.url(), error = %e, "replication refused entries from a peer; nothing of them was merged");
        } else {
            tracing::warn!(peer = client.url(), error = %e, retry_in = ?backoff, "pull from peer failed");
        }
        let now = now_iso();
        state.update(index, |s| {
            s.state = "error".into();
            s.last_error = Some(e.to_string());
            s.last_error_at = Some(now.clone());
            if !matches!(e, PullError::Peer { .. }) {
                s.last_contact = Some(now);
            }
        });
        // Sleep in slices so a shutdown is not held up.
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Reads a bundle or stream file, decompressing zstd if it starts with its magic number.
pub(crate) fn open_stream_file(path: &std::path::Path) -> Result<StreamReader<Box<dyn BufRead>>, PullError> {
    let mut f = BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?);
    let magic = f.fill_buf()?.get(..4).map(<[u8]>::to_vec).unwrap_or_default();
    let input: Box<dyn BufRead> = if magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Box::new(BufReader::with_capacity(256 * 1024, zstd::stream::Decoder::with_buffer(f)?))
    } else {
        Box::new(f.take(u64::MAX))
    };
    Ok(StreamReader::open(input)?)
}
