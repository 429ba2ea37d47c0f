//! `--amqp URL` against a real RabbitMQ on loopback (`.ci/run` installs and starts one and
//! sets VERDICT_AMQP_TEST_URL; locally the test is skipped without it).

use crate::support::TestServer;
use amqprs::channel::{BasicGetArguments, QueueBindArguments, QueueDeclareArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The broker to test against, or None (then the test is skipped, except in CI).
fn broker_url() -> Option<String> {
    let url = std::env::var("VERDICT_AMQP_TEST_URL").ok();
    if url.is_none() {
        assert!(std::env::var_os("VERDICT_REQUIRE_AMQP").is_none(), "VERDICT_AMQP_TEST_URL is not set");
        eprintln!("skipping: no VERDICT_AMQP_TEST_URL (a RabbitMQ to test against)");
    }
    url
}

/// A queue of our own bound to `topic` on `amq.topic`.
struct Listener {
    rt: tokio::runtime::Runtime,
    conn: Connection,
    channel: amqprs::channel::Channel,
    queue: String,
}

impl Listener {
    fn bind(url: &str, topic: &str) -> Listener {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut args = OpenConnectionArguments::try_from(url).unwrap();
        if url.ends_with("/%2f") || url.ends_with("/%2F") {
            args.virtual_host("/");
        }
        let (conn, channel, queue) = rt.block_on(async {
            let conn = Connection::open(&args).await.unwrap();
            let channel = conn.open_channel(None).await.unwrap();
            let (queue, _, _) =
                channel.queue_declare(QueueDeclareArguments::exclusive_server_named()).await.unwrap().unwrap();
            channel.queue_bind(QueueBindArguments::new(&queue, "amq.topic", topic)).await.unwrap();
            (conn, channel, queue)
        });
        Listener { rt, conn, channel, queue }
    }

    /// The next `n` messages: body and message type.
    fn receive(&self, n: usize) -> Vec<(Value, String)> {
        let mut got: Vec<(Value, String)> = Vec::new();
        let start = Instant::now();
        while got.len() < n {
            assert!(start.elapsed() < Duration::from_secs(30), "messages did not arrive: {got:?}");
            let get = self.channel.basic_get(BasicGetArguments::new(&self.queue).no_ack(true).finish());
            match self.rt.block_on(get).unwrap() {
                Some((_, props, body)) => got
                    .push((serde_json::from_slice(&body).unwrap(), props.message_type().cloned().unwrap_or_default())),
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        got
    }

    fn close(self) {
        self.rt.block_on(async {
            let _ = self.channel.close().await;
            let _ = self.conn.close().await;
        });
    }
}

#[test]
fn results_are_published_as_upstream_messages() {
    let Some(url) = broker_url() else { return };
    let _broker = crate::consume::broker_shared();
    let listener = Listener::bind(&url, "resultsdb.result.new");
    let s = TestServer::start_with(&["--amqp", &url]);
    let posted: Vec<Value> = ["PASSED", "PASSED", "FAILED"]
        .iter()
        .map(|o| s.result(json!({"testcase": "amqp.t", "outcome": o, "data": {"item": "pkg-1"}})))
        .collect();
    let got = listener.receive(posted.len());
    let bodies: Vec<Value> = got.iter().map(|(b, _)| b.clone()).collect();
    assert_eq!(bodies, posted, "the body is the result exactly as the API returns it");
    let kinds: Vec<&str> = got.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(kinds, ["result.first", "result.repeated", "result.changed"]);
    listener.close();
}

#[test]
fn quarantines_are_published() {
    let Some(url) = broker_url() else { return };
    let _broker = crate::consume::broker_shared();
    let listener = Listener::bind(&url, "verdict.quarantine.#");
    let s = TestServer::start_with(&["--amqp", &url, "--auth", "dummy"]);
    let auth = ("Authorization", "Basic YWxpY2U6eA=="); // alice:x
    let made = s.post_raw(
        "/api/verdict/v1/quarantines",
        &json!({"testcase": "dist.rpm*", "reason": "mirror flakes"}).to_string(),
        &[auth, ("Content-Type", "application/json")],
    );
    assert_eq!(made.status, 201, "{}", made.text);
    let got = listener.receive(1);
    assert_eq!(got[0].0["id"], made.json["id"], "{got:?}");
    assert_eq!(got[0].0["reason"], "mirror flakes");
    listener.close();
}
