//! `serve --consume URL` against a real RabbitMQ on loopback (`.ci/run` starts one): every
//! message stored exactly once through duplicates, a lost connection and a killed server;
//! refused messages dead-lettered with their reason.

use crate::support::TestServer;
use amqprs::BasicProperties;
use amqprs::channel::{BasicGetArguments, BasicPublishArguments, Channel, QueueDeleteArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

/// The broker to test against, or None (then the test is skipped, except in CI).
pub fn broker_url() -> Option<String> {
    let url = std::env::var("VERDICT_AMQP_TEST_URL").ok();
    if url.is_none() {
        assert!(std::env::var_os("VERDICT_REQUIRE_AMQP").is_none(), "VERDICT_AMQP_TEST_URL is not set");
        eprintln!("skipping: no VERDICT_AMQP_TEST_URL (a RabbitMQ to test against)");
    }
    url
}

/// Tests that use the broker hold it shared; the one that restarts it holds it alone.
static BROKER: std::sync::RwLock<()> = std::sync::RwLock::new(());

pub fn broker_shared() -> std::sync::RwLockReadGuard<'static, ()> {
    BROKER.read().unwrap_or_else(|p| p.into_inner())
}

/// Runs `rabbitmqctl` (through `sudo -n` when not root, as `.ci/run` starts the broker).
fn rabbitmqctl(args: &[&str]) -> std::process::Output {
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root { Command::new("rabbitmqctl") } else { Command::new("sudo") };
    if !root {
        cmd.args(["-n", "rabbitmqctl"]);
    }
    let out = cmd.args(args).output().expect("rabbitmqctl (the tests drop connections and restart the broker)");
    assert!(out.status.success(), "rabbitmqctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A publishing connection to the test broker.
pub struct Bus {
    rt: tokio::runtime::Runtime,
    conn: Option<Connection>,
    chan: Option<Channel>,
}

impl Drop for Bus {
    fn drop(&mut self) {
        // The client's handles spawn their closing on drop: inside the runtime.
        let _inside = self.rt.enter();
        self.chan.take();
        self.conn.take();
    }
}

impl Bus {
    pub fn connect(url: &str) -> Bus {
        // The client's connection tasks must run between calls: publishing only queues frames.
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let mut args = OpenConnectionArguments::try_from(url).unwrap();
        if url.ends_with("/%2f") || url.ends_with("/%2F") {
            args.virtual_host("/");
        }
        let (conn, channel) = rt.block_on(async {
            let conn = Connection::open(&args).await.unwrap();
            let channel = conn.open_channel(None).await.unwrap();
            (conn, channel)
        });
        Bus { rt, conn: Some(conn), chan: Some(channel) }
    }

    fn channel(&self) -> &Channel {
        self.chan.as_ref().expect("open until dropped")
    }

    /// Publishes `body` to `amq.topic` under `topic`, persistent, with `id` as message_id.
    pub fn publish(&self, topic: &str, id: Option<&str>, body: &[u8]) {
        let mut props = BasicProperties::default();
        props.with_persistence(true).with_content_type("application/json");
        if let Some(id) = id {
            props.with_message_id(id);
        }
        let publish =
            self.channel().basic_publish(props, body.to_vec(), BasicPublishArguments::new("amq.topic", topic));
        self.rt.block_on(publish).unwrap();
    }

    /// Takes every message waiting in `queue`: body and `x-verdict-reason`.
    pub fn drain(&self, queue: &str) -> Vec<(Vec<u8>, String)> {
        let mut got = Vec::new();
        loop {
            let get = self.channel().basic_get(BasicGetArguments::new(queue).no_ack(true).finish());
            let Some((_, props, body)) = self.rt.block_on(get).unwrap() else { return got };
            let reason = props
                .headers()
                .and_then(|h| h.get(&"x-verdict-reason".try_into().unwrap()).cloned())
                .map(|v| match v {
                    amqprs::FieldValue::S(s) => s.as_ref().clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            got.push((body, reason));
        }
    }

    pub fn delete_queues(self, queues: &[&str]) {
        self.rt.block_on(async {
            for q in queues {
                let _ = self.channel().queue_delete(QueueDeleteArguments::new(q)).await;
            }
        });
    }
}

/// A queue name no other test uses.
pub fn fresh_queue(what: &str) -> String {
    format!("verdict-test-{what}-{}", uuid::Uuid::new_v4().simple())
}

/// The consumer's status.
pub fn status(s: &TestServer) -> Value {
    s.get("/api/verdict/v1/consume").json
}

/// Waits until the server has settled at least `n` messages; returns the status.
pub fn wait_consumed(s: &TestServer, n: u64) -> Value {
    let start = Instant::now();
    loop {
        let st = status(s);
        if st["consumed"].as_u64().unwrap_or(0) >= n {
            return st;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "only {st} of {n} messages settled");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A ResultsDB-shaped message.
fn result_msg(testcase: &str, i: usize) -> Vec<u8> {
    json!({"testcase": {"name": testcase}, "outcome": "PASSED", "data": {"item": format!("pkg-{i}"), "type": "koji_build"}})
        .to_string()
        .into_bytes()
}

/// The results stored for `testcase`, as item → count.
fn items(s: &TestServer, testcase: &str) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    let mut page = 0;
    loop {
        let r = s.get(&format!("/api/v2.0/results?testcases={testcase}&limit=1000&page={page}"));
        for d in r.data() {
            *out.entry(d["data"]["item"][0].as_str().unwrap().to_owned()).or_default() += 1;
        }
        if r.json["next"].is_null() {
            return out;
        }
        page += 1;
    }
}

/// A server consuming as `args` say, once its consumer is connected (the queue exists).
fn start_consumer(args: &[&str]) -> TestServer {
    let s = TestServer::start_with(args);
    let start = Instant::now();
    while !status(&s)["connected"].as_bool().unwrap_or(false) {
        assert!(start.elapsed() < Duration::from_secs(30), "consumer did not connect: {}", status(&s));
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

fn consume_args<'a>(url: &'a str, queue: &'a str, binding: &'a str) -> Vec<&'a str> {
    vec!["--consume", url, "--consume-queue", queue, "--consume-binding", binding]
}

#[test]
fn bus_messages_are_stored_once_and_bad_ones_dead_lettered() {
    let Some(url) = broker_url() else { return };
    let _broker = broker_shared();
    let queue = fresh_queue("once");
    let topic = format!("{queue}.results");
    let s = start_consumer(&consume_args(&url, &queue, &topic));
    let bus = Bus::connect(&url);
    let tc = format!("bus.{}", queue.replace('-', "_"));
    for i in 0..20 {
        bus.publish(&topic, Some(&format!("m-{i}")), &result_msg(&tc, i));
    }
    // Redelivered by id, re-published byte for byte without an id (twice).
    for i in 0..5 {
        bus.publish(&topic, Some(&format!("m-{i}")), &result_msg(&tc, i));
    }
    bus.publish(&topic, None, &result_msg(&tc, 100));
    bus.publish(&topic, None, &result_msg(&tc, 100));
    // Two that cannot be mapped.
    bus.publish(&topic, Some("bad-json"), b"{not json");
    let bad_outcome = json!({"testcase": {"name": tc}, "outcome": "SUPERB", "data": {"item": "x"}}).to_string();
    bus.publish(&topic, Some("bad-outcome"), bad_outcome.as_bytes());
    let st = wait_consumed(&s, 29);
    assert_eq!(st["stored"], 21, "{st}");
    assert_eq!(st["duplicates"], 6, "{st}");
    assert_eq!(st["rejected"], 2, "{st}");
    assert_eq!(st["queue"], queue.as_str());
    // Messages are stored concurrently: refusals come in any order.
    let mut reasons: Vec<&str> =
        st["recent_rejections"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    reasons.sort();
    assert!(reasons[0].contains("outcome"), "{reasons:?}");
    assert!(reasons[1].contains("not JSON"), "{reasons:?}");
    let got = items(&s, &tc);
    assert_eq!(got.len(), 21, "{got:?}");
    assert!(got.values().all(|&n| n == 1), "{got:?}");
    // The refused messages wait in the dead-letter queue, unchanged, with their reason.
    let mut dead = bus.drain(&format!("{queue}.rejected"));
    dead.sort();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(dead[0].1.contains("outcome"), "{:?}", dead[0].1);
    assert_eq!(dead[1].0, b"{not json");
    assert!(dead[1].1.contains("not JSON"), "{:?}", dead[1].1);
    let metrics = s.get("/metrics").text;
    assert!(metrics.contains("verdict_consume_messages{outcome=\"stored\"} 21"), "{metrics}");
    assert!(metrics.contains("verdict_consume_messages{outcome=\"rejected\"} 2"), "{metrics}");
    // Results carry where they came from.
    let one = s.get(&format!("/api/v2.0/results?testcases={tc}&item=pkg-3"));
    assert_eq!(one.data()[0]["data"]["source_message"], json!(["m-3"]));
    assert_eq!(one.data()[0]["data"]["source_topic"], json!([topic]));
    bus.delete_queues(&[&queue, &format!("{queue}.rejected")]);
}

/// The connections RabbitMQ holds for the consumer of `queue` (by their connection name).
fn consumer_connections(queue: &str) -> Vec<String> {
    let out = rabbitmqctl(&["-q", "list_connections", "pid", "client_properties"]);
    let name = format!("verdict consumer {queue}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&name))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn nothing_is_lost_or_doubled_across_a_dropped_connection_and_a_killed_server() {
    let Some(url) = broker_url() else { return };
    let _broker = broker_shared();
    let queue = fresh_queue("crash");
    let topic = format!("{queue}.results");
    let args = consume_args(&url, &queue, &topic);
    let s = start_consumer(&args);
    let bus = Bus::connect(&url);
    let tc = format!("bus.{}", queue.replace('-', "_"));
    let total = 600;
    for i in 0..200 {
        bus.publish(&topic, Some(&format!("c-{i}")), &result_msg(&tc, i));
    }
    // The broker drops the consumer mid-stream: it reconnects and carries on.
    wait_consumed(&s, 50);
    for pid in consumer_connections(&queue) {
        let closed = Command::new("rabbitmqctl")
            .args(["-q", "close_connection", &pid, "test: broker drops the consumer"])
            .status();
        assert!(closed.is_ok_and(|c| c.success()));
    }
    for i in 200..400 {
        bus.publish(&topic, Some(&format!("c-{i}")), &result_msg(&tc, i));
    }
    let start = Instant::now();
    while status(&s)["connects"].as_u64().unwrap_or(0) < 2 {
        assert!(start.elapsed() < Duration::from_secs(60), "consumer did not reconnect: {}", status(&s));
        std::thread::sleep(Duration::from_millis(50));
    }
    // The server is killed while messages are in flight; a new one on the same store
    // finishes the queue.
    wait_consumed(&s, 250);
    for i in 400..total {
        bus.publish(&topic, Some(&format!("c-{i}")), &result_msg(&tc, i));
    }
    let db = s.db.clone();
    let dir = s.stop();
    let s2 = TestServer::start_on(&db, &args);
    let start = Instant::now();
    loop {
        let got = items(&s2, &tc);
        if got.len() == total {
            assert!(got.values().all(|&n| n == 1), "a message was stored twice: {got:?}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(90), "{} of {total} stored: {}", got.len(), status(&s2));
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = status(&s2);
    assert_eq!(st["rejected"], 0, "{st}");
    drop(s2);
    drop(dir);
    bus.delete_queues(&[&queue, &format!("{queue}.rejected")]);
}

/// The expected rows of `fixtures/ci-messages/MANIFEST.md`: fixture, testcase, outcome,
/// item, type.
fn manifest_rows() -> Vec<[String; 5]> {
    let text = std::fs::read_to_string("fixtures/ci-messages/MANIFEST.md").unwrap();
    let section = text.split("## Mapped").nth(1).unwrap().split("## Rejected").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> = l.split('|').map(|c| c.trim().trim_matches('`').to_owned()).collect();
            [cells[1].clone(), cells[3].clone(), cells[4].clone(), cells[5].clone(), cells[6].clone()]
        })
        .collect()
}

#[test]
fn ci_messages_from_the_bus_become_the_results_the_manifest_names() {
    let Some(url) = broker_url() else { return };
    let _broker = broker_shared();
    let queue = fresh_queue("ci");
    let binding = format!("{queue}.#");
    let s = start_consumer(&consume_args(&url, &queue, &binding));
    let bus = Bus::connect(&url);
    let rows = manifest_rows();
    assert!(rows.len() >= 10, "{rows:?}");
    // Each fixture twice, without a message id: the second is a duplicate by content.
    let publish = |file: &str| {
        let m: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let topic = format!("{queue}.{}", m["topic"].as_str().unwrap());
        bus.publish(&topic, None, m["body"].to_string().as_bytes());
    };
    for _ in 0..2 {
        for row in &rows {
            publish(&format!("fixtures/ci-messages/{}", row[0]));
        }
    }
    publish("fixtures/ci-messages/bad/koji-build.test.complete-no-nvr.json");
    let st = wait_consumed(&s, 2 * rows.len() as u64 + 1);
    assert_eq!(st["stored"], rows.len(), "{st}");
    assert_eq!(st["duplicates"], rows.len(), "{st}");
    assert_eq!(st["rejected"], 1, "{st}");
    assert!(st["recent_rejections"][0]["reason"].as_str().unwrap().contains("artifact.nvr is missing"), "{st}");
    for [fixture, testcase, outcome, item, kind] in &rows {
        let q = format!("/api/v2.0/results?testcases={testcase}&outcome={outcome}&item={item}&type={kind}");
        let got = s.get(&q);
        assert_eq!(got.data().len(), 1, "{fixture}: {q} -> {}", got.json);
    }
    bus.delete_queues(&[&queue, &format!("{queue}.rejected")]);
}

#[test]
fn a_broker_restart_mid_stream_loses_and_doubles_nothing() {
    let Some(url) = broker_url() else { return };
    let _alone = BROKER.write().unwrap_or_else(|p| p.into_inner());
    let queue = fresh_queue("restart");
    let topic = format!("{queue}.results");
    let s = start_consumer(&consume_args(&url, &queue, &topic));
    let tc = format!("bus.{}", queue.replace('-', "_"));
    let bus = Bus::connect(&url);
    for i in 0..300 {
        bus.publish(&topic, Some(&format!("r-{i}")), &result_msg(&tc, i));
    }
    wait_consumed(&s, 20);
    drop(bus);
    // The broker application stops and starts again; the durable queue and its
    // persistent messages survive, the consumer reconnects.
    rabbitmqctl(&["-q", "stop_app"]);
    rabbitmqctl(&["-q", "start_app"]);
    rabbitmqctl(&["-q", "await_startup"]);
    let bus = Bus::connect(&url);
    for i in 300..400 {
        bus.publish(&topic, Some(&format!("r-{i}")), &result_msg(&tc, i));
    }
    let start = Instant::now();
    loop {
        let got = items(&s, &tc);
        if got.len() == 400 {
            assert!(got.values().all(|&n| n == 1), "a message was stored twice: {got:?}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(90), "{} of 400 stored: {}", got.len(), status(&s));
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = status(&s);
    assert!(st["connects"].as_u64().unwrap() >= 2, "{st}");
    assert_eq!(st["rejected"], 0, "{st}");
    bus.delete_queues(&[&queue, &format!("{queue}.rejected")]);
}

#[test]
fn two_servers_on_one_store_share_a_queue_and_store_each_message_once() {
    let Some(url) = broker_url() else { return };
    let _broker = broker_shared();
    let queue = fresh_queue("shared");
    let topic = format!("{queue}.results");
    let args = consume_args(&url, &queue, &topic);
    let a = start_consumer(&args);
    // The second server on the same store (the same PostgreSQL database, or file).
    let b = TestServer::start_on(&a.db, &args);
    let tc = format!("bus.{}", queue.replace('-', "_"));
    let bus = Bus::connect(&url);
    for i in 0..400 {
        bus.publish(&topic, Some(&format!("s-{i}")), &result_msg(&tc, i));
    }
    // Re-published copies may reach either server.
    for i in 0..100 {
        bus.publish(&topic, Some(&format!("s-{i}")), &result_msg(&tc, i));
    }
    let start = Instant::now();
    let settled = |s: &TestServer| status(s)["consumed"].as_u64().unwrap_or(0);
    while settled(&a) + settled(&b) < 500 {
        assert!(start.elapsed() < Duration::from_secs(60), "{} and {}", status(&a), status(&b));
        std::thread::sleep(Duration::from_millis(50));
    }
    let (sa, sb) = (status(&a), status(&b));
    let stored = sa["stored"].as_u64().unwrap() + sb["stored"].as_u64().unwrap();
    let duplicates = sa["duplicates"].as_u64().unwrap() + sb["duplicates"].as_u64().unwrap();
    assert_eq!((stored, duplicates), (400, 100), "{sa} {sb}");
    let got = items(&a, &tc);
    assert_eq!(got.len(), 400);
    assert!(got.values().all(|&n| n == 1), "{got:?}");
    drop(b);
    bus.delete_queues(&[&queue, &format!("{queue}.rejected")]);
}
