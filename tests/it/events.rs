//! The SSE event stream: change/repeat marking, filters, and resume with Last-Event-ID
//! (nothing missed, nothing twice).

use crate::support::TestServer;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::time::Duration;

/// A subscription: reads `(id, event, data)` triples off the stream.
struct Subscription {
    lines: BufReader<ureq::BodyReader<'static>>,
}

impl Subscription {
    fn open(s: &TestServer, query: &str, last_event_id: Option<i64>) -> Subscription {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_per_read(Some(Duration::from_secs(20))).build().into();
        let mut req = agent.get(&s.url(&format!("/api/v2.0/events{query}")));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req.call().unwrap();
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        Subscription { lines: BufReader::new(resp.into_body().into_reader()) }
    }

    /// The next event (skipping keep-alive comments).
    fn next(&mut self) -> (i64, String, Value) {
        let (mut id, mut event, mut data) = (None, None, None);
        loop {
            let mut line = String::new();
            assert!(self.lines.read_line(&mut line).unwrap() > 0, "stream ended");
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if let (Some(i), Some(e), Some(d)) = (id.take(), event.take(), data.take()) {
                    return (i, e, d);
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.parse().unwrap());
            } else if let Some(v) = line.strip_prefix("event: ") {
                event = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(v).unwrap());
            }
        }
    }
}

fn post(s: &TestServer, testcase: &str, outcome: &str, item: &str, arch: &str) -> i64 {
    s.result(json!({"testcase": testcase, "outcome": outcome, "data": {"item": item, "arch": arch}}))["id"]
        .as_i64()
        .unwrap()
}

#[test]
fn events_mark_changes_and_resume_without_loss_or_repeats() {
    let s = TestServer::start();
    let mut sub = Subscription::open(&s, "", None);
    let plan = [
        ("t", "PASSED", "a", "x86_64", "result.first"),
        ("t", "PASSED", "a", "x86_64", "result.repeated"),
        ("t", "FAILED", "a", "x86_64", "result.changed"),
        ("t", "PASSED", "a", "s390x", "result.first"), // another arch: its own history
        ("t", "FAILED", "b", "x86_64", "result.first"), // another item
        ("u", "FAILED", "a", "x86_64", "result.first"), // another testcase
    ];
    let mut ids = Vec::new();
    for (tc, outcome, item, arch, _) in plan {
        ids.push(post(&s, tc, outcome, item, arch));
    }
    for (i, (_, outcome, _, _, kind)) in plan.iter().enumerate() {
        let (id, event, data) = sub.next();
        assert_eq!((id, event.as_str()), (ids[i], *kind), "event {i}");
        assert_eq!(data["outcome"], *outcome);
        assert_eq!(data["id"], ids[i], "the data is the ResultsDB result object");
    }
    drop(sub);

    // Disconnected while more results arrive; resuming from the last id gets exactly those.
    let more: Vec<i64> =
        (0..5).map(|i| post(&s, "t", if i % 2 == 0 { "PASSED" } else { "FAILED" }, "a", "x86_64")).collect();
    let mut sub = Subscription::open(&s, "", Some(*ids.last().unwrap()));
    let got: Vec<i64> = (0..5).map(|_| sub.next().0).collect();
    assert_eq!(got, more);
    let next = post(&s, "t", "INFO", "a", "x86_64");
    assert_eq!(sub.next().0, next, "live events continue after the backlog");
}

#[test]
fn events_filter_by_testcase_item_outcome_and_change() {
    let s = TestServer::start();
    let mut failed_a = Subscription::open(&s, "?item=a&outcome=failed", Some(0));
    let mut changes = Subscription::open(&s, "?testcases=t&changes_only=true", Some(0));
    let p1 = post(&s, "t", "PASSED", "a", "x86_64");
    let _ = post(&s, "t", "PASSED", "a", "x86_64");
    let f1 = post(&s, "t", "FAILED", "a", "x86_64");
    let _ = post(&s, "t", "FAILED", "b", "x86_64");
    let f2 = post(&s, "v", "FAILED", "a", "x86_64");
    assert_eq!(failed_a.next().0, f1);
    assert_eq!(failed_a.next().0, f2);
    assert_eq!(changes.next().0, p1);
    assert_eq!(changes.next().0, f1);
    let (_, event, _) = changes.next();
    assert_eq!(event, "result.first", "item b's first result");
}
