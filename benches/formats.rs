//! Parser throughput benchmarks: a large synthetic JUnit report (plus TAP and JSON Lines).
//!
//! `cargo bench --bench formats` runs the criterion groups. With
//! `VERDICT_BENCH_JUNIT_CASES=1000000` it instead streams a generated report of that many
//! testcases through the JUnit parser once (nothing held in memory) and prints the rate,
//! so peak memory can be measured with `/usr/bin/time -v`.

use criterion::{Criterion, Throughput};
use std::hint::black_box;
use std::io::{BufReader, Read};
use std::time::Instant;
use verdict::formats::{Format, FormatError, ParseOptions, parse};

/// Testcases per `<testsuite>` in the synthetic report.
const PER_SUITE: usize = 1000;

/// Generates a pytest/Surefire-like report on the fly: suites with properties, ~10%
/// failures with multi-line text, ~5% skips, ~2% errors, some captured output.
struct SyntheticJunit {
    cases: usize,
    next: usize,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
}

impl SyntheticJunit {
    fn new(cases: usize) -> Self {
        let mut chunk = Vec::new();
        chunk.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"synthetic\">\n");
        SyntheticJunit { cases, next: 0, chunk, pos: 0, done: false }
    }

    fn refill(&mut self) {
        self.chunk.clear();
        self.pos = 0;
        if self.next >= self.cases {
            if !self.done {
                if self.cases > 0 {
                    self.chunk.extend_from_slice(b"  </testsuite>\n");
                }
                self.chunk.extend_from_slice(b"</testsuites>\n");
                self.done = true;
            }
            return;
        }
        let i = self.next;
        self.next += 1;
        let suite = i / PER_SUITE;
        if i.is_multiple_of(PER_SUITE) {
            if i > 0 {
                self.chunk.extend_from_slice(b"  </testsuite>\n");
            }
            self.chunk.extend_from_slice(
                format!(
                    "  <testsuite name=\"pkg{suite}.TestModule\" hostname=\"rig-07\" timestamp=\"2024-05-01T12:00:00\">\n    \
                     <properties><property name=\"item\" value=\"foo-1.0-{suite}.fc40\"/><property name=\"type\" value=\"koji_build\"/>\
                     <property name=\"arch\" value=\"x86_64\"/></properties>\n"
                )
                .as_bytes(),
            );
        }
        let head = format!(
            "    <testcase classname=\"pkg{suite}.TestModule\" name=\"test_case_{i}[param-{}]\" time=\"0.{:03}\"",
            i % 7,
            i % 1000
        );
        self.chunk.extend_from_slice(head.as_bytes());
        let body = match i % 100 {
            0..=9 => {
                "><failure message=\"AssertionError: expected 1 == 2&#10;details\">Traceback (most recent call last):\n  File &quot;t.py&quot;, line 3\nAssertionError</failure><system-out>log line one\nlog line two\n</system-out></testcase>\n"
            }
            10..=14 => "><skipped type=\"pytest.skip\" message=\"not on this arch\"/></testcase>\n",
            15..=16 => "><error message=\"failed on setup\"><![CDATA[fixture exploded\nstack]]></error></testcase>\n",
            _ => "/>\n",
        };
        self.chunk.extend_from_slice(body.as_bytes());
    }
}

impl Read for SyntheticJunit {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            self.refill();
        }
        let n = (self.chunk.len() - self.pos).min(out.len());
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn synthetic_junit(cases: usize) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    SyntheticJunit::new(cases).read_to_end(&mut v)?;
    Ok(v)
}

fn synthetic_tap(points: usize) -> Vec<u8> {
    let mut s = format!("TAP version 13\n1..{points}\n");
    for i in 1..=points {
        match i % 20 {
            0 => s.push_str(&format!("not ok {i} - case {i}\n  ---\n  message: boom\n  duration_ms: 1.5\n  ...\n")),
            1 => s.push_str(&format!("ok {i} - case {i} # SKIP no network\n")),
            _ => s.push_str(&format!("ok {i} - case {i}\n")),
        }
    }
    s.into_bytes()
}

fn synthetic_jsonl(records: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..records {
        s.push_str(&format!(
            "{{\"testcase\":\"rig.case.{i}\",\"outcome\":\"PASSED\",\"data\":{{\"item\":\"foo-1.0-1.fc40\",\"type\":\"koji_build\",\"arch\":[\"x86_64\",\"noarch\"]}}}}\n"
        ));
    }
    s.into_bytes()
}

/// Results parsed from `bytes`; 0 if the parse failed (the callers assert the count).
fn count(format: Format, bytes: &[u8], opts: &ParseOptions) -> usize {
    let mut n = 0usize;
    let parsed = parse(format, bytes, opts, |r| {
        black_box(&r);
        n += 1;
        Ok::<(), FormatError>(())
    });
    if parsed.is_ok() { n } else { 0 }
}

fn benches(c: &mut Criterion) -> std::io::Result<()> {
    let opts = ParseOptions::for_file("bench.xml");
    let cases = 100_000;
    let doc = synthetic_junit(cases)?;
    let mut g = c.benchmark_group("junit");
    g.sample_size(10);
    g.throughput(Throughput::Elements(cases as u64));
    g.bench_function("100k_testcases", |b| b.iter(|| assert_eq!(count(Format::Junit, &doc, &opts), cases)));
    g.finish();

    let tap = synthetic_tap(cases);
    let mut g = c.benchmark_group("tap");
    g.sample_size(10);
    g.throughput(Throughput::Elements(cases as u64));
    g.bench_function("100k_points", |b| b.iter(|| assert_eq!(count(Format::Tap, &tap, &opts), cases)));
    g.finish();

    let jsonl = synthetic_jsonl(cases);
    let mut g = c.benchmark_group("jsonl");
    g.sample_size(10);
    g.throughput(Throughput::Elements(cases as u64));
    g.bench_function("100k_records", |b| b.iter(|| assert_eq!(count(Format::JsonLines, &jsonl, &opts), cases)));
    g.finish();
    Ok(())
}

/// Streams `cases` generated testcases through the parser once and prints the rate.
fn one_shot(cases: usize) -> Result<(), Box<dyn std::error::Error>> {
    let opts = ParseOptions::for_file("bench.xml");
    let reader = BufReader::with_capacity(64 * 1024, SyntheticJunit::new(cases));
    let started = Instant::now();
    let mut n = 0usize;
    parse(Format::Junit, reader, &opts, |r| {
        black_box(&r);
        n += 1;
        Ok::<(), FormatError>(())
    })?;
    let secs = started.elapsed().as_secs_f64();
    let bytes = std::io::copy(&mut SyntheticJunit::new(cases), &mut std::io::sink())?;
    println!(
        "junit one-shot: {n} testcases ({:.1} MB) in {secs:.3} s = {:.0} testcases/s, {:.0} MB/s",
        bytes as f64 / 1e6,
        n as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(n) = std::env::var("VERDICT_BENCH_JUNIT_CASES").ok().and_then(|v| v.parse().ok()) {
        return one_shot(n);
    }
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c)?;
    c.final_summary();
    Ok(())
}
