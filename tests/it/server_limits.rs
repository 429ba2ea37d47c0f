//! Clients must not take the server down: size caps on results (a million-string
//! `data.arch` was accepted and rendered to 8.9 MB), clients that never read (RSS grew
//! until the kernel killed the server), silent sockets (1,100 stalled every client for
//! 35 s), and SIGTERM with an event stream open (the server never exited).

use crate::support::{TestServer, run_cli};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Generous bound on any wait, only so that a broken server fails the test instead of
/// hanging it.
const HANG: Duration = Duration::from_secs(15);

/// Raw TCP connections with a chosen local address and receive buffer (tokio's socket
/// builder, blocking std streams out).
struct Net(tokio::runtime::Runtime);

impl Net {
    fn new() -> Net {
        Net(tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
    }

    /// Connects from `local` (any 127/8 address routes to the loopback on Linux).
    fn connect(&self, local: &str, server: SocketAddr, recv_buffer: Option<u32>) -> TcpStream {
        self.0.block_on(async {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            if let Some(n) = recv_buffer {
                sock.set_recv_buffer_size(n).unwrap();
            }
            sock.bind(format!("{local}:0").parse().unwrap()).unwrap();
            let s = tokio::time::timeout(HANG, sock.connect(server)).await.expect("connect hung").unwrap();
            let s = s.into_std().unwrap();
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(HANG)).unwrap();
            s
        })
    }
}

/// Reads one HTTP/1.1 response with a Content-Length body: (status, head, body).
fn read_response(s: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).expect("response head"), 1, "connection closed before a response");
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let status = head[9..12].parse().unwrap();
    let len: usize = content_length(&head);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (status, head, body)
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0)
}

fn send_get(s: &mut TcpStream, path: &str) {
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
}

fn get(s: &mut TcpStream, path: &str) -> (u16, Vec<u8>) {
    send_get(s, path);
    let (status, _, body) = read_response(s);
    (status, body)
}

/// True once the peer has closed the connection (reads reach EOF), within `HANG`.
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut sink = [0u8; 65536];
    loop {
        match s.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Resident memory of a process, and its peak, in bytes.
fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb = |key: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

/// Lets this test process hold thousands of sockets even where the soft limit is 1024.
fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only touch the struct passed by pointer.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

/// The result that renders largest under the default caps: astral characters render as
/// 12-byte `\ud83d\ude00` escapes, in every field at its character limit.
fn largest_result(name_seed: usize) -> Value {
    let big = |n: usize| "😀".repeat(n);
    let mut name = big(1023);
    name.push(char::from(b'a' + u8::try_from(name_seed % 26).unwrap()));
    let data: serde_json::Map<String, Value> = (0..4).map(|i| (format!("k{i}"), json!(big(8190)))).collect();
    let groups: Vec<String> = (0..64).map(|i| format!("{name_seed:04}-{i:031}")).collect();
    json!({"testcase": name, "outcome": "PASSED", "note": big(8192), "ref_url": big(8192),
           "groups": groups, "data": data})
}

#[test]
fn results_over_a_cap_are_refused_naming_the_field_and_the_limit() {
    let s = TestServer::start_with(&["--max-values-per-key", "3"]);
    let arch: Vec<String> = (0..1_000_000).map(|i| format!("a{i}")).collect();
    let r = s.post("/api/v2.0/results", &json!({"testcase": "t", "outcome": "PASSED", "data": {"arch": arch}}));
    assert_eq!(r.status, 400, "{}", &r.text[..r.text.len().min(300)]);
    assert!(r.text.len() < 2000, "the error must not echo the input: {} bytes", r.text.len());
    let e = &r.json["validation_error"][0];
    assert_eq!(e["loc"], json!(["data", "arch"]));
    assert_eq!(e["type"], "too_long");
    assert_eq!(e["msg"], "List should have at most 3 items after validation, not 1000000");

    let r = s.post("/api/v2.0/results", &json!({"testcase": "t", "outcome": "PASSED", "note": "n".repeat(8193)}));
    assert_eq!(r.status, 400);
    assert_eq!(r.json["validation_error"][0]["loc"], json!(["note"]));
    assert_eq!(r.json["validation_error"][0]["msg"], "String should have at most 8192 characters");
    let r = s.post("/api/v2.0/testcases", &json!({"name": "x".repeat(1025)}));
    assert_eq!(r.status, 400);
    assert_eq!(r.json["validation_error"][0]["loc"], json!(["name"]));
    // The largest result the default caps allow is stored; nothing over a cap was.
    s.result(largest_result(0));
    s.result(json!({"testcase": "t", "outcome": "PASSED", "data": {"arch": ["x86_64", "noarch", "i686"]}}));
    assert_eq!(s.count(), 2);
}

#[test]
fn submit_and_ingest_apply_the_same_caps() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db").to_string_lossy().into_owned();
    let record = json!({"testcase": "t", "outcome": "PASSED", "data": {"arch": ["a", "b", "c"]}}).to_string();
    let (code, _, err) = run_cli(&["submit", "--db", &db, "--max-values-per-key", "2", "-"], Some(&record));
    assert_eq!(code, 1);
    assert!(err.contains("data.arch") && err.contains("at most 2 items"), "{err}");
    let file = dir.path().join("r.json");
    std::fs::write(&file, &record).unwrap();
    let (code, out, _) = run_cli(&["ingest", "--db", &db, "--max-values", "2", file.to_str().unwrap()], None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("at most 2 values in total"), "{out}");
    let (code, out, err) = run_cli(&["ingest", "--db", &db, file.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn many_clients_that_never_read_keep_memory_bounded_and_others_answered() {
    raise_fd_limit();
    let s = TestServer::start_with(&["--max-response-memory", "4000000"]);
    let id = s.result(largest_result(0))["id"].as_i64().unwrap();
    let net = Net::new();
    let path = format!("/api/v2.0/results/{id}");
    let mut probe = net.connect("127.0.0.2", s.addr(), None);
    let (status, body) = get(&mut probe, &path);
    assert_eq!(status, 200);
    eprintln!("largest allowed result renders to {} bytes", body.len());
    // 200 clients ask for it with a tiny receive window and never read.
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut c = net.connect("127.0.0.1", s.addr(), Some(4096));
        send_get(&mut c, &path);
        stalled.push(c);
    }
    // Each response has been rendered once its first byte arrived.
    for c in &stalled {
        assert_eq!(c.peek(&mut [0u8; 1]).unwrap(), 1);
    }
    // Normal requests still answer (each waits until the server got to it).
    for _ in 0..5 {
        let mut c = net.connect("127.0.0.2", s.addr(), None);
        assert_eq!(get(&mut c, "/api/v2.0/healthcheck").0, 200);
    }
    let (now, peak) = rss(s.pid());
    eprintln!("server RSS with 200 non-readers: {} MB (peak {} MB)", now >> 20, peak >> 20);
    assert!(peak < 512 << 20, "peak RSS {peak} bytes");

    // Large bodies draw on the response memory budget (here 4 MB): while one 10 MB page
    // waits for a client that does not read, another gets 503, small ones still answer.
    for seed in 1..16 {
        s.result(largest_result(seed));
    }
    let mut hog = net.connect("127.0.0.1", s.addr(), Some(4096));
    send_get(&mut hog, "/api/v2.0/results?limit=16");
    assert_eq!(hog.peek(&mut [0u8; 1]).unwrap(), 1);
    let mut c = net.connect("127.0.0.2", s.addr(), None);
    assert_eq!(get(&mut c, "/api/v2.0/healthcheck").0, 200);
    send_get(&mut c, "/api/v2.0/results?limit=16");
    let (status, head, _) = read_response(&mut c);
    assert_eq!(status, 503, "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after: 1"), "{head}");
    drop(stalled);
}

#[test]
fn a_client_that_does_not_read_is_dropped_after_the_write_timeout() {
    let s = TestServer::start_with(&["--write-timeout", "1"]);
    for seed in 0..16 {
        s.result(largest_result(seed));
    }
    let net = Net::new();
    let mut c = net.connect("127.0.0.1", s.addr(), Some(4096));
    send_get(&mut c, "/api/v2.0/results?limit=16");
    // Read nothing for well past the write timeout, then everything there is.
    std::thread::sleep(Duration::from_secs(5));
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
    let sent = got.len() - head_end;
    let len = content_length(&head);
    eprintln!("the stalled client got {sent} of {len} bytes before the server dropped it");
    assert!(len > 4 << 20, "the page must be larger than socket buffers: {len}");
    assert!(sent < len, "the server kept the response for a client that did not read");
}

#[test]
fn silent_sockets_from_one_address_do_not_starve_other_clients() {
    raise_fd_limit();
    // A long idle timeout: only the caps and shedding may keep the server available.
    let s = TestServer::start_with(&["--idle-timeout", "60"]);
    let net = Net::new();
    let silent: Vec<TcpStream> = (0..2000).map(|_| net.connect("127.0.0.1", s.addr(), None)).collect();
    for _ in 0..20 {
        let mut c = net.connect("127.0.0.2", s.addr(), None);
        assert_eq!(get(&mut c, "/api/v2.0/healthcheck").0, 200);
    }
    // The silent address itself gets in too: its longest-idle socket makes room.
    let mut c = net.connect("127.0.0.1", s.addr(), None);
    assert_eq!(get(&mut c, "/api/v2.0/healthcheck").0, 200);
    drop(silent);
}

#[test]
fn a_full_server_sheds_idle_connections_for_working_clients() {
    let s =
        TestServer::start_with(&["--max-connections", "16", "--max-connections-per-ip", "0", "--idle-timeout", "60"]);
    let net = Net::new();
    let mut kept_alive = net.connect("127.0.0.1", s.addr(), None);
    assert_eq!(get(&mut kept_alive, "/api/v2.0/healthcheck").0, 200);
    std::thread::sleep(Duration::from_millis(50)); // idle longer than any socket opened next
    let silent: Vec<TcpStream> = (0..64).map(|_| net.connect("127.0.0.1", s.addr(), None)).collect();
    for _ in 0..10 {
        let mut c = net.connect("127.0.0.2", s.addr(), None);
        assert_eq!(get(&mut c, "/api/v2.0/healthcheck").0, 200);
    }
    // The idle keep-alive connection was among the first shed.
    assert!(closed_by_server(&mut kept_alive));
    drop(silent);
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_idle_timeout() {
    let s = TestServer::start_with(&["--idle-timeout", "1"]);
    let net = Net::new();
    let mut silent = net.connect("127.0.0.1", s.addr(), None);
    assert!(closed_by_server(&mut silent));
    let mut idle = net.connect("127.0.0.1", s.addr(), None);
    assert_eq!(get(&mut idle, "/api/v2.0/healthcheck").0, 200);
    assert!(closed_by_server(&mut idle), "an idle keep-alive connection is closed too");
}

/// Sends a POST head expecting a body of `len` bytes and waits until the handler asks for
/// the body (`100 Continue`): from then on the request is in flight.
fn start_post(net: &Net, s: &TestServer, len: usize) -> TcpStream {
    let mut post = net.connect("127.0.0.1", s.addr(), None);
    write!(post, "POST /api/v2.0/results HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n").unwrap();
    write!(post, "Expect: 100-continue\r\nContent-Length: {len}\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut post).0, 100);
    post
}

#[test]
fn sigterm_ends_event_streams_finishes_requests_and_exits_zero() {
    let mut s = TestServer::start();
    let net = Net::new();
    let mut events = net.connect("127.0.0.1", s.addr(), None);
    send_get(&mut events, "/api/v2.0/events");
    let mut head = [0u8; 12];
    events.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let mut idle = net.connect("127.0.0.1", s.addr(), None);
    assert_eq!(get(&mut idle, "/api/v2.0/healthcheck").0, 200);
    // A POST in flight: the handler waits for its body (it asked for it: 100 Continue)
    // and half of it arrived before the signal.
    let body = json!({"testcase": "in.flight", "outcome": "PASSED"}).to_string();
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let mut post = start_post(&net, &s, body.len());
    post.write_all(first).unwrap();

    s.signal(libc::SIGTERM);
    assert!(closed_by_server(&mut events), "the event stream ends");
    assert!(closed_by_server(&mut idle), "the idle keep-alive connection is closed");
    post.write_all(rest).unwrap();
    let (status, _, answer) = read_response(&mut post);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
    let exit = s.wait_exit(Duration::from_secs(20)).expect("the server did not exit after SIGTERM");
    assert_eq!(exit.code(), Some(0));
    // The answered write is durable.
    let (code, out, _) = run_cli(&["query", "--db", s.db.to_str().unwrap(), "--testcase", "in.flight"], None);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn a_second_signal_exits_at_once() {
    let mut s = TestServer::start_with(&["--shutdown-timeout", "600", "--body-timeout", "600"]);
    let net = Net::new();
    // A request that stays in flight: its body never arrives.
    let mut post = start_post(&net, &s, 100);
    post.write_all(b"{").unwrap();
    let mut idle = net.connect("127.0.0.1", s.addr(), None);
    assert_eq!(get(&mut idle, "/api/v2.0/healthcheck").0, 200);
    s.signal(libc::SIGTERM);
    assert!(closed_by_server(&mut idle), "shutdown began");
    s.signal(libc::SIGINT);
    let exit = s.wait_exit(Duration::from_secs(20)).expect("the server did not exit after a second signal");
    assert_eq!(exit.code(), Some(130));
}
