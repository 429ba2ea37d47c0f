//! The `verdict` binary: parse the command line, run it, map errors to exit codes.

use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Every request decodes and renders JSON: a quarter of a decision's CPU was glibc
/// malloc/free (measured in BENCHMARKS.md), which mimalloc roughly halves.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // mimalloc backs its arenas with transparent huge pages where the kernel allows it:
    // +10 MB of peak RSS on a 1M-testcase ingest for no measurable speed (BENCHMARKS.md).
    // SAFETY: prctl with these arguments only sets a flag on this process.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    let cli = match verdict::cli::config::parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    // A command whose output goes into a closed pipe (`verdict stats | head`) ends quietly,
    // as other command-line tools do, instead of panicking on the failed write. Not the
    // server: a client closing its connection must only fail that write.
    #[cfg(unix)]
    if !matches!(cli.command, verdict::cli::Command::Serve(_)) {
        // SAFETY: restoring the default disposition of one signal before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("VERDICT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // At trace level the HTTP client dumps every request's bytes, Authorization headers
    // (peer tokens, URL passwords) included: never log those, whatever VERDICT_LOG says.
    let no_dumps = tracing_subscriber::filter::filter_fn(|m| {
        !(*m.level() == tracing::Level::TRACE && m.target().starts_with("ureq_proto"))
    });
    // Lines are written by a thread of their own: a request logs its access line without
    // waiting for standard error (the guard flushes what is left at exit).
    // Not lossy: a full buffer makes the logger wait rather than drop an error line.
    // The thread writes through a buffer it flushes whenever it has drained every queued
    // line, so a busy server's access log costs one write(2) per batch, not per request
    // (measured in BENCHMARKS.md, "Operate"); a line is never split across writes.
    let (stderr, _flush) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    let lines = match cli.log_format {
        verdict::cli::LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(stderr)
            // Colour codes are noise in a file or a journal.
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        verdict::cli::LogFormat::Json => tracing_subscriber::fmt::layer().json().with_writer(stderr).boxed(),
    };
    tracing_subscriber::registry().with(filter).with(lines.with_filter(no_dumps)).init();
    match verdict::cli::run(cli) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
