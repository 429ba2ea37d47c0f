//! The README's shell examples run as written: every ```sh block, in order, in one working
//! directory holding a copy of `examples/`, with the built `verdict` first on the PATH and a
//! server started the way the example starts it (`verdict serve …` lines; before the first
//! block, the plain `verdict serve` of the README's opening). Only the port differs:
//! `127.0.0.1:5001` becomes a free one. `curl` fails on an HTTP error (`--fail-with-body`),
//! so an example that answers 4xx fails the test. A block that cannot run here says why in
//! a `<!-- readme-test: skip REASON -->` line right above it.

use crate::support::verdict_bin;
use std::path::Path;
use std::process::Command;

struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    text: String,
    skip: Option<String>,
}

fn blocks(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "```sh" {
            let skip = lines[..i]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .and_then(|l| l.trim().strip_prefix("<!-- readme-test: skip"))
                .map(|r| r.trim_end_matches("-->").trim().to_owned());
            let start = i;
            let mut text = String::new();
            i += 1;
            while i < lines.len() && lines[i].trim() != "```" {
                text.push_str(lines[i]);
                text.push('\n');
                i += 1;
            }
            out.push(Block { line: start + 1, text, skip });
        }
        i += 1;
    }
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Defines `serve` (restarts the background server on the test's port and waits until it
/// answers) and a failing `curl`; `verdict serve` lines of a block call `serve`.
fn prelude(port: u16, bin_dir: &Path) -> String {
    format!(
        r#"set -euo pipefail
export PATH="{bin}:$PATH"
curl() {{ command curl --silent --show-error --fail-with-body "$@"; }}
serve() {{
  if [ -f .server.pid ]; then
    pid=$(cat .server.pid); kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  fi
  verdict serve --listen 127.0.0.1:{port} "$@" >>server.log 2>&1 &
  echo $! > .server.pid
  for _ in $(seq 1 200); do command curl -sf http://127.0.0.1:{port}/livez >/dev/null && return 0; sleep 0.05; done
  echo "the server did not start:"; tail -20 server.log; return 1
}}
"#,
        bin = bin_dir.display()
    )
}

fn script_of(block: &str, port: u16) -> String {
    block
        .lines()
        .map(|l| match l.trim_start().strip_prefix("verdict serve") {
            Some(args) if args.is_empty() || args.starts_with(' ') => format!("serve{args}"),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace("127.0.0.1:5001", &format!("127.0.0.1:{port}"))
}

#[test]
fn readme_shell_examples_run_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root.join("examples"), &dir.path().join("examples"));
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    std::os::unix::fs::symlink(std::fs::canonicalize(verdict_bin()).unwrap(), bin_dir.join("verdict")).unwrap();
    std::fs::write(dir.path().join("empty.toml"), "").unwrap();
    let port = free_port();
    let run = |script: &str| {
        Command::new("bash")
            .arg("-c")
            .arg(format!("{}\n{script}", prelude(port, &bin_dir)))
            .current_dir(dir.path())
            .env_remove("VERDICT_DB")
            .env_remove("VERDICT_URL")
            .env_remove("VERDICT_TOKEN")
            // An empty config file: as on a machine without /etc/verdict/verdict.toml
            // (which `serve` would read), whatever this one has.
            .env("VERDICT_CONFIG", dir.path().join("empty.toml"))
            .output()
            .unwrap()
    };
    let _stop = StopServer(dir.path().join(".server.pid"));
    let started = run("serve");
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stdout));
    let all = blocks(&readme);
    assert!(all.len() >= 8, "found only {} sh blocks in README.md", all.len());
    let mut ran = 0;
    for b in all.iter().filter(|b| b.skip.is_none()) {
        let out = run(&script_of(&b.text, port));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            panic!(
                "README.md line {}: the example failed:\n{}\n--- output:\n{text}\n--- server log (tail):\n{}",
                b.line,
                b.text,
                tail(&log)
            );
        }
        ran += 1;
    }
    if let Some(b) = all.iter().find(|b| b.skip.as_deref() == Some("")) {
        panic!("README.md line {}: a skipped example must say why", b.line);
    }
    assert!(ran >= 6, "only {ran} examples ran");
}

/// Stops the background server however the test ends.
struct StopServer(std::path::PathBuf);

impl Drop for StopServer {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
