//! HTTPS served by verdict itself (`serve --tls-cert/--tls-key`): requests over TLS from a
//! client that trusts the test's self-signed certificate, absolute URLs that say https,
//! plain HTTP refused on that port, a client that stalls in the handshake dropped (it must
//! not hold a connection slot), the header timeout and graceful shutdown over TLS, bad
//! certificate or key files named at start-up, and `--url` commands and peers with
//! `--ca-cert` / `--peer-ca-cert`.

use crate::support::{TestServer, into_resp, run_cli_env};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM files.
struct Cert {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    pem: String,
}

fn self_signed() -> Cert {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    Cert { _dir: dir, cert: cert_path, key: key_path, pem: cert.pem() }
}

impl Cert {
    fn args(&self) -> Vec<&str> {
        vec!["--tls-cert", self.cert.to_str().unwrap(), "--tls-key", self.key.to_str().unwrap()]
    }

    /// An HTTPS client that trusts only this certificate.
    fn agent(&self) -> ureq::Agent {
        let root = ureq::tls::Certificate::from_pem(self.pem.as_bytes()).unwrap();
        let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&[root])).build();
        ureq::Agent::config_builder().tls_config(tls).http_status_as_error(false).build().into()
    }
}

#[test]
fn serves_https_with_urls_that_say_https() {
    let cert = self_signed();
    let s = TestServer::start_with(&cert.args());
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);
    let agent = cert.agent();
    let ready = into_resp(agent.get(&s.url("/readyz")).call());
    assert_eq!(ready.status, 200, "{}", ready.text);
    let body = json!({"testcase": "dist.tls", "outcome": "PASSED", "data": {"item": "foo-1.0-1"}});
    let created = into_resp(
        agent.post(&s.url("/api/v2.0/results")).header("Content-Type", "application/json").send(body.to_string()),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    let href = created.json["href"].as_str().unwrap();
    assert!(href.starts_with(&format!("{}/api/v2.0/results/", s.base)), "{href}");
    // By name too: the certificate names localhost.
    let port = s.addr().port();
    let listed = into_resp(agent.get(&format!("https://localhost:{port}/api/v2.0/results?item=foo-1.0-1")).call());
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.data().len(), 1);
    // A client that does not trust the certificate is refused by its own TLS check.
    let untrusted = crate::support::agent().get(&s.url("/readyz")).call();
    assert!(untrusted.is_err(), "{untrusted:?}");
}

#[test]
fn plain_http_to_the_tls_port_gets_no_http_answer() {
    let cert = self_signed();
    let s = TestServer::start_with(&cert.args());
    let plain = format!("http://{}/readyz", s.addr());
    assert!(crate::support::agent().get(&plain).call().is_err(), "plain HTTP was answered");
    let mut sock = TcpStream::connect(s.addr()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    sock.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let _ = sock.read_to_end(&mut got); // closed by the server (EOF or reset)
    assert!(!got.starts_with(b"HTTP/"), "{:?}", String::from_utf8_lossy(&got));
}

/// Waits until the server closes `sock` (EOF, reset or a failed write), sending `trickle`
/// one byte at a time meanwhile; panics if it is still open after 300 tries.
fn closed_by_server(sock: &mut TcpStream, trickle: &[u8]) {
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut bytes = trickle.iter().cycle();
    for _ in 0..300 {
        let mut buf = [0u8; 256];
        match sock.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {} // a TLS alert, then the close
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
        if let Some(b) = bytes.next()
            && sock.write_all(&[*b]).is_err()
        {
            return;
        }
    }
    panic!("the server kept a stalled TLS handshake open");
}

/// The start of a TLS record holding a ClientHello that claims 16000 bytes: the
/// handshake can only wait for the rest.
const HELLO_START: [u8; 9] = [0x16, 0x03, 0x01, 0x3e, 0x80, 0x01, 0x00, 0x3e, 0x7c];

#[test]
fn a_stalled_handshake_is_dropped() {
    let cert = self_signed();
    let mut args = cert.args();
    args.extend(["--idle-timeout", "1", "--header-timeout", "2"]);
    let s = TestServer::start_with(&args);
    // Silent after the first bytes: closed at the idle timeout.
    let mut silent = TcpStream::connect(s.addr()).unwrap();
    silent.write_all(&HELLO_START).unwrap();
    closed_by_server(&mut silent, &[]);
    // Trickling a byte every 200 ms is never idle: closed at the header timeout.
    let mut trickling = TcpStream::connect(s.addr()).unwrap();
    trickling.write_all(&HELLO_START).unwrap();
    closed_by_server(&mut trickling, &[0u8; 64]);
    // The server still answers.
    assert_eq!(into_resp(cert.agent().get(&s.url("/readyz")).call()).status, 200);
}

#[test]
fn a_stalled_handshake_does_not_hold_the_only_slot() {
    let cert = self_signed();
    let mut args = cert.args();
    args.extend(["--max-connections", "1"]);
    let s = TestServer::start_with(&args);
    let mut stalled = TcpStream::connect(s.addr()).unwrap();
    stalled.write_all(&HELLO_START).unwrap();
    // The new connection sheds the idle, half-shaken one instead of waiting for it.
    let ready = into_resp(cert.agent().get(&s.url("/readyz")).call());
    assert_eq!(ready.status, 200, "{}", ready.text);
    closed_by_server(&mut stalled, &[]);
}

#[test]
fn bad_certificate_or_key_files_stop_start_up_naming_the_file() {
    let cert = self_signed();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let db = db.to_str().unwrap();
    let missing = dir.path().join("missing-key.pem");
    let missing = missing.to_str().unwrap();
    let c = cert.cert.to_str().unwrap();
    let serve = ["serve", "--listen", "127.0.0.1:0", "--db", db];
    let (code, _, err) = run_cli_env(&[&serve[..], &["--tls-cert", c, "--tls-key", missing]].concat(), &[], None);
    assert_ne!(code, 0);
    assert!(err.contains(&format!("cannot read the TLS key {missing}")), "{err}");
    assert!(!std::path::Path::new(db).exists(), "a refused start-up left a store behind");
    // A certificate file as the key: PEM, but no key in it.
    let (code, _, err) = run_cli_env(&[&serve[..], &["--tls-cert", c, "--tls-key", c]].concat(), &[], None);
    assert_ne!(code, 0);
    assert!(err.contains(&format!("the TLS key {c} holds no PEM private key")), "{err}");
    // Another certificate's key.
    let other = self_signed();
    let k = other.key.to_str().unwrap();
    let (code, _, err) = run_cli_env(&[&serve[..], &["--tls-cert", c, "--tls-key", k]].concat(), &[], None);
    assert_ne!(code, 0);
    assert!(err.contains("cannot be used together"), "{err}");
    // One without the other is a usage error.
    let (code, _, err) = run_cli_env(&[&serve[..], &["--tls-cert", c]].concat(), &[], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--tls-key"), "{err}");
    // --check-config checks the pair and shows it.
    let (code, out, err) = run_cli_env(&["serve", "--tls-cert", c, "--tls-key", missing, "--check-config"], &[], None);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains(missing), "{err}");
    let key = cert.key.to_str().unwrap();
    let (code, out, err) =
        run_cli_env(&["serve", "--check-config"], &[("VERDICT_TLS_CERT", c), ("VERDICT_TLS_KEY", key)], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("tls-key = {key:?}  # environment VERDICT_TLS_KEY")), "{out}");
}

#[test]
fn url_commands_reach_an_https_server_with_ca_cert() {
    let cert = self_signed();
    let s = TestServer::start_with(&cert.args());
    s_result(&s, &cert);
    let c = cert.cert.to_str().unwrap();
    let (code, out, err) =
        run_cli_env(&["query", "--url", &s.base, "--ca-cert", c, "--testcase", "dist.tls"], &[], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dist.tls"), "{out}");
    let (code, out, err) =
        run_cli_env(&["query", "--testcase", "dist.tls"], &[("VERDICT_URL", &s.base), ("VERDICT_CA_CERT", c)], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dist.tls"), "{out}");
    // Without it the certificate is not trusted (it is in no root store).
    let (code, _, err) = run_cli_env(&["query", "--url", &s.base, "--testcase", "dist.tls"], &[], None);
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
fn peers_pull_from_an_https_server_with_peer_ca_cert() {
    let cert = self_signed();
    let s = TestServer::start_with(&cert.args());
    s_result(&s, &cert);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("copy.db");
    let db = db.to_str().unwrap();
    let c = cert.cert.to_str().unwrap();
    let (code, out, err) = run_cli_env(&["sync", &s.base, "--db", db, "--peer-ca-cert", c], &[], None);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_cli_env(&["query", "--db", db, "--testcase", "dist.tls"], &[], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dist.tls"), "{out}");
    // A serving node pulls from it the same way.
    let node = TestServer::start_with(&["--peer", &s.base, "--peer-ca-cert", c]);
    let mut pulled = 0;
    for _ in 0..300 {
        pulled = node.count();
        if pulled == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(pulled, 1, "the node did not pull over https");
    // Without it the pull fails on the certificate.
    let other = dir.path().join("other.db");
    let (code, _, err) = run_cli_env(&["sync", &s.base, "--db", other.to_str().unwrap()], &[], None);
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

fn s_result(s: &TestServer, cert: &Cert) {
    let body = json!({"testcase": "dist.tls", "outcome": "PASSED"});
    let r = into_resp(
        cert.agent()
            .post(&s.url("/api/v2.0/results"))
            .header("Content-Type", "application/json")
            .send(body.to_string()),
    );
    assert_eq!(r.status, 201, "{}", r.text);
}

#[test]
fn a_request_head_left_unfinished_after_the_handshake_is_timed_out() {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let cert = self_signed();
    let mut args = cert.args();
    // Only the header timeout can close it: the idle timeout is far away.
    args.extend(["--idle-timeout", "600", "--header-timeout", "1"]);
    let s = TestServer::start_with(&args);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(cert.pem.as_bytes()).unwrap()).unwrap();
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let sock = TcpStream::connect(s.addr()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    // The handshake completes with this first write; the head never ends.
    tls.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\n").unwrap();
    let mut got = Vec::new();
    match tls.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) => assert!(
            !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            "the server kept the unfinished head open: {e}"
        ),
    }
    assert!(!String::from_utf8_lossy(&got).contains("200 OK"), "{}", String::from_utf8_lossy(&got));
}

#[test]
fn sigterm_closes_idle_tls_connections_and_exits() {
    let cert = self_signed();
    let mut args = cert.args();
    // Were an idle TLS connection left open, shutdown would wait for it this long.
    args.extend(["--shutdown-timeout", "600", "--idle-timeout", "600"]);
    let mut s = TestServer::start_with(&args);
    let agent = cert.agent();
    assert_eq!(into_resp(agent.get(&s.url("/readyz")).call()).status, 200);
    // The agent keeps that connection open, idle; another one is mid-handshake.
    let mut half = TcpStream::connect(s.addr()).unwrap();
    half.write_all(&HELLO_START).unwrap();
    s.signal(libc::SIGTERM);
    let status = s.wait_exit(Duration::from_secs(60)).expect("the server did not exit");
    assert!(status.success(), "{status:?}");
    drop(agent);
}
