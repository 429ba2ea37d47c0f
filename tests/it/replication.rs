//! Peer replication with real processes on 127.0.0.1: mesh convergence under concurrent
//! writes, partitions with offline writes, duplicate suppression, tamper refusal, audit,
//! and kill -9 in the middle of a sync.

use crate::support::{run_cli, verdict_bin};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use verdict::store::{ReadStore, WriteStore};

const TOKEN: &str = "s3cret-peer-token";

/// A `verdict serve` on a fixed port (peers must know it before it starts).
struct Node {
    child: Child,
    port: u16,
    db: PathBuf,
}

fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    listeners.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

impl Node {
    fn start(db: &Path, port: u16, peers: &[u16], extra: &[&str]) -> Node {
        let mut cmd = Command::new(verdict_bin());
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db"]).arg(db);
        for p in peers {
            cmd.args(["--peer", &format!("http://127.0.0.1:{p}")]);
        }
        let mut child = cmd
            .args(extra)
            .env("VERDICT_PEER_TOKEN", TOKEN)
            .env("VERDICT_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("verdict listening on"), "{line:?}");
        Node { child, port, db: db.to_owned() }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let mut r = agent().get(format!("{}{path}", self.url())).call().unwrap();
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn post(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Value {
        let mut req = agent().post(format!("{}{path}", self.url())).header("Content-Type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut r = req.send(body.to_string()).unwrap();
        assert_eq!(r.status().as_u16(), 201);
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    }

    fn vv(&self) -> Value {
        self.get("/api/verdict/v1/replication").1["version_vector"].clone()
    }

    /// kill -9 and wait.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn total(vv: &Value) -> u64 {
    vv.as_object().map(|m| m.values().map(|v| v.as_u64().unwrap()).sum()).unwrap_or(0)
}

/// Waits until every node holds the same version vector with at least `entries` entries
/// in all (once writes have stopped, equal vectors mean converged: every origin's own node
/// holds all of its entries).
fn converge(nodes: &[&Node], entries: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let vvs: Vec<Value> = nodes.iter().map(|n| n.vv()).collect();
        if vvs.iter().all(|v| *v == vvs[0]) && total(&vvs[0]) >= entries {
            return;
        }
        assert!(Instant::now() < deadline, "no convergence to {entries} entries: {vvs:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An API answer with the node-local parts (numeric ids, hrefs) removed.
fn portable(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "id" | "href" | "next" | "prev"))
                .map(|(k, v)| (k.clone(), portable(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(portable).collect()),
        // Links name the node's own address.
        Value::String(t) if t.starts_with("http://127.0.0.1:") => {
            let path = t["http://127.0.0.1:".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
            Value::String(format!("BASE{path}"))
        }
        other => other.clone(),
    }
}

fn result_body(node: usize, i: usize) -> Value {
    json!({
        "testcase": if i.is_multiple_of(5) { json!({"name": format!("t{}", i % 3), "ref_url": format!("https://ci/{node}/{i}")}) } else { json!(format!("t{}", i % 3)) },
        "outcome": (["PASSED", "FAILED", "INFO"][(node + i) % 3]),
        // Distinct times: ties are ordered by the node-local id.
        "submit_time": 1_700_000_000_000i64 + (i * 10 + node) as i64,
        "groups": if i.is_multiple_of(4) { json!(["g1", {"uuid": "g2", "description": format!("d{node}-{i}")}]) } else { json!([]) },
        "data": {"item": format!("i{}", i % 4), "type": "koji_build", "arch": (["x86_64", "aarch64"][i % 2]), "node": node.to_string()},
    })
}

fn stats(db: &Path) -> String {
    let (code, out, err) = run_cli(&["stats", "--db", db.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    // The file size changes with checkpoints; everything else must not.
    out.lines().filter(|l| !l.starts_with("file size")).collect::<Vec<_>>().join("\n")
}

fn verify(db: &Path) {
    let (code, out, err) = run_cli(&["verify", "--db", db.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn three_nodes_converge_under_concurrent_writes() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let nodes: Vec<Node> = (0..3)
        .map(|i| {
            let peers: Vec<u16> = (0..3).filter(|j| *j != i).map(|j| ports[j]).collect();
            Node::start(&dir.path().join(format!("n{i}.db")), ports[i], &peers, &["--peer-page", "7"])
        })
        .collect();
    const N: usize = 40;
    std::thread::scope(|s| {
        for (k, node) in nodes.iter().enumerate() {
            s.spawn(move || {
                for i in 0..N {
                    node.post("/api/v2.0/results", &result_body(k, i), &[]);
                    if i % 10 == 3 {
                        node.post("/api/v2.0/testcases", &json!({"name": "t1", "ref_url": format!("tc-{k}-{i}")}), &[]);
                        node.post("/api/v2.0/groups", &json!({"uuid": "g1", "description": format!("g-{k}-{i}")}), &[]);
                    }
                }
                // The same request with the same idempotency key on every node (a client
                // retrying elsewhere): one result everywhere, the same one.
                node.post(
                    "/api/v2.0/results",
                    &json!({"testcase": "dup", "outcome": "PASSED"}),
                    &[("Idempotency-Key", "job-1")],
                );
            });
        }
    });
    // Per node: N results, 4 x (testcase + group) writes, and the keyed result unless it
    // arrived from a peer first.
    converge(&nodes.iter().collect::<Vec<_>>(), 3 * (N as u64 + 8) + 1);
    let dup = nodes[0].post(
        "/api/v2.0/results",
        &json!({"testcase": "dup", "outcome": "PASSED"}),
        &[("Idempotency-Key", "job-1")],
    );
    let uuid = dup["uuid"].as_str().unwrap().to_owned();
    let queries = [
        "/api/v2.0/results?limit=1000".to_owned(),
        "/api/v2.0/results?item=i1&limit=7".into(),
        "/api/v2.0/results?item=i2&limit=7&page=1".into(),
        "/api/v2.0/results?testcases:like=t*&outcome=PASSED,FAILED&limit=1000".into(),
        "/api/v2.0/results?groups=g1&limit=1000".into(),
        "/api/v2.0/results/latest".into(),
        "/api/v2.0/results/latest?type=koji_build&_distinct_on=arch".into(),
        "/api/v2.0/testcases".into(),
        "/api/v2.0/testcases/t1".into(),
        "/api/v2.0/groups/g1".into(),
        "/api/v2.0/groups/g2".into(),
        format!("/api/v2.0/results?_uuid={uuid}"),
    ];
    for q in &queries {
        let answers: Vec<(u16, Value)> = nodes.iter().map(|n| n.get(q)).map(|(s, v)| (s, portable(&v))).collect();
        assert_eq!(answers[0].0, 200, "{q}");
        assert!(answers.iter().all(|a| *a == answers[0]), "{q} differs between nodes: {answers:#?}");
    }
    let (_, all) = nodes[1].get("/api/v2.0/results?limit=1000");
    assert_eq!(all["data"].as_array().unwrap().len(), 3 * N + 1);
    let uuids: BTreeSet<&str> = all["data"].as_array().unwrap().iter().map(|r| r["uuid"].as_str().unwrap()).collect();
    assert_eq!(uuids.len(), 3 * N + 1, "every result once");
    let (_, one) = nodes[2].get(&format!("/api/v2.0/results?_uuid={uuid}"));
    assert_eq!(one["data"].as_array().unwrap().len(), 1);
    // Peers' status, and the token on the change stream.
    let (_, st) = nodes[0].get("/api/verdict/v1/replication");
    let peers = st["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 2);
    assert!(peers.iter().all(|p| p["node"].is_string() && p["last_contact"].is_string()), "{st}");
    let (code, _) = nodes[0].get("/api/verdict/v1/changes");
    assert_eq!(code, 401);
    let r = agent()
        .get(format!("{}/api/verdict/v1/changes", nodes[0].url()))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Re-pulling everything from every peer (held entries are compared and skipped) adds
    // nothing anywhere.
    for n in &nodes {
        let before = stats(&n.db);
        for peer in nodes.iter().filter(|p| p.port != n.port) {
            let (code, out, err) = cli(&["sync", &peer.url(), "--db", n.db.to_str().unwrap(), "--full"]);
            assert_eq!(code, 0, "{err}");
            assert!(out.contains(" 0 new, "), "{out}");
        }
        assert_eq!(stats(&n.db), before);
        verify(&n.db);
    }
}

#[test]
fn partitioned_node_catches_up_and_its_offline_writes_spread() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let db = |i: usize| dir.path().join(format!("p{i}.db"));
    let peers = |i: usize| -> Vec<u16> { (0..3).filter(|j| *j != i).map(|j| ports[j]).collect() };
    let a = Node::start(&db(0), ports[0], &peers(0), &[]);
    let b = Node::start(&db(1), ports[1], &peers(1), &[]);
    let c = Node::start(&db(2), ports[2], &peers(2), &[]);
    for i in 0..10 {
        for (k, n) in [&a, &b, &c].iter().enumerate() {
            n.post("/api/v2.0/results", &result_body(k, i), &[]);
        }
    }
    converge(&[&a, &b, &c], 30);
    c.kill();
    for i in 10..20 {
        a.post("/api/v2.0/results", &result_body(0, i), &[]);
        b.post("/api/v2.0/results", &result_body(1, i), &[]);
    }
    // C keeps working offline: results submitted straight into its store.
    let offline: String = (0..5)
        .map(|i| format!("{}\n", json!({"testcase": "offline", "outcome": "PASSED", "uuid": format!("00000000-0000-4000-8000-00000000000{i}")})))
        .collect();
    let (code, _, err) = run_cli(&["submit", "--db", db(2).to_str().unwrap(), "-"], Some(&offline));
    assert_eq!(code, 0, "{err}");
    converge(&[&a, &b], 50);
    let c = Node::start(&db(2), ports[2], &peers(2), &[]);
    converge(&[&a, &b, &c], 55);
    for n in [&a, &b] {
        let (_, r) = n.get("/api/v2.0/results?_uuid=00000000-0000-4000-8000-000000000003");
        assert_eq!(r["data"][0]["testcase"]["name"], "offline");
        let (_, r) = n.get("/api/v2.0/results?testcases=offline");
        assert_eq!(r["data"].as_array().unwrap().len(), 5);
    }
    let (_, r) = c.get("/api/v2.0/results?limit=100");
    assert_eq!(r["data"].as_array().unwrap().len(), 55);
}

/// A store with `n` results of its own, made with `verdict submit` (n + 1 log entries:
/// the results and the `ingest` entry recording the input).
fn filled_store(path: &Path, n: usize, tag: &str) {
    let lines: String = (0..n)
        .map(|i| format!("{}\n", json!({"testcase": format!("{tag}.t{}", i % 7), "outcome": "PASSED", "note": format!("{tag} {i}"), "data": {"item": format!("{tag}-{}", i % 50), "type": "koji_build"}})))
        .collect();
    let (code, _, err) = run_cli(&["submit", "--db", path.to_str().unwrap(), "-"], Some(&lines));
    assert_eq!(code, 0, "{err}");
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let mut all: Vec<&str> = args.to_vec();
    if matches!(args[0], "sync" | "audit") {
        all.extend(["--peer-token", TOKEN]);
    }
    run_cli(&all, None)
}

#[test]
fn repulls_and_reimports_add_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (a_db, b_db) = (dir.path().join("a.db"), dir.path().join("b.db"));
    filled_store(&a_db, 300, "a");
    filled_store(&b_db, 120, "b");
    let ports = free_ports(1);
    let a = Node::start(&a_db, ports[0], &[], &[]);
    let b = b_db.to_str().unwrap();
    let (code, out, err) = cli(&["sync", &a.url(), "--db", b, "--page", "64"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pulled 301 entries") && out.contains("301 new"), "{out}");
    let after_first = stats(&b_db);
    let (code, out, _) = cli(&["sync", &a.url(), "--db", b]);
    assert_eq!(code, 0);
    assert!(out.contains("pulled 0 entries"), "{out}");
    // Ask for everything again: every entry is checked against the held one and skipped.
    let (code, out, _) = cli(&["sync", &a.url(), "--db", b, "--full", "--page", "100", "--no-compress"]);
    assert_eq!(code, 0);
    assert!(out.contains("pulled 301 entries") && out.contains("0 new, 301 already held"), "{out}");
    // Bundles: B's whole log into A's store twice (A is served meanwhile), A's into B.
    let bundle = dir.path().join("b.vbundle");
    let (code, out, err) = cli(&["export", "--db", b, "-o", bundle.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("exported 422 entries of 2 origin(s)"), "{out}");
    let (code, out, err) = cli(&["import", "--db", a_db.to_str().unwrap(), bundle.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("121 new, 301 already held"), "{out}");
    let a_after = stats(&a_db);
    let (code, out, _) = cli(&["import", "--db", a_db.to_str().unwrap(), bundle.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("0 new, 422 already held"), "{out}");
    assert_eq!(stats(&a_db), a_after);
    let (code, out, _) = cli(&["import", "--db", b, bundle.to_str().unwrap()]);
    assert!(code == 0 && out.contains("0 new"), "{out}");
    assert_eq!(stats(&b_db), after_first);
    // An incremental bundle: only what a store at B's version vector lacks.
    let vv = stats(&b_db).lines().find_map(|l| l.strip_prefix("version vector: ").map(str::to_owned)).unwrap();
    let (code, out, _) = cli(&["export", "--db", b, "--since", &vv, "-o", bundle.to_str().unwrap()]);
    assert!(code == 0 && out.contains("exported 0 entries"), "{out}");
    let (code, out, _) = cli(&["audit", "--db", b, "--peer", &a.url()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 in sync"), "{out}");
    verify(&a_db);
    verify(&b_db);
}

/// Serves one request per connection: the upstream change stream with one body altered.
fn tampering_proxy(upstream: String) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let path = crate::support::read_request_path(&mut conn);
            let mut r = agent()
                .get(format!("{upstream}{path}"))
                .header("Authorization", format!("Bearer {TOKEN}"))
                .header("Accept-Encoding", "identity")
                .call()
                .unwrap();
            let text = r.body_mut().read_to_string().unwrap();
            let altered = text.replacen("\"outcome\":\"PASSED\"", "\"outcome\":\"FAILED\"", 1);
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/jsonl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{altered}",
                altered.len()
            );
        }
    });
    port
}

#[test]
fn tampered_streams_and_bundles_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (a_db, b_db) = (dir.path().join("a.db"), dir.path().join("b.db"));
    filled_store(&a_db, 50, "a");
    filled_store(&b_db, 10, "b");
    let a = Node::start(&a_db, free_ports(1)[0], &[], &[]);
    let b = b_db.to_str().unwrap();
    let before = stats(&b_db);
    let proxy = tampering_proxy(a.url());
    let (code, _, err) = cli(&["sync", &format!("http://127.0.0.1:{proxy}"), "--db", b]);
    assert_eq!(code, 1);
    assert!(err.contains("refused") && err.contains("tampered"), "{err}");
    assert_eq!(stats(&b_db), before);

    // A bundle with one flipped byte (inside the zstd frame), and one whose body was
    // changed and re-compressed consistently: both refused, nothing stored.
    let bundle = dir.path().join("a.vbundle");
    let (code, _, err) = cli(&["export", "--db", a_db.to_str().unwrap(), "-o", bundle.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let good = std::fs::read(&bundle).unwrap();
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    let bad = dir.path().join("flipped.vbundle");
    std::fs::write(&bad, &flipped).unwrap();
    let (code, _, err) = cli(&["import", "--db", b, bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("refused") && err.contains("nothing was stored"), "{err}");
    let plain = String::from_utf8(zstd::decode_all(&good[..]).unwrap()).unwrap();
    let altered = plain.replacen("\"note\":\"a 7\"", "\"note\":\"a 8\"", 1);
    assert_ne!(plain, altered);
    let bad = dir.path().join("altered.vbundle");
    std::fs::write(&bad, zstd::encode_all(altered.as_bytes(), 3).unwrap()).unwrap();
    let (code, _, err) = cli(&["import", "--db", b, bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("tampered"), "{err}");
    // A bundle with its last entry cut off (truncated consistently, digest recomputed or
    // not) is refused too.
    let cut: Vec<&str> = plain.lines().collect();
    let truncated = format!("{}\n{}\n", cut[..cut.len() - 2].join("\n"), cut[cut.len() - 1]);
    std::fs::write(&bad, truncated).unwrap();
    let (code, _, err) = cli(&["import", "--db", b, bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(stats(&b_db), before);
    verify(&b_db);
    // The genuine bundle is accepted.
    let (code, out, err) = cli(&["import", "--db", b, bundle.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("51 new"), "{out}");
}

#[test]
fn audit_and_sync_detect_a_forked_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (a_db, b_db) = (dir.path().join("a.db"), dir.path().join("b.db"));
    filled_store(&a_db, 40, "a");
    // B is a copy of A (same node id) that then takes different writes: a forked chain.
    std::fs::copy(&a_db, &b_db).unwrap();
    filled_store(&a_db, 5, "x");
    filled_store(&b_db, 7, "y");
    let a = Node::start(&a_db, free_ports(1)[0], &[], &[]);
    let b = b_db.to_str().unwrap();
    let (code, out, _) = cli(&["audit", "--db", b, "--peer", &a.url()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("DIVERGED at seq 42"), "{out}");
    let before = stats(&b_db);
    let (code, _, err) = cli(&["sync", &a.url(), "--db", b]);
    assert_eq!(code, 1);
    assert!(err.contains("diverged"), "{err}");
    let bundle = dir.path().join("a.vbundle");
    let (code, _, _) = cli(&["export", "--db", a_db.to_str().unwrap(), "-o", bundle.to_str().unwrap()]);
    assert_eq!(code, 0);
    let (code, out, _) = cli(&["audit", "--db", b, "--bundle", bundle.to_str().unwrap()]);
    assert!(code == 1 && out.contains("DIVERGED at seq 42"), "{out}");
    let (code, _, err) = cli(&["import", "--db", b, bundle.to_str().unwrap()]);
    assert!(code == 1 && err.contains("diverged"), "{err}");
    assert_eq!(stats(&b_db), before);
    // A store that is merely behind audits as such.
    let c_db = dir.path().join("c.db");
    filled_store(&c_db, 3, "c");
    let (code, out, _) = cli(&["audit", "--db", c_db.to_str().unwrap(), "--peer", &a.url()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("behind by 47") && out.contains("ahead by 4"), "{out}");
}

/// Results in a store another process is writing (0 while it is not yet a store).
fn results_in(db: &Path) -> i64 {
    let store = verdict::store::Store::open_existing(db);
    store.ok().and_then(|s| s.reader().ok()).and_then(|r| r.stats().ok()).map_or(0, |s| s.results)
}

#[test]
fn kill_9_during_sync_leaves_no_gap_and_no_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let (a_db, b_db) = (dir.path().join("a.db"), dir.path().join("b.db"));
    const N: i64 = 20_000;
    filled_store(&a_db, N as usize, "a");
    let ports = free_ports(2);
    let a = Node::start(&a_db, ports[0], &[], &[]);
    // 1. The CLI sync, killed once it has imported something.
    let mut sync = Command::new(verdict_bin())
        .args(["sync", &a.url(), "--page", "200", "--peer-token", TOKEN, "--db"])
        .arg(&b_db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while results_in(&b_db) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    sync.kill().unwrap();
    sync.wait().unwrap();
    let partial = results_in(&b_db);
    eprintln!("sync killed with {partial} of {N} results imported");
    verify(&b_db);
    assert!(partial <= N);
    let (code, out, err) = cli(&["sync", &a.url(), "--db", b_db.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // The input's `ingest` entry comes after its results: new unless all were pulled.
    let new = N + 1 - partial;
    assert!(
        out.contains(&format!("{new} new, 0 already held")) || (partial == N && out.contains("0 new, 0 already held")),
        "{partial}: {out}"
    );
    assert_eq!(results_in(&b_db), N);
    // 2. A server pulling with --peer, killed during its catch-up, restarted.
    let c_db = dir.path().join("c.db");
    let c = Node::start(&c_db, ports[1], &[ports[0]], &["--peer-page", "300"]);
    while results_in(&c_db) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    c.kill();
    eprintln!("server killed with {} of {N} results pulled", results_in(&c_db));
    verify(&c_db);
    let c = Node::start(&c_db, ports[1], &[ports[0]], &[]);
    converge(&[&a, &c], N as u64);
    c.kill();
    for db in [&b_db, &c_db] {
        verify(db);
        assert_eq!(results_in(db), N);
        let (code, out, _) = cli(&["sync", &a.url(), "--db", db.to_str().unwrap(), "--full"]);
        assert!(code == 0 && out.contains("0 new"), "{out}");
    }
}

#[test]
fn one_uuid_from_two_origins_keeps_both_different_results_visible() {
    use verdict::log::{Body, Entry, Hash, Kind};
    use verdict::model::{Outcomes, ResultQuery};
    const UUID: &str = "0190a000-0000-7000-8000-000000000001";
    let body = |note: &str, time: i64| {
        let v = json!({"data": {"item": [note]}, "groups": [{"uuid": note}], "note": note, "outcome": "PASSED",
                       "submit_time": time, "testcase": {"name": "dup"}, "uuid": UUID});
        Body::decode(Kind::Result, &v.to_string()).unwrap().encode()
    };
    // Origin b sealed it with an earlier timestamp (a hostile peer could pick any), origin
    // a later: neither may hide the other.
    let a = Entry::seal(&Hash::GENESIS, "aaaa", 1, Kind::Result, 200, body("from-a", 1));
    let b = Entry::seal(&Hash::GENESIS, "bbbb", 1, Kind::Result, 100, body("from-b", 2));
    let dir = tempfile::tempdir().unwrap();
    for (i, order) in [[&a, &b], [&b, &a]].iter().enumerate() {
        let store = verdict::store::Store::open(&dir.path().join(format!("o{i}.db"))).unwrap();
        let mut w = store.writer().unwrap();
        for e in order {
            w.import(&[(*e).clone()]).unwrap();
        }
        let r = store.reader().unwrap();
        assert_eq!(r.stats().unwrap().results, 2);
        let query = |q: &str| {
            let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
            r.results(&ResultQuery::parse(&pairs, &Outcomes::default_set(), 1000).unwrap()).unwrap().len()
        };
        assert_eq!((query("item=from-b"), query("item=from-a")), (1, 1));
        assert_eq!((query("groups=from-b"), query("groups=from-a")), (1, 1));
        assert_eq!(query(&format!("_uuid={UUID}")), 2, "a query by uuid returns both");
        assert_eq!(r.conflict_count().unwrap(), 1);
        let conflicts = r.conflicts(10).unwrap();
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].0, UUID);
        assert_eq!(conflicts[0].1.len(), 2, "both result ids are reachable");
        for id in &conflicts[0].1 {
            assert!(r.result(*id).unwrap().is_some());
        }
    }
}

/// A store written by schema version 1 (one result per uuid: the later of two different
/// results was hidden) is upgraded on open: the hidden result is listed again.
#[test]
fn upgrading_a_version_1_store_lists_results_it_hid() {
    use verdict::log::{Body, Entry, Hash, Kind};
    const UUID: &str = "0190a000-0000-7000-8000-000000000003";
    let body = |note: &str| {
        let v = json!({"outcome": "PASSED", "note": note, "submit_time": 1, "testcase": {"name": "dup"}, "uuid": UUID});
        Body::decode(Kind::Result, &v.to_string()).unwrap().encode()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let store = verdict::store::Store::open(&path).unwrap();
        let mut w = store.writer().unwrap();
        w.import(&[Entry::seal(&Hash::GENESIS, "bbbb", 1, Kind::Result, 100, body("first"))]).unwrap();
        w.import(&[Entry::seal(&Hash::GENESIS, "aaaa", 1, Kind::Result, 200, body("second"))]).unwrap();
    }
    // Make it look as version 1 left it: the uuid names only the first; the second is
    // in the log but in no index.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE result_uuids; DELETE FROM uuid_conflicts;
         CREATE TABLE result_uuids(uuid BLOB PRIMARY KEY, result_id INTEGER NOT NULL) WITHOUT ROWID;
         INSERT INTO result_uuids SELECT uuid, 1 FROM (SELECT x'0190a000000070008000000000000003' AS uuid);
         DELETE FROM results WHERE id = 2;
         UPDATE meta SET value = '1' WHERE key = 'schema_version';",
    )
    .unwrap();
    drop(conn);
    let store = verdict::store::Store::open(&path).unwrap();
    let r = store.reader().unwrap();
    assert_eq!(r.stats().unwrap().results, 2);
    assert_eq!(r.conflict_count().unwrap(), 1);
    assert_eq!(r.conflicts(5).unwrap()[0].1, vec![1, 2]);
}

#[test]
fn one_uuid_from_two_origins_with_the_same_result_is_listed_once() {
    use verdict::log::{Body, Entry, Hash, Kind};
    const UUID: &str = "0190a000-0000-7000-8000-000000000002";
    // The same file ingested on two nodes: equal but for the submit time.
    let body = |time: i64| {
        let v = json!({"data": {"item": ["x"]}, "outcome": "PASSED", "submit_time": time,
                       "testcase": {"name": "dup"}, "uuid": UUID});
        Body::decode(Kind::Result, &v.to_string()).unwrap().encode()
    };
    let a = Entry::seal(&Hash::GENESIS, "aaaa", 1, Kind::Result, 200, body(1));
    let b = Entry::seal(&Hash::GENESIS, "bbbb", 1, Kind::Result, 100, body(2));
    let dir = tempfile::tempdir().unwrap();
    for (i, order) in [[&a, &b], [&b, &a]].iter().enumerate() {
        let store = verdict::store::Store::open(&dir.path().join(format!("s{i}.db"))).unwrap();
        let mut w = store.writer().unwrap();
        for e in order {
            w.import(&[(*e).clone()]).unwrap();
        }
        let r = store.reader().unwrap();
        assert_eq!(r.stats().unwrap().results, 1, "listed once");
        assert_eq!(r.conflict_count().unwrap(), 0);
        // Whichever arrived, both ids still answer (an id once given out keeps working).
        assert!(r.result(1).unwrap().is_some() && r.result(2).unwrap().is_some());
        assert_eq!(r.result_by_uuid(UUID).unwrap().unwrap().record.submit_time, 2, "the earlier-sealed one is listed");
    }
}

/// Two gating nodes pulling from each other (policies from `fixtures/policies/gating`,
/// `--auth dummy`), with a failed `dist.rpmdeplint` and a passed `compose.install` of
/// `nvr` posted to the first.
fn gating_pair(dir: &std::path::Path, nvr: &str) -> (Node, Node) {
    let ports = free_ports(2);
    let policies = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/policies/gating");
    let extra = ["--auth", "dummy", "--policies", policies.to_str().unwrap()];
    let a = Node::start(&dir.join("a.db"), ports[0], &[ports[1]], &extra);
    let b = Node::start(&dir.join("b.db"), ports[1], &[ports[0]], &extra);
    for (tc, outcome, scenario) in
        [("dist.rpmdeplint", "FAILED", None), ("compose.install", "PASSED", Some("x86_64.uefi"))]
    {
        let mut data = serde_json::json!({"item": nvr, "type": "koji_build"});
        if let Some(s) = scenario {
            data["scenario"] = serde_json::json!(s);
        }
        a.post("/api/v2.0/results", &serde_json::json!({"testcase": tc, "outcome": outcome, "data": data}), &[]);
    }
    (a, b)
}

/// `alice` under `--auth dummy`.
fn alice() -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:x"))
}

/// The node's decision for `nvr` in the gating fixtures' context.
fn decide(node: &Node, nvr: &str) -> Value {
    let decision = serde_json::json!({"subject_type": "koji_build", "subject_identifier": nvr,
        "decision_context": "bodhi_update_push_stable", "product_version": "fedora-40"});
    let mut r = agent()
        .post(format!("{}/api/v1.0/decision", node.url()))
        .header("Content-Type", "application/json")
        .send(decision.to_string())
        .unwrap();
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

/// Waivers are log entries too: they replicate, and the peer's decisions use them.
#[test]
fn waivers_replicate_and_gate_on_the_peer() {
    let dir = tempfile::tempdir().unwrap();
    let nvr = "repl-1.0-1.fc40";
    let (a, b) = gating_pair(dir.path(), nvr);
    let w = b.post(
        "/api/v1.0/waivers/",
        &serde_json::json!({"subject_type": "koji_build", "subject_identifier": nvr, "testcase": "dist.rpmdeplint",
            "product_version": "fedora-40", "waived": true, "comment": "flaky"}),
        &[("Authorization", &alice())],
    );
    assert_eq!(w["username"], "alice");
    converge(&[&a, &b], 3);
    let (_, listed) = a.get(&format!("/api/v1.0/waivers/?subject_identifier={nvr}"));
    assert_eq!(listed["data"][0]["comment"], "flaky", "{listed}");
    for node in [&a, &b] {
        let d = decide(node, nvr);
        assert_eq!(d["policies_satisfied"], true, "{d}");
    }
}

/// Quarantine rules are log entries too: created on one node, they cover the peer's
/// decisions; revoked on the other, they stop covering everywhere.
#[test]
fn quarantines_replicate_and_gate_on_the_peer() {
    let dir = tempfile::tempdir().unwrap();
    let nvr = "quar-1.0-1.fc40";
    let (a, b) = gating_pair(dir.path(), nvr);
    let auth = alice();
    let q = b.post(
        "/api/verdict/v1/quarantines",
        &serde_json::json!({"testcase": "dist.rpm*", "reason": "mirror flakes"}),
        &[("Authorization", &auth)],
    );
    let id = q["id"].as_str().unwrap_or_else(|| panic!("{q}")).to_owned();
    converge(&[&a, &b], 3);
    for node in [&a, &b] {
        let d = decide(node, nvr);
        assert_eq!(d["policies_satisfied"], true, "{d}");
        assert!(d.to_string().contains(&id), "the covering rule is named: {d}");
    }
    // Revoked on the other node, the rule stops covering on both.
    let r = agent()
        .delete(format!("{}/api/verdict/v1/quarantines/{id}", a.url()))
        .header("Authorization", &auth)
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    converge(&[&a, &b], 4);
    for node in [&a, &b] {
        assert_eq!(decide(node, nvr)["policies_satisfied"], false);
    }
}
