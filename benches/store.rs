//! Store hot paths: bulk append, the API's main reads, and rendering.
//!
//! `cargo bench --bench store` builds a 100,000-result store once (the reference workload's
//! shape: 20 testcases, 5,000 items, 5 data keys) and measures each path on it.

use criterion::{BatchSize, Criterion, Throughput};
use std::hint::black_box;
use verdict::log::Body;
use verdict::model::{Outcomes, ResultQuery, Timestamp, parse_create_result};
use verdict::service::render::{Envelope, Urls, result_json, to_wire};
use verdict::service::resolve_result;
use verdict::store::{ReadStore, Store, WriteStore};

const RESULTS: usize = 100_000;
const ITEMS: usize = 5_000;
const TESTCASES: [&str; 4] =
    ["dist.rpmlint", "dist.depcheck", "fedora-ci.koji-build.tier0.functional", "update.advisory_boot"];
const ARCHES: [&str; 6] = ["x86_64", "aarch64", "ppc64le", "s390x", "noarch", "i686"];

/// The i-th result of the synthetic workload, as a log body.
fn body(i: usize, time: i64, outcomes: &Outcomes) -> Body {
    let item = format!("pkg{:05}-1.2-{}.fc40", i % ITEMS, (i % ITEMS) % 7);
    let tc = TESTCASES[i % TESTCASES.len()];
    let arch = ARCHES[i % ARCHES.len()];
    let v = serde_json::json!({
        "testcase": {"name": tc, "ref_url": format!("https://ci.example.org/testcases/{tc}")},
        "outcome": (["PASSED", "FAILED", "INFO"][i % 3]),
        "ref_url": format!("https://ci.example.org/jobs/{i}"),
        "note": format!("automated run {i} on {arch}"),
        "data": {"item": item, "type": "koji_build", "arch": arch, "scenario": format!("fedora.{arch}.default"), "build_id": (1_000_000 + i / 3).to_string()},
    });
    let input =
        parse_create_result(&v, outcomes, &verdict::model::InputLimits::default()).unwrap_or_else(|e| panic!("{e}"));
    Body::Result(resolve_result(input, None, Timestamp(time)))
}

fn pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

fn main() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let outcomes = Outcomes::default_set();
    let store = Store::open(&dir.path().join("bench.db")).unwrap_or_else(|e| panic!("{e}"));
    let mut writer = store.writer().unwrap_or_else(|e| panic!("{e}"));
    for chunk in (0..RESULTS).collect::<Vec<_>>().chunks(10_000) {
        let bodies: Vec<Body> = chunk.iter().map(|i| body(*i, 1_700_000_000_000_000 + *i as i64, &outcomes)).collect();
        writer
            .transaction(|w| bodies.iter().try_for_each(|b| w.append(b).map(|_| ())))
            .unwrap_or_else(|e: verdict::store::StoreError| panic!("{e}"));
    }

    let mut c = Criterion::default().configure_from_args();
    let mut next = RESULTS;
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("1000 results, one transaction", |b| {
        b.iter_batched(
            || {
                next += 1000;
                (next - 1000..next).map(|i| body(i, 1_800_000_000_000_000 + i as i64, &outcomes)).collect::<Vec<_>>()
            },
            |bodies| writer.transaction(|w| bodies.iter().try_for_each(|b| w.append(b).map(|_| ()))),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let reader = store.reader().unwrap_or_else(|e| panic!("{e}"));
    let mut g = c.benchmark_group("read");
    let mut n = 0usize;
    let mut item = || {
        n += 1;
        let i = (n * 7919) % ITEMS;
        format!("pkg{i:05}-1.2-{}.fc40", i % 7)
    };
    for (name, query) in [
        ("results by item", "item={}"),
        ("results by item and type", "type=koji_build&item={}"),
        ("results by testcase, limit 20", "testcases=dist.depcheck&limit=20"),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let q = ResultQuery::parse(&pairs(&query.replace("{}", &item())), &outcomes, 1000)
                    .unwrap_or_else(|e| panic!("{e}"));
                black_box(verdict::store::snapshot(&reader, || reader.results(&q)).map(|v| v.len()))
            })
        });
    }
    g.bench_function("latest by item", |b| {
        b.iter(|| {
            let q = ResultQuery::parse(&pairs(&format!("item={}", item())), &outcomes, 1000).unwrap_or_default();
            black_box(verdict::store::snapshot(&reader, || reader.latest(&q)).map(|v| v.len()))
        })
    });
    g.finish();

    let q = ResultQuery::parse(&pairs("limit=20"), &outcomes, 1000).unwrap_or_default();
    let page = reader.results(&q).unwrap_or_default();
    let urls = Urls::new("http://127.0.0.1:5001");
    c.bench_function("render a page of 20 results", |b| {
        b.iter(|| {
            let data: Vec<_> = page.iter().map(|r| result_json(r, &urls)).collect();
            black_box(to_wire(&Envelope { data, next: None, prev: None }).len())
        })
    });
    c.final_summary();
}
