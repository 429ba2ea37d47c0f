//! The command line: `serve`, `submit`, `query`, `verify`, `replay`, `stats`.

mod backup;
mod commands;
pub mod config;
mod docs;
mod gating;
mod ingest;
mod insight;
mod prune;
mod quarantine;
mod reconcile;
mod remote;
mod replication;
mod report;
mod run;
mod submit;
mod upstream;
mod waive;

use crate::model::Outcomes;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

pub use commands::run;
pub use replication::{AuditArgs, ExportArgs, ImportArgs, PeerArgs, PeerClientArgs, SyncArgs};

/// `--listen`: an address with a port; a bare port gets a suggestion instead of the
/// parser's "invalid socket address syntax".
fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| match text.trim().parse::<u16>() {
        Ok(port) => format!(
            "give an address with the port: 127.0.0.1:{port} (this machine only) or 0.0.0.0:{port} (every interface)"
        ),
        Err(_) => format!("{text:?} is not an address with a port, e.g. 127.0.0.1:5001 or [::1]:5001"),
    })
}

/// The version with the git commit it was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("VERDICT_GIT_COMMIT"), ")");

/// verdict: a ResultsDB-compatible test-results store in one binary and one file.
#[derive(Debug, Parser)]
#[command(name = "verdict", version = VERSION, about, propagate_version = true)]
pub struct Cli {
    /// The store: an SQLite file, or a PostgreSQL database as a postgres:// URL (created on
    /// first use).
    #[arg(long, global = true, env = "VERDICT_DB", default_value = "verdict.db", value_name = "PATH")]
    pub db: PathBuf,

    /// Log lines as text or as JSON objects (one per line), on standard error.
    #[arg(long, global = true, env = "VERDICT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: colours only when standard error is a terminal.
    Text,
    /// For log collectors: one JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the ResultsDB API v2.0 over HTTP.
    #[command(
        after_help = "Example:\n  verdict serve --listen 127.0.0.1:5001 --db ./verdict.db\n  curl http://127.0.0.1:5001/api/v2.0/results"
    )]
    Serve(Box<ServeArgs>),

    /// Store results from a JSON object, array or JSON Lines file (or - for stdin), no server
    /// needed. All or nothing: one invalid record stores nothing. Exactly once: the same
    /// input again stores nothing (--again to store it again); a run that was killed
    /// finishes where it stopped when rerun. Safe beside a running server on the same store.
    #[command(
        after_help = "Example:\n  verdict submit results.jsonl\n  echo '{\"testcase\":\"t\",\"outcome\":\"PASSED\"}' | verdict submit -"
    )]
    Submit(SubmitArgs),

    /// Copy an upstream ResultsDB 2.x database (and, with --waiverdb, a WaiverDB 1.x one),
    /// read in their own PostgreSQL schemas, into the store: every result, group, testcase
    /// and waiver becomes a log entry. Idempotent: running it again stores only what is new
    /// upstream; an interrupted run goes on where it stopped.
    #[command(
        name = "import-resultsdb",
        after_help = "Example:\n  verdict import-resultsdb postgres://resultsdb@db.example.com/resultsdb \\\n      --waiverdb postgres://waiverdb@db.example.com/waiverdb"
    )]
    ImportResultsdb(ImportResultsdbArgs),

    /// Query results with the API's filters; a table by default, --json for machines.
    #[command(
        after_help = "Example:\n  verdict query --item foo-1.0-1.fc40 --outcome FAILED\n  verdict query --latest --testcase-like 'dist.*' -d type=koji_build --json"
    )]
    Query(QueryArgs),

    /// Check every origin's hash chain; exit 1 at the first broken entry.
    #[command(after_help = "Example:\n  verdict verify --db ./verdict.db")]
    Verify,

    /// Rebuild a new store from this store's log alone (derived tables are recomputed).
    #[command(after_help = "Example:\n  verdict replay --db ./verdict.db --into ./rebuilt.db")]
    Replay(ReplayArgs),

    /// Ingest result files (JUnit XML, TAP, ResultYAML, ResultsDB JSON/JSONL, CTRF, Subunit)
    /// or whole directories once; inputs are never moved or deleted. Each file is all or
    /// nothing; a file already ingested (same content) is skipped. Exit 1 if any failed.
    #[command(
        after_help = "Example:\n  verdict ingest --item foo-1.0-1.fc40 --type koji_build results/junit.xml rig7/"
    )]
    Ingest(IngestArgs),

    /// Run a check as a lab rig would: stream its output to the terminal and a log, parse
    /// what it reports (a file named by $VERDICT_RESULTS in any ingest format, TAP on
    /// standard output, else its exit status), retry failures, burn in new testcases, and
    /// store every attempt with the run's execution record, exactly once. Exit 0 when every
    /// result passed (or is quarantined), 1 when one failed, 2 when the execution failed.
    #[command(
        after_help = "Example:\n  verdict run --item foo-1.0-1.fc40 --type koji_build --testcase-prefix dist. --retries 2 -- ./checks/rpmlint.sh\n  verdict run --url http://verdict:5001 --item foo-1.0-1.fc40 --type koji_build --burn-in 5 --timeout 30m -- make check"
    )]
    Run(Box<run::RunArgs>),

    /// Make a new random token for a tokens file: prints the token (give it to the user)
    /// and the `[[user]]` entry holding only its hash.
    #[command(
        after_help = "Example:\n  verdict token --user alice --testcases 'dist.*,fedora-ci.*' --waive >> tokens.toml"
    )]
    Token(TokenArgs),

    /// Gating policies: `verdict policy check DIR` validates a policies directory offline.
    #[command(subcommand, after_help = "Example:\n  verdict policy check ./policies")]
    Policy(PolicyCommand),

    /// Print a gating decision for a subject from the local store, one line per requirement.
    /// Exit 0 when the policies are satisfied, 2 when not.
    #[command(
        after_help = "Example:\n  verdict decide --policies ./policies --subject-type koji_build --subject foo-1.0-1.fc40 \\\n    --context bodhi_update_push_stable --product-version fedora-40"
    )]
    Decide(DecideArgs),

    /// A testcase's results per key (testcase, scenario, arch) with statistics: runs,
    /// passes, fails, flips, pass rate, current streak, durations.
    #[command(
        after_help = "Example:\n  verdict history --testcase dist.rpmlint --item foo-1.0-1.fc40\n  verdict history --testcases-like 'dist.*' --since 2026-11-01 --json"
    )]
    History(insight::HistoryArgs),

    /// Which keys are flaky, broken or healthy over a window (default 14 days), each with
    /// the reason and the results that show it.
    #[command(
        after_help = "Example:\n  verdict flaky\n  verdict flaky --testcases-like 'fedora-ci.*' --since 2026-11-01 --json"
    )]
    Flaky(insight::FlakyArgs),

    /// Compare two runs of the tests: the latest result of every key in a base and a head
    /// (groups or items), as new failures, fixed, still failing, flaky, new and missing.
    #[command(
        after_help = "Example:\n  verdict compare --base-item foo-1.0-1.fc40 --head-item foo-1.1-1.fc40\n  verdict compare --base last_good --head-item foo-1.1-1.fc40 --head-type koji_build"
    )]
    Compare(insight::CompareArgs),

    /// Write one self-contained HTML report (CSS inline, no scripts): the history grids,
    /// the flaky board and a comparison of the selection, the store's verify verdict and
    /// its chain heads — for an auditor, an air-gapped site. Exit 1 if the store is broken.
    #[command(
        after_help = "Example:\n  verdict report --item foo-1.1-1.fc40 -o report.html\n  verdict report --testcase-like 'dist.*' --since 2026-11-01 -o report.html"
    )]
    Report(report::ReportArgs),

    /// Quarantine rules: a failing, errored or missing requirement of a matching testcase
    /// does not block decisions until the rule expires, is revoked, or the test's key
    /// passes --release-after-passes times in a row.
    #[command(
        subcommand,
        after_help = "Example:\n  verdict quarantine add --testcase 'dist.rpm*' --reason 'mirror flakes' --expires-at 2030-01-01\n  verdict quarantine list\n  verdict quarantine revoke ID"
    )]
    Quarantine(quarantine::QuarantineCommand),
    /// Create a waiver (WaiverDB): on the store file, or on a server with --url.
    Waive(waive::WaiveArgs),

    /// Write a consistent copy of the store to a new file while the server goes on
    /// writing, then verify the copy (exit 1 if it does not verify).
    #[command(
        after_help = "Example:\n  verdict backup --db /var/lib/verdict/verdict.db -o /backup/verdict-$(date +%F).db"
    )]
    Backup(backup::BackupArgs),

    /// Put a backup in place as the store given by --db (which must not exist), after
    /// verifying it; a backup that does not verify is refused.
    #[command(
        after_help = "Example:\n  verdict restore --db /var/lib/verdict/verdict.db /backup/verdict-2026-12-01.db"
    )]
    Restore(backup::RestoreArgs),

    /// Drop results submitted before a date. Each origin's chain stays verifiable under
    /// a hash-chained horizon entry that also keeps per-day outcome counts (history still
    /// answers); peers that import it prune the same results. The file then shrinks.
    #[command(
        after_help = "Example:\n  verdict prune --db /var/lib/verdict/verdict.db --before 2026-01-01\n  verdict prune --before 2026-06-01 --testcases-like 'dist.*'"
    )]
    Prune(prune::PruneArgs),

    /// Print shell completions (bash, zsh, fish, elvish, powershell) to standard output.
    #[command(after_help = "Example:\n  verdict completions bash > /etc/bash_completion.d/verdict")]
    Completions(docs::CompletionsArgs),

    /// Print the man page (or write one per command into --out-dir).
    #[command(after_help = "Example:\n  verdict man > verdict.1\n  verdict man --out-dir ./man")]
    Man(docs::ManArgs),

    /// Show counts, size, node id and chain heads.
    #[command(after_help = "Example:\n  verdict stats --db ./verdict.db")]
    Stats,

    /// Pull what this store lacks from a peer now (progress bar, then a summary).
    #[command(after_help = "Example:\n  verdict sync http://lab2:5001 --db ./verdict.db")]
    Sync(SyncArgs),

    /// Write entries to a self-verifying bundle file for air-gapped transfer.
    #[command(
        after_help = "Example:\n  verdict export -o lab1.vbundle\n  verdict export --since \"$(ssh rig verdict stats | sed -n 's/^version vector: //p')\" -o rig.vbundle"
    )]
    Export(ExportArgs),

    /// Verify a bundle completely, then import it (entries already held are skipped).
    #[command(after_help = "Example:\n  verdict import lab1.vbundle")]
    Import(ImportArgs),

    /// Compare what a source claims (another verdict or ResultsDB over HTTP, or a directory
    /// of archived bus messages) with what is stored: list what is missing, and with
    /// --apply store it (idempotent). Exit 0 when nothing is missing (or all of it was
    /// stored), 1 when something is, 2 on errors.
    #[command(
        after_help = "Example:\n  verdict reconcile --from http://resultsdb.example.com --item foo-1.0-1.fc40\n  verdict reconcile --from http://lab2:5001 --since 2026-11-01 --apply\n  verdict reconcile --from /var/spool/ci-messages --apply"
    )]
    Reconcile(reconcile::ReconcileArgs),

    /// Compare chains per origin with a peer or a bundle; exit 1 if any diverged.
    #[command(after_help = "Example:\n  verdict audit --peer http://lab2:5001\n  verdict audit --bundle lab1.vbundle")]
    Audit(AuditArgs),
}

/// Authentication methods of `serve --auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthArg {
    None,
    Dummy,
    Tokens,
}

#[derive(Debug, Args)]
pub struct OutcomeArgs {
    /// Outcomes allowed besides PASSED, INFO, FAILED, NEEDS_INSPECTION (comma list; "" for none).
    #[arg(long, env = "VERDICT_OUTCOMES", default_value = "ERROR,QUEUED,RUNNING,ABORTED,CRASHED", value_name = "LIST")]
    pub outcomes: String,
}

/// Size caps of a result (README, "Limits"); the same for `serve`, `submit` and `ingest`.
#[derive(Debug, Args)]
pub struct InputLimitArgs {
    /// Most values one data key may hold.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_values_per_key: usize,
    /// Most data values one result may hold, all keys together.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub max_values: usize,
    /// Most bytes (UTF-8) of one result's data keys and values together.
    #[arg(long, default_value_t = 128 * 1024, value_name = "BYTES")]
    pub max_data_bytes: usize,
    /// Longest data key, in characters.
    #[arg(long, default_value_t = 256, value_name = "CHARS")]
    pub max_key_chars: usize,
    /// Longest data value, in characters.
    #[arg(long, default_value_t = 8192, value_name = "CHARS")]
    pub max_value_chars: usize,
    /// Longest testcase name, in characters.
    #[arg(long, default_value_t = 1024, value_name = "CHARS")]
    pub max_name_chars: usize,
    /// Longest note or group description, in characters.
    #[arg(long, default_value_t = 8192, value_name = "CHARS")]
    pub max_note_chars: usize,
    /// Longest `ref_url` (of a result, testcase or group), in characters.
    #[arg(long, default_value_t = 8192, value_name = "CHARS")]
    pub max_url_chars: usize,
    /// Most groups one result may name.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_groups: usize,
}

impl InputLimitArgs {
    pub fn limits(&self) -> crate::model::InputLimits {
        crate::model::InputLimits {
            values_per_key: self.max_values_per_key,
            values: self.max_values,
            data_bytes: self.max_data_bytes,
            key_chars: self.max_key_chars,
            value_chars: self.max_value_chars,
            name_chars: self.max_name_chars,
            note_chars: self.max_note_chars,
            url_chars: self.max_url_chars,
            groups: self.max_groups,
        }
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Read settings from this TOML file: keys are these flags' names (`listen = "…"`,
    /// `max-body = 1048576`, `peer = ["http://lab2:5001"]`). Flags and VERDICT_* variables
    /// override it. Default: /etc/verdict/verdict.toml when it exists.
    #[arg(long, env = "VERDICT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Print the effective configuration (tokens and passwords masked) with where each value
    /// came from, check it (policies, tokens file, peer token) and exit: 0 when it is valid.
    #[arg(long)]
    pub check_config: bool,

    /// What `--check-config` prints (filled by `config::parse`).
    #[arg(skip)]
    pub effective: config::Effective,

    /// Log one line per request: method, path, status, bytes, microseconds and the user
    /// (never a token or password), under the log target `verdict::access`.
    #[arg(long, env = "VERDICT_ACCESS_LOG")]
    pub access_log: bool,

    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, env = "VERDICT_LISTEN", default_value = "127.0.0.1:5001", value_parser = listen_addr)]
    pub listen: SocketAddr,

    /// Serve HTTPS (only) with this certificate chain: a PEM file, the server's certificate
    /// first, then intermediates. Read at start-up. Without it, plain HTTP (e.g. behind a
    /// TLS proxy).
    #[arg(long, env = "VERDICT_TLS_CERT", value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert: a PEM file (PKCS#8, RSA or EC).
    #[arg(long, env = "VERDICT_TLS_KEY", value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    #[command(flatten)]
    pub outcomes: OutcomeArgs,

    #[command(flatten)]
    pub input_limits: InputLimitArgs,

    /// Largest `limit` a list request may ask for (upstream has no maximum).
    #[arg(long, default_value_t = 1000)]
    pub max_limit: i64,

    /// Largest request body in bytes.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub max_body: usize,

    /// Most open connections. At the cap a new connection closes the longest-idle one;
    /// when every connection is busy it waits in the listen backlog.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,

    /// Most open connections from one client address (0: no per-address cap). Over it a
    /// new connection closes that address's longest-idle one, or is closed itself. Behind
    /// a reverse proxy every client has the proxy's address: raise it or use 0.
    #[arg(long, default_value_t = 256)]
    pub max_connections_per_ip: usize,

    /// Seconds a connection may sit with no request in flight and no traffic (a new one
    /// that sends nothing, a keep-alive one between requests) before it is closed.
    #[arg(long, default_value_t = 5)]
    pub idle_timeout: u64,

    /// Seconds a client may take to send a whole request head once the server waits for it.
    #[arg(long, default_value_t = 30)]
    pub header_timeout: u64,

    /// Seconds a response may wait for the client to read any of it; then the connection
    /// is closed.
    #[arg(long, default_value_t = 30)]
    pub write_timeout: u64,

    /// Bytes of large (over 1 MiB) response bodies waiting to be sent, all connections
    /// together; a request whose large response does not fit gets 503 (Retry-After: 1).
    #[arg(long, default_value_t = 256 << 20, value_name = "BYTES")]
    pub max_response_memory: usize,

    /// Seconds a shutdown (SIGTERM, Ctrl-C) waits for in-flight requests; a second signal
    /// exits at once.
    #[arg(long, default_value_t = 5)]
    pub shutdown_timeout: u64,

    /// Send reads to this PostgreSQL URL (a streaming replica of the --db database) while
    /// writes go to --db. Reads there may lag the writes by the replica's delay.
    #[arg(long, env = "VERDICT_DB_READ", value_name = "URL")]
    pub db_read: Option<String>,

    /// Async worker threads (0: one per CPU core). Anchored reads (an exact item, testcase
    /// or group filter) run on them directly; scans go to a separate blocking pool.
    #[arg(long, env = "VERDICT_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// How writers are identified: `none` (results open, no waivers), `dummy` (any HTTP
    /// Basic user name), `tokens` (users from --tokens FILE).
    #[arg(long, env = "VERDICT_AUTH", value_enum, default_value_t = AuthArg::None)]
    pub auth: AuthArg,

    /// The tokens file for `--auth tokens` (TOML `[[user]]` entries; see `verdict token`).
    #[arg(long, env = "VERDICT_TOKENS", value_name = "FILE")]
    pub tokens: Option<PathBuf>,

    /// A user who may waive on behalf of others (repeatable).
    #[arg(long = "superuser", value_name = "NAME")]
    pub superusers: Vec<String>,

    /// Publish new results to this AMQP 0-9-1 broker (`amqp://user:pass@host:5672/%2f`),
    /// topic `resultsdb.result.new`. Off by default. A command line shows in `ps`: give a
    /// URL with a password in the environment variable.
    #[arg(long, env = "VERDICT_AMQP", value_name = "URL", hide_env_values = true)]
    pub amqp: Option<String>,

    /// The exchange messages are published to.
    #[arg(long, default_value = "amq.topic")]
    pub amqp_exchange: String,

    /// Consume CI test messages (Fedora/CentOS CI `*.test.*` events, or ResultsDB-shaped
    /// results) from this AMQP 0-9-1 broker and store each exactly once (see README, "From
    /// the message bus"). Give a URL with a password in the environment variable.
    #[arg(long, env = "VERDICT_CONSUME", value_name = "URL", hide_env_values = true)]
    pub consume: Option<String>,

    /// The durable queue to consume from (servers sharing it share the work); refused
    /// messages go to `<queue>.rejected`.
    #[arg(long, default_value = "verdict")]
    pub consume_queue: String,

    /// A topic pattern to bind the queue to (repeatable; default: `#.test.queued`,
    /// `#.test.running`, `#.test.complete`, `#.test.error`).
    #[arg(long = "consume-binding", value_name = "PATTERN")]
    pub consume_bindings: Vec<String>,

    /// The topic exchange the queue is bound to.
    #[arg(long, default_value = "amq.topic")]
    pub consume_exchange: String,

    /// Messages the broker may send before they are acknowledged.
    #[arg(long, default_value_t = 512)]
    pub consume_prefetch: u16,

    /// Reconcile with this source periodically (repeatable): a server's URL (another
    /// verdict, or ResultsDB) or a directory of archived bus messages; what is missing is
    /// stored (see README, "Reconcile"). Needs --reconcile-every.
    #[arg(long = "reconcile-from", value_name = "URL|DIR", requires = "reconcile_every")]
    pub reconcile_from: Vec<String>,

    /// How often to reconcile (e.g. 1h, 15m; off by default). The first run starts with
    /// the server and looks at the last 24 hours; each later one from an hour before the
    /// previous run began.
    #[arg(long, value_name = "DURATION", value_parser = run::duration_arg, requires = "reconcile_from")]
    pub reconcile_every: Option<std::time::Duration>,

    /// The URL root used in messages' `href`s (default: http://LISTEN-ADDRESS).
    #[arg(long)]
    pub public_url: Option<String>,

    /// Gating policies: every `*.yaml` in DIR (Greenwave's format). A file that does not
    /// parse stops start-up, naming file, line and reason.
    #[arg(long, env = "VERDICT_POLICIES", value_name = "DIR")]
    pub policies: Option<PathBuf>,

    /// Ingest result files dropped into this directory (see README, "Spool").
    #[arg(long, env = "VERDICT_SPOOL", value_name = "DIR")]
    pub spool: Option<PathBuf>,

    /// Delete ingested spool files instead of moving them to DIR/done/.
    #[arg(long)]
    pub spool_delete: bool,

    /// Milliseconds a spool file must stay unchanged before it is read.
    #[arg(long, default_value_t = 500)]
    pub spool_settle_ms: u64,

    /// Threads reading and parsing spool files. Each keeps up to 64 files (16 MiB) queued
    /// for commit, so many files share one commit and its fsync.
    #[arg(long, default_value_t = 4)]
    pub spool_workers: usize,

    #[command(flatten)]
    pub defaults: DefaultArgs,

    #[command(flatten)]
    pub replication: PeerArgs,

    /// Seconds a client may take to send its request body.
    #[arg(long, default_value_t = 60)]
    pub body_timeout: u64,
}

/// Values for results that name no item/type/data of their own (lowest precedence: the
/// record, then a sidecar, then the spool directory come first).
#[derive(Debug, Args)]
pub struct DefaultArgs {
    /// Default `item` for results that name none.
    #[arg(long)]
    pub item: Option<String>,
    /// Default `type` for results that name none.
    #[arg(long = "type")]
    pub item_type: Option<String>,
    /// Default `arch` (shorthand for `--data arch=VALUE`).
    #[arg(long)]
    pub arch: Option<String>,
    /// Default extra data `key=value` (repeatable).
    #[arg(long = "data", value_name = "KEY=VALUE")]
    pub data: Vec<String>,
    /// Refuse files whose results end up without an item.
    #[arg(long)]
    pub require_item: bool,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files or directories (searched recursively).
    #[arg(required = true)]
    pub paths: Vec<std::path::PathBuf>,

    #[command(flatten)]
    pub remote: remote::RemoteArgs,

    #[command(flatten)]
    pub defaults: DefaultArgs,

    #[command(flatten)]
    pub outcomes: OutcomeArgs,

    #[command(flatten)]
    pub input_limits: InputLimitArgs,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Input file, or - for standard input (copied to a temporary file in $TMPDIR while it
    /// is checked).
    pub file: String,

    /// Store the input even if it was stored before (a new copy, with new result uuids).
    #[arg(long)]
    pub again: bool,

    #[command(flatten)]
    pub remote: remote::RemoteArgs,

    #[command(flatten)]
    pub outcomes: OutcomeArgs,

    #[command(flatten)]
    pub input_limits: InputLimitArgs,
}

#[derive(Debug, Args)]
pub struct ImportResultsdbArgs {
    /// The ResultsDB database, as a libpq URL (postgres://USER[:PASSWORD]@HOST[:PORT]/DB,
    /// or ?host=/run/postgresql for a Unix socket). Only read.
    pub resultsdb: String,

    /// The WaiverDB database, likewise; its waivers are imported after the results.
    #[arg(long)]
    pub waiverdb: Option<String>,

    /// Upstream rows per transaction.
    #[arg(long, default_value_t = 5000)]
    pub batch: u32,

    /// With `sslmode=require` in a URL: trust exactly the certificates in this PEM file (a
    /// private CA, or the server's self-signed certificate) instead of the system's roots.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Only results of these testcases (comma list).
    #[arg(long)]
    pub testcase: Option<String>,
    /// Testcase name patterns, `*` matches any run (comma list; ORed with --testcase).
    #[arg(long)]
    pub testcase_like: Option<String>,
    /// Shorthand for `-d item=VALUE`.
    #[arg(long)]
    pub item: Option<String>,
    /// Shorthand for `-d type=VALUE`.
    #[arg(long = "type")]
    pub item_type: Option<String>,
    /// Outcomes (comma list).
    #[arg(long)]
    pub outcome: Option<String>,
    /// `START` or `START,END` (ISO 8601).
    #[arg(long)]
    pub since: Option<String>,
    /// Group uuids (comma list).
    #[arg(long)]
    pub groups: Option<String>,
    /// Extra-data filter `key=v1,v2` or `key:like=pattern` (repeatable).
    #[arg(short = 'd', long = "data", value_name = "KEY=VALUES")]
    pub data: Vec<String>,
    /// Newest result per testcase (`/results/latest`).
    #[arg(long)]
    pub latest: bool,
    /// With --latest: newest per testcase and these data keys (comma list).
    #[arg(long)]
    pub distinct_on: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    #[arg(long, default_value_t = 0)]
    pub page: i64,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// URL root used for `href` fields in --json output.
    #[arg(long, default_value = "http://127.0.0.1:5001")]
    pub base_url: String,
    #[command(flatten)]
    pub remote: remote::RemoteArgs,

    #[command(flatten)]
    pub outcomes: OutcomeArgs,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The user name.
    #[arg(long)]
    pub user: String,
    /// Testcase patterns the user may submit results for (comma list).
    #[arg(long, default_value = "")]
    pub testcases: String,
    /// Whether the user may create waivers (for the testcases of --testcases).
    #[arg(long)]
    pub waive: bool,
    /// Whether the user may change the description or ref_url of existing groups.
    #[arg(long)]
    pub groups: bool,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Load every `*.yaml` in DIR; print the policies, or each error with file and line (exit 1).
    Check { dir: PathBuf },
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The policies directory.
    #[arg(long, env = "VERDICT_POLICIES")]
    pub policies: PathBuf,
    #[arg(long)]
    pub subject_type: String,
    /// The subject identifier (an NVR, update id, compose id...).
    #[arg(long)]
    pub subject: String,
    /// The decision context (gating point).
    #[arg(long)]
    pub context: String,
    #[arg(long)]
    pub product_version: String,
    /// Decide as of this time (`YYYY-MM-DDTHH:MM:SS.ffffff`).
    #[arg(long)]
    pub when: Option<String>,
    /// Print Greenwave's JSON response instead.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The new store to build (must not exist or be empty).
    #[arg(long, value_name = "NEW.db")]
    pub into: PathBuf,
}

/// The outcomes allowed: the presets plus `--outcomes`.
fn outcomes(args: &OutcomeArgs) -> anyhow::Result<Outcomes> {
    let extra: Vec<&str> = args.outcomes.split(',').collect();
    Ok(Outcomes::new(&extra)?)
}

/// Whoever runs a command that writes the store file as a person (`quarantine`,
/// `waive`): access to the file is the right, and this name is recorded.
fn operator() -> String {
    std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "local".to_owned())
}

/// Runs one write through the service on the store file as [`operator`], then closes it.
fn write_as<T, F, Fut>(db: &std::path::Path, f: F) -> anyhow::Result<T>
where
    F: FnOnce(crate::service::Service, String) -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::service::ServiceError>>,
{
    use anyhow::Context;
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    let (service, writer) = crate::service::Service::open_batch(db, crate::service::Config::default())?;
    let outcome = runtime.block_on(f(service.clone(), operator()));
    if let Err(e) = service.finish(writer) {
        tracing::warn!(error = %e, "WAL checkpoint after the write failed");
    }
    Ok(outcome?)
}

/// A bar over `n` things called `noun` (files, entries), with its ETA; hidden off a terminal.
fn progress_count(n: u64, what: &str, noun: &str) -> ProgressBar {
    let bar = ProgressBar::new(n);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let template = format!("{{spinner}} {what} [{{bar:40}}] {{pos}}/{{len}} {noun}, ETA {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// A bar over `len` bytes with its ETA, or a spinner counting up when the total is not
/// known; hidden off a terminal.
fn progress(len: Option<u64>, what: &str) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let template = if len.is_some() {
        format!("{{spinner}} {what} [{{bar:40}}] {{bytes}}/{{total_bytes}}, ETA {{eta}}")
    } else {
        format!("{{spinner}} {what} {{pos}}")
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
