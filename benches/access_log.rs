//! What the access log costs per request, writer thread included: N requests through a
//! trivial axum route with and without a middleware that logs like `--access-log`
//! (`verdict::http::log_request`, the server's own line), under the subscriber `main.rs`
//! sets up (text lines, no colour, a non-lossy writer thread with a 64 KiB buffer) writing
//! to a file. Process CPU time (all threads, getrusage) per request, median of 5 runs
//! (`cargo bench --bench access_log`). Compare with a real request's server CPU
//! (BENCHMARKS.md).

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const N: u32 = 200_000;

/// The shape of `http::access::access_log` without the auth lookup (no credentials sent).
async fn access(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    let bytes = resp.body().size_hint().exact().map_or_else(|| "-".to_owned(), |n| n.to_string());
    verdict::http::log_request(
        method.as_str(),
        &path,
        resp.status().as_u16(),
        &bytes,
        started.elapsed().as_micros() as u64,
        "-",
    );
    resp
}

/// User + system CPU of the whole process so far, in microseconds.
fn cpu_micros() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    us(u.ru_utime) + us(u.ru_stime)
}

/// CPU per request of N requests; then waits until the log file stops growing, so the
/// writer thread's work on these lines is counted here (a sleep costs no CPU).
fn run(rt: &tokio::runtime::Runtime, app: &Router, log: &Path) -> f64 {
    let before = cpu_micros();
    for _ in 0..N {
        let req = Request::get("/api/v2.0/results/42").body(Body::empty()).unwrap_or_else(|e| panic!("{e}"));
        let resp = rt.block_on(app.clone().oneshot(req)).unwrap_or_else(|e| match e {});
        black_box(resp.status());
    }
    let size = || std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    let mut last = size();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let now = size();
        if now == last {
            break;
        }
        last = now;
    }
    (cpu_micros() - before) / f64::from(N)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let log = dir.path().join("access.log");
    let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::with_capacity(64 * 1024, file));
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(false))
        .init();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    let bare: Router = Router::new().route("/api/v2.0/results/{id}", get(|| async { "ok" }));
    let logged: Router = bare.clone().layer(axum::middleware::from_fn(access));
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        without.push(run(&rt, &bare, &log));
        with.push(run(&rt, &logged, &log));
    }
    drop(guard);
    let lines = std::fs::read_to_string(&log).map(|t| t.lines().count()).unwrap_or(0);
    let (a, b) = (median(without), median(with));
    println!("access_log: process CPU per request, median of 5 x {N} requests ({lines} lines written)");
    println!("  route without the access log: {a:.2} µs");
    println!("  route with the access log:    {b:.2} µs");
    println!("  the access log costs:         {:.2} µs per request", b - a);
}
