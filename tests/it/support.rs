//! Test helpers: `TestServer` runs the real `verdict serve` binary on a free port with a
//! temporary store; `Resp` is a decoded HTTP answer.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub fn verdict_bin() -> &'static str {
    env!("CARGO_BIN_EXE_verdict")
}

/// An HTTP response: status, headers, raw body text and the body as JSON (Null if not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub text: String,
    pub json: Value,
    pub headers: Vec<(String, String)>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// The `data` list of an envelope.
    pub fn data(&self) -> &Vec<Value> {
        self.json["data"].as_array().expect("data array")
    }
    /// Ids of the results in `data`, in order.
    pub fn ids(&self) -> Vec<i64> {
        self.data().iter().map(|r| r["id"].as_i64().unwrap()).collect()
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into()
}

pub fn into_resp(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
    let mut r = r.expect("HTTP request failed");
    let status = r.status().as_u16();
    let headers =
        r.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp { status, text, json, headers }
}

/// A running `verdict serve` process with its own temporary store.
pub struct TestServer {
    child: Child,
    pub base: String,
    /// The store: a file, or a PostgreSQL URL when the suite runs on PostgreSQL.
    pub db: PathBuf,
    _dir: Option<tempfile::TempDir>,
    /// The scratch database of a server on PostgreSQL (dropped after the server stops).
    _pg: Option<ScratchDb>,
}

/// Whether the suite runs its servers on PostgreSQL (`VERDICT_TEST_BACKEND=postgres`)
/// instead of a temporary SQLite file.
pub fn on_postgres() -> bool {
    std::env::var("VERDICT_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// The PostgreSQL server to test against (a superuser URL), if one is configured; with
/// `VERDICT_REQUIRE_POSTGRES` set a missing one fails the test instead of skipping it.
pub fn postgres_admin_url() -> Option<String> {
    let url = std::env::var("VERDICT_TEST_POSTGRES_URL").ok();
    if url.is_none() {
        assert!(
            std::env::var_os("VERDICT_REQUIRE_POSTGRES").is_none() && !on_postgres(),
            "VERDICT_TEST_POSTGRES_URL is not set"
        );
        eprintln!("skipping: no VERDICT_TEST_POSTGRES_URL (a PostgreSQL server to test against)");
    }
    url
}

/// A setting naming a part of the PostgreSQL test server (its CA, its socket directory).
/// `None` (the test does not run) only where PostgreSQL is not required.
pub fn postgres_setting(var: &str, what: &str) -> Option<String> {
    let value = std::env::var(var).ok();
    if value.is_none() {
        assert!(std::env::var_os("VERDICT_REQUIRE_POSTGRES").is_none(), "{var} is not set");
        eprintln!("not run: no {var} ({what})");
    }
    value
}

/// Polls `f` until it holds (generous timeout: this is not a speed test).
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `url` with its database name replaced by `db`.
pub fn url_for(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A fresh, empty PostgreSQL database on the test server, dropped with this value.
pub struct ScratchDb {
    pub url: String,
    admin: String,
    pub name: String,
}

impl ScratchDb {
    pub fn new(admin: &str) -> ScratchDb {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("verdict_t{}_{n}", std::process::id());
        psql(admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        psql(admin, &format!("CREATE DATABASE {name}"));
        ScratchDb { url: url_for(admin, &name), admin: admin.to_owned(), name }
    }

    /// Keeps the database after this value is gone (a store a test reopens later).
    pub fn keep(self) -> String {
        let url = self.url.clone();
        std::mem::forget(self);
        url
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([self.admin.as_str(), "-qc", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs one SQL statement with psql on `url`; panics with psql's message if it fails.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql").args([url, "-qtAc", sql]).output().expect("run psql");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(&[])
    }

    /// Starts the server with extra `serve` arguments on a fresh temp store.
    pub fn start_with(args: &[&str]) -> TestServer {
        if on_postgres() {
            let admin = postgres_admin_url().expect("VERDICT_TEST_POSTGRES_URL");
            let pg = ScratchDb::new(&admin);
            let mut s = Self::start_on(Path::new(&pg.url), args);
            s._pg = Some(pg);
            return s;
        }
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("verdict.db");
        let mut s = Self::start_on(&db, args);
        s._dir = Some(dir);
        s
    }

    /// Starts the server on a fresh temporary SQLite file whatever the suite's backend: for
    /// tests of the file itself (its upgrades from older schemas, `backup`, reading it with
    /// SQLite beside the server).
    pub fn start_sqlite(args: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Self::start_on(&dir.path().join("verdict.db"), args);
        s._dir = Some(dir);
        s
    }

    /// Starts the server on an existing store path (kept by the caller).
    pub fn start_on(db: &Path, args: &[&str]) -> TestServer {
        Self::spawn(db, args, "error", Stdio::inherit(), &[])
    }

    /// Starts the server on `db` with extra environment variables (test hooks).
    pub fn start_env(db: &Path, env: &[(&str, &str)]) -> TestServer {
        Self::spawn(db, &[], "error", Stdio::inherit(), env)
    }

    /// Starts the server with all logging (`trace`) written to `log`.
    pub fn start_logged(db: &Path, args: &[&str], log: &Path) -> TestServer {
        Self::spawn(db, args, "trace", Stdio::from(std::fs::File::create(log).unwrap()), &[])
    }

    fn spawn(db: &Path, args: &[&str], level: &str, stderr: Stdio, env: &[(&str, &str)]) -> TestServer {
        let mut child = Command::new(verdict_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .args(args)
            .env("VERDICT_LOG", level)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn verdict serve");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("verdict listening on ")
            .unwrap_or_else(|| panic!("unexpected: {line:?}"))
            .to_owned();
        TestServer { child, base, db: db.to_owned(), _dir: None, _pg: None }
    }

    /// The server's process id (for signals and /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.base.split_once("://").map_or(self.base.as_str(), |(_, a)| a).parse().unwrap()
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill only sends a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits up to `limit` for the server to exit; its status, or None if it still runs.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn get(&self, path: &str) -> Resp {
        into_resp(agent().get(&self.url(path)).call())
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = agent().get(&self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        into_resp(req.call())
    }

    pub fn post_raw(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = agent().post(&self.url(path)).header("Content-Type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        into_resp(req.send(body))
    }

    /// POSTs `body` with the given Content-Type (or none at all).
    pub fn post_raw_typed(&self, path: &str, body: &str, content_type: Option<&str>) -> Resp {
        let mut req = agent().post(&self.url(path));
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        into_resp(req.send(body))
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.post_raw(path, &body.to_string(), &[])
    }

    /// POSTs a result and asserts 201; returns the created result JSON.
    pub fn result(&self, body: Value) -> Value {
        let r = self.post("/api/v2.0/results", &body);
        assert_eq!(r.status, 201, "{}", r.text);
        r.json
    }

    /// Number of stored results (walks the API).
    pub fn count(&self) -> usize {
        let mut n = 0;
        let mut page = 0;
        loop {
            let r = self.get(&format!("/api/v2.0/results?limit=1000&page={page}"));
            n += r.data().len();
            if r.json["next"].is_null() {
                return n;
            }
            page += 1;
        }
    }

    /// Kills the server and waits for it; returns its temp dir (if it owns one) so the
    /// store outlives the process.
    pub fn stop(mut self) -> Option<tempfile::TempDir> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The database outlives the server as a temp dir would (the test reopens it).
        if let Some(pg) = self._pg.take() {
            pg.keep();
        }
        self._dir.take()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the verdict CLI; returns (exit code, stdout, stderr).
pub fn run_cli(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    run_cli_env(args, &[], stdin)
}

/// [`run_cli`] with extra environment variables.
pub fn run_cli_env(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(verdict_bin())
        .args(args)
        .envs(env.iter().copied())
        .env("VERDICT_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        // A command that refuses its arguments exits without reading its input: a broken
        // pipe then is its answer, not the test's failure.
        match child.stdin.take().unwrap().write_all(s.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.unwrap(),
        }
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Reads an HTTP request head from `conn` (a test's hand-written peer); returns its path.
pub fn read_request_path(conn: &mut impl std::io::Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    head.split_whitespace().nth(1).unwrap_or("/").to_owned()
}

/// The first `n` lines of the server's event stream, from its beginning.
pub fn first_event_lines(s: &TestServer, n: usize) -> Vec<String> {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_per_read(Some(std::time::Duration::from_secs(20))).build().into();
    let resp = agent.get(&s.url("/api/v2.0/events")).header("Last-Event-ID", "0").call().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(resp.into_body().into_reader()));
    (0..n).map(|_| lines.next().unwrap().unwrap()).collect()
}

/// A program in one of the Python venvs `tests/python/setup-venv.sh` makes (`venv` is its
/// directory, `bin` the program), or None when the venv is missing: then the caller skips
/// locally, and fails under `VERDICT_REQUIRE_PYTHON=1` (CI).
pub fn venv_program(venv: &str, bin: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(venv).join("bin").join(bin);
    if path.exists() {
        return Some(path);
    }
    assert!(std::env::var_os("VERDICT_REQUIRE_PYTHON").is_none(), "{venv} missing: run tests/python/setup-venv.sh");
    eprintln!("skipping: no {venv} (run tests/python/setup-venv.sh)");
    None
}
