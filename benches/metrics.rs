//! What recording a request in the metrics costs: `Metrics::request` alone, and a trivial
//! axum route with and without a middleware doing what `http::metrics::record` does
//! (`cargo bench --bench metrics`). Compare with a real request's server CPU (BENCHMARKS.md).

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use criterion::Criterion;
use std::hint::black_box;
use std::time::{Duration, Instant};
use tower::ServiceExt;
use verdict::service::{Config, Service};

const ROUTES: [&str; 4] =
    ["/api/v2.0/results", "/api/v2.0/results/{id}", "/api/v2.0/results/latest", "/api/v1.0/decision"];

/// The middleware of `http::metrics::record`, over a bare service handle.
async fn record(State(s): State<Service>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let resp = next.run(req).await;
    s.metrics().request(
        method.as_str(),
        route.as_ref().map(MatchedPath::as_str),
        resp.status().as_u16(),
        started.elapsed(),
    );
    resp
}

fn main() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (service, _writer) =
        Service::open(&dir.path().join("m.db"), Config::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut c = Criterion::default().configure_from_args();
    let mut i = 0usize;
    c.bench_function("metrics/request", |b| {
        b.iter(|| {
            i += 1;
            service.metrics().request("GET", Some(ROUTES[i % 4]), 200, black_box(Duration::from_micros(150)));
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    let bare: Router = Router::new().route("/api/v2.0/results/{id}", get(|| async { "ok" }));
    let measured: Router = Router::new()
        .route("/api/v2.0/results/{id}", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn_with_state(service.clone(), record));
    for (name, app) in [("metrics/route_without", bare), ("metrics/route_with", measured)] {
        c.bench_function(name, |b| {
            b.iter(|| {
                let req = Request::get("/api/v2.0/results/42").body(Body::empty()).unwrap_or_else(|e| panic!("{e}"));
                let resp = rt.block_on(app.clone().oneshot(req)).unwrap_or_else(|e| match e {});
                black_box(resp.status())
            })
        });
    }
    c.final_summary();
}
