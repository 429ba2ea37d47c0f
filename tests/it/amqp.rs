//! `--amqp URL` against a real RabbitMQ on loopback (`.ci/run` installs and starts one and
//! sets VERDICT_AMQP_TEST_URL; locally the test is skipped without it).

use crate::support::TestServer;
use amqprs::channel::{BasicGetArguments, QueueBindArguments, QueueDeclareArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[test]
fn results_are_published_as_upstream_messages() {
    let Ok(url) = std::env::var("VERDICT_AMQP_TEST_URL") else {
        assert!(std::env::var_os("VERDICT_REQUIRE_AMQP").is_none(), "VERDICT_AMQP_TEST_URL is not set");
        eprintln!("skipping: no VERDICT_AMQP_TEST_URL (a RabbitMQ to test against)");
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut args = OpenConnectionArguments::try_from(url.as_str()).unwrap();
    if url.ends_with("/%2f") || url.ends_with("/%2F") {
        args.virtual_host("/");
    }
    let (conn, channel, queue) = rt.block_on(async {
        let conn = Connection::open(&args).await.unwrap();
        let channel = conn.open_channel(None).await.unwrap();
        let (queue, _, _) =
            channel.queue_declare(QueueDeclareArguments::exclusive_server_named()).await.unwrap().unwrap();
        channel.queue_bind(QueueBindArguments::new(&queue, "amq.topic", "resultsdb.result.new")).await.unwrap();
        (conn, channel, queue)
    });
    let s = TestServer::start_with(&["--amqp", &url]);
    let posted: Vec<Value> = ["PASSED", "PASSED", "FAILED"]
        .iter()
        .map(|o| s.result(json!({"testcase": "amqp.t", "outcome": o, "data": {"item": "pkg-1"}})))
        .collect();
    let mut got: Vec<(Value, String)> = Vec::new();
    let start = Instant::now();
    while got.len() < posted.len() {
        assert!(start.elapsed() < Duration::from_secs(30), "messages did not arrive: {got:?}");
        match rt.block_on(channel.basic_get(BasicGetArguments::new(&queue).no_ack(true).finish())).unwrap() {
            Some((_, props, body)) => {
                got.push((serde_json::from_slice(&body).unwrap(), props.message_type().cloned().unwrap_or_default()))
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let bodies: Vec<Value> = got.iter().map(|(b, _)| b.clone()).collect();
    assert_eq!(bodies, posted, "the body is the result exactly as the API returns it");
    let kinds: Vec<&str> = got.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(kinds, ["result.first", "result.repeated", "result.changed"]);
    rt.block_on(async {
        let _ = channel.close().await;
        let _ = conn.close().await;
    });
}
