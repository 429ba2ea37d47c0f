//! One attempt of a check: the command in a process group of its own, its output streamed
//! to the terminal and appended to the run's log as it comes, its standard output kept for
//! parsing, and the whole group killed when it outlives `--timeout`.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most bytes of standard output kept for parsing as TAP (the ingest's largest file).
const MAX_CAPTURE: usize = crate::service::ingest::MAX_FILE as usize;

/// How long a command gets between SIGTERM and SIGKILL once its time is up.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// How long the output pipes may stay open after the command ended (a background
/// process it started may hold them): then its group is killed and the rest dropped.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this code.
    Exited(i32),
    /// A signal killed it (a crash: SIGSEGV, SIGABRT, SIGKILL by the OOM killer…).
    Signalled(i32),
    /// It outlived `--timeout` and was killed.
    TimedOut(Duration),
    /// It could not be started (the message says why).
    NotStarted(String),
}

impl Ended {
    /// Whether the command ran to its own end (whatever its exit code).
    pub fn executed(&self) -> bool {
        matches!(self, Ended::Exited(_))
    }

    /// The exit code, when it exited.
    pub fn code(&self) -> Option<i32> {
        match self {
            Ended::Exited(c) => Some(*c),
            _ => None,
        }
    }

    /// For people: `exit 0`, `killed by signal 11`, `timed out after 30s`, ….
    pub fn describe(&self) -> String {
        match self {
            Ended::Exited(c) => format!("exit {c}"),
            Ended::Signalled(s) => format!("killed by signal {s}"),
            Ended::TimedOut(t) => format!("timed out after {}s and was killed", t.as_secs_f64()),
            Ended::NotStarted(why) => why.clone(),
        }
    }
}

/// What an attempt did.
#[derive(Debug)]
pub struct Attempt {
    pub ended: Ended,
    pub duration: Duration,
    /// Its standard output (up to [`MAX_CAPTURE`] bytes).
    pub stdout: Vec<u8>,
}

/// Runs `argv` with `env` added, streaming its output to this process's and to `log`.
pub fn execute(
    argv: &[String],
    env: &[(&str, OsString)],
    timeout: Option<Duration>,
    log: &Arc<Mutex<File>>,
) -> Attempt {
    let started = Instant::now();
    let Some((program, args)) = argv.split_first() else {
        return not_started("no command given".into(), started);
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_remove("VERDICT_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return not_started(format!("cannot start {program}: {e}"), started),
    };
    let group = child.id() as i32;
    let (done, finished) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        tee(out, Box::new(std::io::stdout()), log.clone(), true, done.clone());
    }
    if let Some(err) = child.stderr.take() {
        tee(err, Box::new(std::io::stderr()), log.clone(), false, done.clone());
    }
    drop(done);
    let deadline = timeout.map(|t| started + t);
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
        if !timed_out && deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out = true;
            signal_group(group, libc::SIGTERM);
            let grace = Instant::now() + KILL_GRACE;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < grace {
                std::thread::sleep(Duration::from_millis(20));
            }
            signal_group(group, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let duration = started.elapsed();
    let stdout = drain(&finished, group);
    let ended = match status {
        _ if timed_out => Ended::TimedOut(timeout.unwrap_or_default()),
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => Ended::Exited(code),
            (None, Some(sig)) => Ended::Signalled(sig),
            (None, None) => Ended::NotStarted("ended without an exit code or a signal".into()),
        },
        Err(e) => Ended::NotStarted(format!("cannot wait for {program}: {e}")),
    };
    Attempt { ended, duration, stdout }
}

fn not_started(why: String, started: Instant) -> Attempt {
    Attempt { ended: Ended::NotStarted(why), duration: started.elapsed(), stdout: Vec::new() }
}

/// Sends `signal` to every process of the command's group.
fn signal_group(group: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is shared.
    unsafe {
        libc::kill(-group, signal);
    }
}

/// Copies `from` to `terminal` and `log` until it closes; sends what it kept (stdout).
fn tee(
    mut from: impl Read + Send + 'static,
    mut terminal: Box<dyn Write + Send>,
    log: Arc<Mutex<File>>,
    keep: bool,
    done: mpsc::Sender<Option<Vec<u8>>>,
) {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let chunk = buf.get(..n).unwrap_or_default();
            // The terminal may be gone (a closed pipe): the log and the results still count.
            let _ = terminal.write_all(chunk).and_then(|()| terminal.flush());
            if let Ok(mut f) = log.lock() {
                let _ = f.write_all(chunk);
            }
            if keep && kept.len() < MAX_CAPTURE {
                kept.extend_from_slice(chunk.get(..chunk.len().min(MAX_CAPTURE - kept.len())).unwrap_or_default());
            }
        }
        let _ = done.send(keep.then_some(kept));
    });
}

/// Waits for both output copies to finish; the kept standard output.
fn drain(finished: &mpsc::Receiver<Option<Vec<u8>>>, group: i32) -> Vec<u8> {
    let mut stdout = Vec::new();
    let mut waiting = 2;
    let mut until = Instant::now() + DRAIN_GRACE;
    let mut killed = false;
    while waiting > 0 {
        match finished.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(kept) => {
                waiting -= 1;
                if let Some(k) = kept {
                    stdout = k;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) if !killed => {
                // Something the command started still holds its output open.
                signal_group(group, libc::SIGKILL);
                killed = true;
                until = Instant::now() + DRAIN_GRACE;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => break,
        }
    }
    stdout
}
