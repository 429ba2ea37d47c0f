//! Replication commands: `sync`, `export`, `import`, `audit`, and `serve --peer` wiring.

use super::progress;
use crate::log::stream::{VersionVector, parse_vv};
use crate::replicate::{
    self, DEFAULT_MAX_PAGE_BYTES, DEFAULT_REQUEST_TIMEOUT_SECS, DEFAULT_TIMEOUT_SECS, PeerClient, PeerLimits,
    PullOptions, Verdict,
};
use crate::service::local::ReadOnly;
use crate::service::{Config, Service, redact};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The shared peer token and the bounds on what a peer may cost (`serve`, `sync`, `audit`).
#[derive(Debug, Args)]
pub struct PeerClientArgs {
    /// Shared peer token: required from peers pulling from this server, and sent when
    /// pulling from peers. A command line shows in `ps`: prefer the environment variable
    /// or --peer-token-file.
    #[arg(long, env = "VERDICT_PEER_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub peer_token: Option<String>,

    /// Read the peer token from FILE (its content, surrounding whitespace ignored).
    #[arg(long, env = "VERDICT_PEER_TOKEN_FILE", value_name = "FILE")]
    pub peer_token_file: Option<PathBuf>,

    /// Seconds a peer may stay silent (connecting, before answering, between reads) before
    /// the request fails; a long poll's wait is added.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECS, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub peer_timeout: u64,

    /// Seconds one request to a peer may take in all, its page included; a long poll's wait
    /// is added.
    #[arg(long, default_value_t = DEFAULT_REQUEST_TIMEOUT_SECS, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub peer_request_timeout: u64,

    /// Largest replication page in bytes (after decompression): asked of the peer, and a
    /// page past it is refused while it is read. Must exceed the largest entry.
    #[arg(long, default_value_t = DEFAULT_MAX_PAGE_BYTES, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(4096..))]
    pub peer_max_page_bytes: u64,

    /// For https peers: trust the CA (or self-signed) certificates in this PEM file instead
    /// of the system's roots.
    #[arg(long, env = "VERDICT_PEER_CA_CERT", value_name = "PEM")]
    pub peer_ca_cert: Option<PathBuf>,
}

impl PeerClientArgs {
    /// The peer token from `--peer-token`/`VERDICT_PEER_TOKEN` or from `--peer-token-file`.
    pub fn token(&self) -> Result<Option<String>> {
        let Some(path) = &self.peer_token_file else { return Ok(self.peer_token.clone()) };
        if self.peer_token.is_some() {
            bail!("give the peer token once: --peer-token (VERDICT_PEER_TOKEN) or --peer-token-file, not both");
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading the peer token file {}", path.display()))?;
        let token = text.trim();
        if token.is_empty() {
            bail!("the peer token file {} is empty: write the token into it", path.display());
        }
        if token.contains(char::is_whitespace) {
            bail!("the peer token file {} must hold the token alone (it contains whitespace)", path.display());
        }
        Ok(Some(token.to_owned()))
    }

    /// The TLS trust of `--peer-ca-cert` (`None`: the system's roots); a bad file is an error now.
    pub fn tls(&self) -> Result<Option<ureq::tls::TlsConfig>> {
        self.peer_ca_cert.as_deref().map(super::remote::trusting).transpose()
    }

    /// A client for the peer at `url` with these settings.
    pub fn client(&self, url: &str) -> Result<PeerClient> {
        Ok(PeerClient::new(url, self.token()?, self.limits(), self.tls()?))
    }

    pub fn limits(&self) -> PeerLimits {
        PeerLimits {
            timeout: Duration::from_secs(self.peer_timeout),
            request_timeout: Duration::from_secs(self.peer_request_timeout),
            max_page_bytes: self.peer_max_page_bytes,
        }
    }
}

/// `serve` options for pulling from peers.
#[derive(Debug, Args)]
pub struct PeerArgs {
    /// Pull continuously from this peer's URL (repeatable); backs off while it is unreachable.
    #[arg(long = "peer", value_name = "URL")]
    pub peers: Vec<String>,

    #[command(flatten)]
    pub client: PeerClientArgs,

    /// Entries per replication page (one import transaction each).
    #[arg(long, default_value_t = 20_000, value_name = "N")]
    pub peer_page: u64,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The peer's URL root, e.g. http://lab2:5001.
    pub url: String,
    #[command(flatten)]
    pub client: PeerClientArgs,
    /// Entries per page (one import transaction each).
    #[arg(long, default_value_t = 50_000, value_name = "N")]
    pub page: u64,
    /// Ask for every entry, not only the missing ones (held entries are checked and skipped).
    #[arg(long)]
    pub full: bool,
    /// Do not ask for zstd-compressed streams.
    #[arg(long)]
    pub no_compress: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only entries a store with this version vector lacks (`ORIGIN:SEQ,…`, as printed by
    /// `verdict stats` on the receiving node); default: everything.
    #[arg(long, value_name = "VV", default_value = "")]
    pub since: String,
    /// The bundle file to write.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A bundle written by `verdict export`.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Compare with this peer's URL.
    #[arg(long, value_name = "URL", conflicts_with = "bundle", required_unless_present = "bundle")]
    pub peer: Option<String>,
    /// Compare with a bundle file.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    #[command(flatten)]
    pub client: PeerClientArgs,
}

/// Starts the pull loops of `serve --peer`, with the peer token already read.
pub(super) fn start_peers(
    args: &PeerArgs,
    token: Option<String>,
    tls: Option<ureq::tls::TlsConfig>,
    service: &crate::service::Service,
    state: std::sync::Arc<crate::service::replication::ReplicationState>,
) -> Result<Option<replicate::Peers>> {
    if args.peers.is_empty() {
        return Ok(None);
    }
    let opts = PullOptions { page: args.peer_page.max(1), ..PullOptions::default() };
    let peers = replicate::Peers::start(&args.peers, token, args.client.limits(), tls, service.clone(), state, opts)?;
    let shown: Vec<String> = args.peers.iter().map(|u| redact::url(u)).collect();
    tracing::info!(peers = ?shown, "pulling from peers");
    Ok(Some(peers))
}

pub fn sync(db: &Path, args: SyncArgs) -> Result<i32> {
    // Settings are checked before the store is opened.
    let mut client = args.client.client(&args.url)?;
    let (service, writer) = Service::open_batch(db, Config::default())?;
    client.zstd = !args.no_compress;
    let opts = PullOptions { page: args.page.max(1), full: args.full, ..PullOptions::default() };
    let bar = progress(None, "pulling");
    let stop = AtomicBool::new(false);
    let summary = replicate::pull(&client, &service, &opts, &stop, |p| {
        if bar.length().is_none() && p.received + p.lag > 0 {
            bar.set_length(p.received + p.lag);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} pulling [{bar:40}] {pos}/{len} entries, ETA {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
        }
        bar.set_position(p.received);
    });
    bar.finish_and_clear();
    if let Err(e) = service.finish(writer) {
        tracing::warn!(error = %e, "WAL checkpoint after sync failed");
    }
    let s = match summary {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: sync from {} failed: {e}", client.url());
            eprintln!(
                "pages imported before the failure are kept (each was verified whole); nothing refused was stored"
            );
            return Ok(1);
        }
    };
    let secs = s.elapsed.as_secs_f64();
    println!(
        "pulled {} entries from {} ({}) in {secs:.2}s ({:.0}/s): {} new, {} already held; in sync with the peer",
        s.received,
        client.url(),
        if s.peer_node.is_empty() { "?" } else { &s.peer_node },
        s.received as f64 / secs.max(1e-9),
        s.counts.applied,
        s.counts.skipped
    );
    Ok(0)
}

pub fn export(db: &Path, args: ExportArgs) -> Result<i32> {
    let since: VersionVector = parse_vv(&args.since)?;
    let reads = ReadOnly::open(db)?;
    let s = replicate::export(&reads, &since, &args.output)
        .with_context(|| format!("exporting to {}", args.output.display()))?;
    println!(
        "exported {} entries of {} origin(s) to {} ({} bytes)",
        s.entries,
        s.origins,
        args.output.display(),
        s.bytes
    );
    Ok(0)
}

pub fn import(db: &Path, args: ImportArgs) -> Result<i32> {
    let (service, writer) = Service::open_batch(db, Config::default())?;
    let bar = progress(None, "importing");
    let outcome = replicate::import_bundle(&service, &args.file, |phase, n| {
        bar.set_message(phase.to_owned());
        bar.set_position(n);
    });
    bar.finish_and_clear();
    if let Err(e) = service.finish(writer) {
        tracing::warn!(error = %e, "WAL checkpoint after import failed");
    }
    match outcome {
        Ok(s) => {
            println!(
                "imported {} (written by node {}) in {:.2}s: {} entries, {} new, {} already held",
                args.file.display(),
                s.node,
                s.elapsed.as_secs_f64(),
                s.entries,
                s.counts.applied,
                s.counts.skipped
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("error: bundle {} refused: {e}", args.file.display());
            eprintln!("nothing was stored");
            Ok(1)
        }
    }
}

pub fn audit(db: &Path, args: AuditArgs) -> Result<i32> {
    let reads = ReadOnly::open(db)?;
    let (report, other) = match (&args.peer, &args.bundle) {
        (Some(url), _) => {
            let client = args.client.client(url)?;
            (replicate::audit_peer(&reads, &client)?, "peer")
        }
        (None, Some(file)) => (replicate::audit_bundle(&reads, file)?, "bundle"),
        (None, None) => bail!("give --peer URL or --bundle FILE"),
    };
    println!("this store: node {}; {other}: node {}", reads.node_id(), report.remote_node);
    let (mut in_sync, mut behind, mut ahead) = (0, 0, 0);
    for o in &report.origins {
        let what = match o.verdict {
            Verdict::InSync => {
                in_sync += 1;
                "in sync".to_owned()
            }
            Verdict::Behind(k) => {
                behind += 1;
                format!("behind by {k}")
            }
            Verdict::Ahead(k) => {
                ahead += 1;
                format!("ahead by {k} (the {other} lacks them)")
            }
            Verdict::Diverged(s) => format!("DIVERGED at seq {s}"),
        };
        let note = o.note.as_deref().map(|n| format!("; {n}")).unwrap_or_default();
        println!("origin {}: {what} (here #{}, {other} #{}){note}", o.origin, o.local, o.remote);
    }
    if report.conflicts.count > 0 {
        let examples: Vec<String> = report
            .conflicts
            .examples
            .iter()
            .map(|(uuid, ids)| {
                let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
                format!("{uuid} (results {})", ids.join(", "))
            })
            .collect();
        println!(
            "CONFLICTS: {} uuid(s) carry different results from different origins; both are kept and listed: {}",
            report.conflicts.count,
            examples.join("; ")
        );
    }
    let diverged = report.diverged();
    println!(
        "{} origin(s): {in_sync} in sync, {behind} behind, {ahead} ahead, {diverged} diverged",
        report.origins.len()
    );
    Ok(if diverged > 0 { 1 } else { 0 })
}
