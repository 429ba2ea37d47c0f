//! What each command does.

use super::{AuthArg, Cli, Command, QueryArgs, ReplayArgs, ServeArgs, TokenArgs, outcomes, progress};
use crate::amqp::AmqpOptions;
use crate::http::{self, Limits};
use crate::model::{ResultQuery, Timestamp};
use crate::service::admin::VerifyOutcome;
use crate::service::auth::{Auth, AuthMode, hash_token, new_token};
use crate::service::local::ReadOnly;
use crate::service::render::{DataOnly, Urls, result_json, to_wire};
use crate::service::{Config, Service};
use crate::spool::{Spool, SpoolOptions};
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::time::{Duration, Instant};

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Serve(args) => serve(&cli.db, *args),
        Command::Submit(args) => super::submit::submit(&cli.db, args),
        Command::ImportResultsdb(args) => super::upstream::import_resultsdb(&cli.db, args),
        Command::Query(args) => query(&cli.db, args),
        Command::Verify => verify(&cli.db),
        Command::Replay(args) => replay(&cli.db, args),
        Command::Ingest(args) => super::ingest::ingest(&cli.db, args),
        Command::Run(args) => super::run::run(&cli.db, *args),
        Command::Token(args) => token(&args),
        Command::Policy(cmd) => super::gating::policy(cmd),
        Command::Decide(args) => super::gating::decide_cmd(&cli.db, args),
        Command::Stats => stats(&cli.db),
        Command::Backup(args) => super::backup::backup(&cli.db, &args),
        Command::Restore(args) => super::backup::restore(&cli.db, &args),
        Command::Prune(args) => super::prune::prune(&cli.db, &args),
        Command::Completions(args) => super::docs::completions(&args),
        Command::Man(args) => super::docs::man(&args),
        Command::Quarantine(cmd) => super::quarantine::quarantine(&cli.db, cmd),
        Command::Waive(args) => super::waive::waive(&cli.db, args),
        Command::History(args) => super::insight::history(&cli.db, args),
        Command::Flaky(args) => super::insight::flaky(&cli.db, args),
        Command::Compare(args) => super::insight::compare(&cli.db, args),
        Command::Report(args) => super::report::report(&cli.db, args),
        Command::Sync(args) => super::replication::sync(&cli.db, args),
        Command::Export(args) => super::replication::export(&cli.db, args),
        Command::Import(args) => super::replication::import(&cli.db, args),
        Command::Audit(args) => super::replication::audit(&cli.db, args),
        Command::Reconcile(args) => super::reconcile::reconcile(&cli.db, args),
    }
}

fn serve(db: &std::path::Path, args: ServeArgs) -> Result<i32> {
    let gate = match &args.policies {
        Some(dir) => super::gating::load_gate(dir)?,
        None => crate::gating::Gate::default(),
    };
    let config = Config {
        outcomes: outcomes(&args.outcomes)?,
        max_limit: args.max_limit,
        auth: auth(&args)?,
        gate: std::sync::Arc::new(gate),
        input_limits: args.input_limits.limits(),
    };
    let limits = Limits {
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
        idle_timeout: Duration::from_secs(args.idle_timeout),
        header_timeout: Duration::from_secs(args.header_timeout),
        body_timeout: Duration::from_secs(args.body_timeout),
        write_timeout: Duration::from_secs(args.write_timeout),
        max_response_memory: args.max_response_memory,
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        max_body: args.max_body,
        access_log: args.access_log,
    };
    // Secrets are read before anything starts, so a bad file stops start-up.
    let peer_token = args.replication.client.token()?;
    let peer_tls = args.replication.client.tls()?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(http::tls_config(cert, key)?),
        _ => None,
    };
    if args.check_config {
        // Everything above read and checked what the settings name (policies, tokens, peer token).
        super::ingest::ingest_config(&args.defaults, config.outcomes.clone(), config.input_limits.clone())?;
        print!("{}", args.effective.render());
        return Ok(0);
    }
    raise_fd_limit();
    // Bind first: a taken port must not leave a new empty store behind.
    let listener = std::net::TcpListener::bind(args.listen).with_context(|| {
        format!("cannot listen on {}: choose another --listen address or stop what uses it", args.listen)
    })?;
    listener.set_nonblocking(true).context("setting the listening socket non-blocking")?;
    // The spool's settings and directories are checked before the store is opened too.
    let spool_ingest = match &args.spool {
        Some(dir) => {
            Spool::prepare_dirs(dir)?;
            let ingest =
                super::ingest::ingest_config(&args.defaults, config.outcomes.clone(), config.input_limits.clone())?;
            Some((dir.clone(), ingest))
        }
        None => None,
    };
    let (service, writer_thread) = Service::open_reading_from(db, args.db_read.as_deref(), config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(if args.workers > 0 {
            args.workers
        } else {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
        })
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener).context("registering the listening socket")?;
        let addr = listener.local_addr()?;
        let c = service.config();
        let auth = match &c.auth.mode {
            AuthMode::None => "none".to_owned(),
            AuthMode::Dummy => "dummy".to_owned(),
            AuthMode::Tokens(users) => format!("tokens ({} users)", users.len()),
        };
        let policies: Vec<&str> = c.gate.policies.iter().map(|p| p.id.as_deref().unwrap_or("(no id)")).collect();
        tracing::info!(db = %db.display(), node = service.node_id(), %auth, ?policies, "store opened");
        let warm = service.keep_insight_warm();
        let scheme = if tls.is_some() { "https" } else { "http" };
        // Tests and scripts read this line to learn the port.
        println!("verdict listening on {scheme}://{addr}");
        std::io::stdout().flush()?;
        let spool = match spool_ingest {
            Some((dir, ingest)) => {
                let opts = SpoolOptions {
                    dir: dir.clone(),
                    delete: args.spool_delete,
                    settle: Duration::from_millis(args.spool_settle_ms),
                    tick: Duration::from_millis(250),
                    workers: args.spool_workers,
                    ingest,
                };
                tracing::info!(dir = %dir.display(), "spool started");
                Some(Spool::start(opts, service.queue())?)
            }
            None => None,
        };
        let amqp = match &args.amqp {
            Some(url) => {
                let public_url = args.public_url.clone().unwrap_or_else(|| format!("{scheme}://{addr}"));
                let opts = AmqpOptions { url: url.clone(), exchange: args.amqp_exchange.clone(), public_url };
                Some(crate::amqp::start(service.clone(), opts)?)
            }
            None => None,
        };
        let consumer = match &args.consume {
            Some(url) => {
                let bindings = if args.consume_bindings.is_empty() {
                    crate::amqp::consume::DEFAULT_BINDINGS.map(str::to_owned).to_vec()
                } else {
                    args.consume_bindings.clone()
                };
                let opts = crate::amqp::consume::ConsumeOptions {
                    url: url.clone(),
                    queue: args.consume_queue.clone(),
                    exchange: args.consume_exchange.clone(),
                    bindings,
                    prefetch: args.consume_prefetch.max(1),
                };
                Some(crate::amqp::consume::start(service.clone(), opts)?)
            }
            None => None,
        };
        let reconciler = match args.reconcile_every {
            Some(every) if !args.reconcile_from.is_empty() => Some(super::reconcile::start_periodic(
                service.clone(),
                args.reconcile_from.clone(),
                every,
                args.replication.client.peer_ca_cert.as_deref(),
            )?),
            _ => None,
        };
        let replication = std::sync::Arc::new(crate::service::replication::ReplicationState::new(peer_token.clone()));
        let peers =
            super::replication::start_peers(&args.replication, peer_token, peer_tls, &service, replication.clone())?;
        let shutdown = http::Shutdown::default();
        let app = http::router_with_replication(
            service,
            limits.clone(),
            spool.as_ref().map(|s| s.status.clone()),
            replication,
            shutdown.clone(),
        );
        tokio::spawn(on_signals(shutdown.clone()));
        http::serve(listener, app, &limits, tls, shutdown).await?;
        if let Some(p) = peers {
            tokio::task::spawn_blocking(move || p.stop()).await?;
        }
        // The publisher and the warming task hold Service handles; the writer stops only
        // once all are gone.
        for task in amqp.into_iter().chain(consumer).chain(reconciler).chain([warm]) {
            task.abort();
            let _ = task.await;
        }
        anyhow::Ok(())
    })?;
    // Every Service handle is gone: the writer commits what was queued, then stops.
    let _ = writer_thread.join();
    runtime.shutdown_timeout(Duration::from_secs(1));
    tracing::info!("stopped");
    Ok(0)
}

/// The first SIGTERM or SIGINT starts a graceful shutdown; a second one exits at once.
async fn on_signals(shutdown: http::Shutdown) {
    // Both listeners exist before the first signal is awaited and live until the second:
    // a listener made after a signal arrived would never hear it.
    let mut signals = Signals::new();
    signals.next().await;
    tracing::info!("shutting down: closing event streams, finishing requests (a second signal exits at once)");
    shutdown.begin();
    signals.next().await;
    tracing::warn!("second signal: exiting without waiting");
    // Nothing acknowledged is lost: every answered write was committed with fsync.
    std::process::exit(130);
}

/// SIGINT and SIGTERM, as one stream.
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals { interrupt: signal(SignalKind::interrupt()).ok(), terminate: signal(SignalKind::terminate()).ok() }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The next SIGINT or SIGTERM.
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            let interrupt = async {
                match &mut self.interrupt {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let terminate = async {
                match &mut self.terminate {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = interrupt => {},
                _ = terminate => {},
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Raises the soft limit on open files to the hard limit: each connection is a file
/// descriptor, and a soft limit of 1024 (a common default) is below the connection cap.
fn raise_fd_limit() {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit/setrlimit only read or write the struct passed by pointer.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
                lim.rlim_cur = lim.rlim_max;
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    tracing::debug!("could not raise the open-file limit");
                }
            }
        }
    }
}

/// The authentication configured by `serve`'s flags.
fn auth(args: &ServeArgs) -> Result<Auth> {
    let mode = match args.auth {
        AuthArg::None => AuthMode::None,
        AuthArg::Dummy => AuthMode::Dummy,
        AuthArg::Tokens => {
            let Some(path) = &args.tokens else { bail!("--auth tokens needs --tokens FILE") };
            let users = Auth::load_tokens(path)?;
            tracing::info!(users = users.len(), file = %path.display(), "tokens loaded");
            AuthMode::Tokens(users)
        }
    };
    Ok(Auth { mode, superusers: args.superusers.clone() })
}

fn token(args: &TokenArgs) -> Result<i32> {
    let token = new_token();
    let testcases: Vec<String> =
        args.testcases.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| format!("{s:?}")).collect();
    eprintln!("token for {} (shown once; give it to the user): {token}", args.user);
    println!(
        "[[user]]\nname = {:?}\ntoken_blake3 = \"{}\"\ntestcases = [{}]\nwaive = {}\ngroups = {}",
        args.user,
        hash_token(&token),
        testcases.join(", "),
        args.waive,
        args.groups
    );
    Ok(0)
}

fn query(db: &std::path::Path, args: QueryArgs) -> Result<i32> {
    let outcomes = outcomes(&args.outcomes)?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            pairs.push((k.to_owned(), v.clone()));
        }
    };
    push("testcases", &args.testcase);
    push("testcases:like", &args.testcase_like);
    push("item", &args.item);
    push("type", &args.item_type);
    push("outcome", &args.outcome);
    push("since", &args.since);
    push("groups", &args.groups);
    push("_distinct_on", &args.distinct_on);
    for d in &args.data {
        let Some((k, v)) = d.split_once('=') else { bail!("--data wants KEY=VALUES, got {d:?}") };
        pairs.push((k.to_owned(), v.to_owned()));
    }
    pairs.push(("limit".into(), args.limit.to_string()));
    pairs.push(("page".into(), args.page.to_string()));
    let q = ResultQuery::parse(&pairs, &outcomes, i64::MAX)?;
    if args.latest && !q.distinct_on.is_empty() && !q.has_filter_besides_distinct() {
        bail!("--distinct-on needs at least one other filter");
    }
    if let Some(remote) = args.remote.server()? {
        return super::remote::query(&remote, &pairs, args.latest, args.json, args.page);
    }
    let store = ReadOnly::open(db)?;
    let (results, has_next) = if args.latest {
        (store.latest(&q)?, false)
    } else {
        let page = store.results(&q)?;
        (page.items, page.has_next)
    };
    if args.json {
        let urls = Urls::new(args.base_url);
        let data: Vec<_> = results.iter().map(|r| result_json(r, &urls)).collect();
        std::io::stdout().lock().write_all(&to_wire(&DataOnly { data }))?;
        return Ok(0);
    }
    let rows = results.iter().map(|r| Row {
        id: r.id,
        time: Timestamp(r.record.submit_time).to_iso(),
        outcome: r.record.outcome.clone(),
        testcase: r.record.testcase.name.clone(),
        item: r.record.data.get("item").map(|v| v.join(",")).unwrap_or_default(),
        note: r.record.note.clone().unwrap_or_default(),
    });
    print_rows(rows, has_next.then_some(args.page + 1))?;
    Ok(0)
}

/// One line of `verdict query`'s table.
pub(super) struct Row {
    pub id: i64,
    pub time: String,
    pub outcome: String,
    pub testcase: String,
    pub item: String,
    pub note: String,
}

/// Longest note shown in the table (the JSON output has all of it).
const NOTE_WIDTH: usize = 60;

/// `verdict query`'s table, local or remote, with the next page's number when there is one:
/// columns as wide as their longest value, outcomes coloured on a terminal (not with
/// `NO_COLOR` set), notes on one line and cut at [`NOTE_WIDTH`] characters.
pub(super) fn print_rows(rows: impl Iterator<Item = Row>, next_page: Option<i64>) -> Result<()> {
    use std::io::IsTerminal;
    let rows: Vec<Row> = rows.collect();
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let width = |f: fn(&Row) -> usize, title: &str| rows.iter().map(f).chain([title.len()]).max().unwrap_or(0);
    let w_id = width(|r| r.id.to_string().len(), "ID");
    let w_time = width(|r| r.time.chars().count(), "SUBMIT_TIME");
    let w_out = width(|r| r.outcome.chars().count(), "OUTCOME");
    let w_tc = width(|r| r.testcase.chars().count(), "TESTCASE");
    let w_item = width(|r| r.item.chars().count(), "ITEM");
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:>w_id$}  {:<w_time$}  {:<w_out$}  {:<w_tc$}  {:<w_item$}  NOTE",
        "ID", "SUBMIT_TIME", "OUTCOME", "TESTCASE", "ITEM"
    )?;
    for r in &rows {
        let pad = " ".repeat(w_out.saturating_sub(r.outcome.chars().count()));
        let outcome = match (colour, ansi_colour(&r.outcome)) {
            (true, Some(code)) => format!("\x1b[{code}m{}\x1b[0m{pad}", r.outcome),
            _ => format!("{}{pad}", r.outcome),
        };
        let note: String = r.note.split_whitespace().collect::<Vec<_>>().join(" ");
        let note = match note.char_indices().nth(NOTE_WIDTH) {
            Some((cut, _)) => format!("{}…", &note[..cut]),
            None => note,
        };
        writeln!(
            out,
            "{:>w_id$}  {:<w_time$}  {outcome}  {:<w_tc$}  {:<w_item$}  {note}",
            r.id, r.time, r.testcase, r.item
        )?;
    }
    if let Some(page) = next_page {
        writeln!(out, "(more: --page {page})")?;
    }
    Ok(())
}

/// The ANSI colour of an outcome: green passes, red fails, yellow the rest we know.
fn ansi_colour(outcome: &str) -> Option<&'static str> {
    match outcome {
        "PASSED" | "INFO" => Some("32"),
        "FAILED" | "ERROR" | "CRASHED" | "ABORTED" => Some("31"),
        "NEEDS_INSPECTION" | "QUEUED" | "RUNNING" => Some("33"),
        _ => None,
    }
}

fn verify(db: &std::path::Path) -> Result<i32> {
    let store = ReadOnly::open(db)?;
    let bar = progress(None, "verifying");
    let outcome = store.verify(|checked| bar.set_position(checked));
    bar.finish_and_clear();
    let (line, ok) = verify_line(&outcome?);
    println!("{line}");
    Ok(if ok { 0 } else { 1 })
}

/// `verify`'s one-line verdict, and whether every chain holds.
pub(super) fn verify_line(outcome: &VerifyOutcome) -> (String, bool) {
    match outcome {
        VerifyOutcome::Ok { checked, origins, total } => {
            (format!("OK: {checked} entries in {origins} origin chain(s) verified ({total} in the log)"), true)
        }
        VerifyOutcome::BrokenEntry { seq, reason } => (format!("BROKEN at log entry {seq}: {reason}"), false),
        // The recorded heads (the version vector) must agree with the chains.
        VerifyOutcome::BrokenHead { origin, seq, walked } => {
            (format!("BROKEN: recorded head of origin {origin} (#{seq}) does not match its chain ({walked:?})"), false)
        }
    }
}

fn replay(db: &std::path::Path, args: ReplayArgs) -> Result<i32> {
    let source = ReadOnly::open(db)?;
    let bar = progress(None, "replaying");
    let started = Instant::now();
    let replayed = source.replay_into(&args.into, |applied| bar.set_position(applied))?;
    bar.finish_and_clear();
    println!(
        "replayed {} of {} log entries into {} in {:.2}s",
        replayed.applied,
        replayed.total,
        args.into.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}

fn stats(db: &std::path::Path) -> Result<i32> {
    let store = ReadOnly::open(db)?;
    let (s, heads) = store.stats()?;
    let file_size = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);
    println!("store:        {}", db.display());
    println!("node id:      {}", store.node_id());
    let outcomes = store.outcome_counts()?;
    let by_outcome: Vec<String> = outcomes.iter().map(|(o, n)| format!("{o} {n}")).collect();
    println!("results:      {}   ({})", s.results, by_outcome.join(", "));
    println!("testcases:    {}", s.testcases);
    println!("groups:       {}", s.groups);
    println!("waivers:      {}", s.waivers);
    println!("log entries:  {}", s.log_entries);
    if s.gaps > 0 {
        println!(
            "pruned:       {} entries in {} stretches (under horizon entries; see `verdict prune`)",
            s.pruned, s.gaps
        );
    }
    println!("data keys:    {}   distinct values: {}", s.data_keys, s.data_values);
    println!(
        "file size:    {} ({file_size} bytes, {} pages of {})",
        indicatif::HumanBytes(file_size),
        s.page_count,
        s.page_size
    );
    for h in &heads {
        println!("origin {}: {} entries, head {}", h.origin, h.seq, h.hash.to_hex());
    }
    println!("version vector: {}", crate::log::stream::format_vv(&crate::service::replication::vv_of(&heads)));
    Ok(0)
}
