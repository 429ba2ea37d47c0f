//! `serve`'s configuration file: precedence (flag > environment > file > default), unknown
//! keys and bad values named with their line, `--check-config` masking secrets, a server
//! actually running with the file's settings, and the config file the packages install.

use crate::support::{TestServer, run_cli_env};
use std::path::{Path, PathBuf};

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("verdict.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The line of `--check-config`'s output that sets `key`.
fn line_of<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("{key} = ")) || l.starts_with(&format!("# {key}  ")))
        .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
}

#[test]
fn flags_beat_environment_beats_file_beats_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "# every serve flag is a key\nworkers = 3\nlisten = \"127.0.0.1:7001\"\nmax-body = 100\nsuperuser = [\"alice\", \"bob\"]\n",
    );
    let cfg = cfg.to_str().unwrap();
    let env = [("VERDICT_LISTEN", "127.0.0.1:7002"), ("VERDICT_WORKERS", "2"), ("VERDICT_ACCESS_LOG", "true")];
    let (code, out, err) = run_cli_env(&["serve", "--config", cfg, "--workers", "1", "--check-config"], &env, None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(line_of(&out, "workers"), "workers = 1  # command line");
    assert_eq!(line_of(&out, "listen"), "listen = \"127.0.0.1:7002\"  # environment VERDICT_LISTEN");
    assert_eq!(line_of(&out, "max-body"), "max-body = 100  # config file, line 4");
    assert_eq!(line_of(&out, "superuser"), "superuser = [\"alice\", \"bob\"]  # config file, line 5");
    assert_eq!(line_of(&out, "max-limit"), "max-limit = 1000  # default");
    assert_eq!(line_of(&out, "access-log"), "access-log = true  # environment VERDICT_ACCESS_LOG");
    assert_eq!(line_of(&out, "policies"), "# policies  # not set");
    assert!(out.contains(&format!("# config file: {cfg}")), "{out}");
    // Without the environment the file's value holds.
    let (code, out, err) = run_cli_env(&["serve", "--config", cfg, "--check-config"], &[], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(line_of(&out, "listen"), "listen = \"127.0.0.1:7001\"  # config file, line 3");
    assert_eq!(line_of(&out, "workers"), "workers = 3  # config file, line 2");
    // The file may be named by the environment too.
    let (code, out, err) = run_cli_env(&["serve", "--check-config"], &[("VERDICT_CONFIG", cfg)], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(line_of(&out, "max-body"), "max-body = 100  # config file, line 4");
}

#[test]
fn unknown_keys_and_bad_values_are_named_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "listen = \"127.0.0.1:7001\"\n\n  max_bodyy = 5\n");
    let cfg_s = cfg.to_str().unwrap();
    let (code, _, err) = run_cli_env(&["serve", "--config", cfg_s, "--check-config"], &[], None);
    assert_ne!(code, 0);
    assert!(err.contains(&format!("{cfg_s}:3:3: unknown key `max_bodyy`")), "{err}");
    for (text, wanted) in [
        ("max-body = \"lots\"\n", ":1:1: `max-body`: invalid value 'lots'"),
        ("\nlisten = \"5001\"\n", ":2:1: `listen`: invalid value '5001'"),
        ("access-log = \"yes\"\n", ":1:1: `access-log` is true or false"),
        ("peer = \"http://a:1\"\n", ":1:1: `peer` is a list"),
        ("listen = \n", ":1:"),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let (code, out, err) = run_cli_env(&["serve", "--config", cfg_s, "--check-config"], &[], None);
        assert_ne!(code, 0, "{text}: {out}");
        assert!(err.contains(&format!("{cfg_s}{wanted}")), "{text}: {err}");
    }
    // A file named explicitly must exist; its path is in the message.
    let missing = dir.path().join("nope.toml");
    let (code, _, err) = run_cli_env(&["serve", "--config", missing.to_str().unwrap(), "--check-config"], &[], None);
    assert_ne!(code, 0);
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
    // What the settings name is checked too: a policies directory that does not load.
    let bad = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/policies/bad");
    std::fs::write(&cfg, format!("policies = {:?}\n", bad.to_str().unwrap())).unwrap();
    let (code, _, err) = run_cli_env(&["serve", "--config", cfg_s, "--check-config"], &[], None);
    assert_ne!(code, 0, "{err}");
}

#[test]
fn check_config_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "peer = [\"http://alice:hunter2@lab2:5001\", \"http://lab3:5001\"]\npeer-token = \"file-token-s3cret\"\n",
    );
    let env = [("VERDICT_AMQP", "amqp://bus:amqp-pw@broker:5672/%2f")];
    let (code, out, err) = run_cli_env(&["serve", "--config", cfg.to_str().unwrap(), "--check-config"], &env, None);
    assert_eq!(code, 0, "{err}");
    for secret in ["hunter2", "file-token-s3cret", "amqp-pw"] {
        assert!(!out.contains(secret) && !err.contains(secret), "{secret} shown:\n{out}{err}");
    }
    assert_eq!(
        line_of(&out, "peer"),
        "peer = [\"http://alice:***@lab2:5001\", \"http://lab3:5001\"]  # config file, line 1"
    );
    assert_eq!(line_of(&out, "peer-token"), "peer-token = \"***\"  # config file, line 2");
    assert_eq!(line_of(&out, "amqp"), "amqp = \"amqp://bus:***@broker:5672/%2f\"  # environment VERDICT_AMQP");
}

#[test]
fn serve_runs_with_the_files_settings() {
    let dir = tempfile::tempdir().unwrap();
    let policies = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/policies/gating");
    // The test server gives --listen and --db on its command line: those beat the file's.
    let cfg = write_config(
        dir.path(),
        &format!("listen = \"127.0.0.1:1\"\npolicies = {:?}\nmax-limit = 7\n", policies.to_str().unwrap()),
    );
    let s = TestServer::start_with(&["--config", cfg.to_str().unwrap()]);
    let ready = s.get("/readyz");
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.json["policies"].as_u64(), Some(7), "{}", ready.text);
    let r = s.get("/api/v2.0/results?limit=8");
    assert_eq!(r.status, 400, "max-limit from the file: {}", r.text);
}

#[test]
fn the_example_file_documents_every_key_and_checks() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/verdict.toml");
    let (code, out, err) = run_cli_env(&["serve", "--config", example.to_str().unwrap(), "--check-config"], &[], None);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&example).unwrap();
    let keys: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("# verdict") && !l.starts_with("# config file"))
        .map(|l| l.trim_start_matches("# ").split([' ', '=']).next().unwrap())
        .collect();
    assert!(keys.len() > 40 && keys.contains(&"peer-token"), "{keys:?}");
    for key in keys {
        let documented = text.lines().any(|l| {
            let l = l.trim_start_matches("# ");
            l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}="))
        });
        assert!(documented, "examples/verdict.toml does not document `{key}`");
    }
}

/// The config file the packages install as /etc/verdict/verdict.toml, read the way the
/// systemd unit's ExecStart reads it: a renamed flag breaks this test, not an installation.
#[test]
fn the_packaged_config_checks_as_the_unit_runs_it() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("packaging/systemd/verdict.service")).unwrap();
    let exec = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("ExecStart");
    let packaged = root.join("packaging/verdict.toml");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/bin/verdict"));
    let mut args: Vec<&str> =
        words.map(|w| if w == "/etc/verdict/verdict.toml" { packaged.to_str().unwrap() } else { w }).collect();
    assert!(args.contains(&packaged.to_str().unwrap()), "ExecStart names /etc/verdict/verdict.toml: {exec}");
    args.push("--check-config");
    let (code, out, err) = run_cli_env(&args, &[], None);
    assert_eq!(code, 0, "{err}");
    assert!(line_of(&out, "db").starts_with("db = \"/var/lib/verdict/verdict.db\"  # config file"), "{out}");
    assert!(line_of(&out, "listen").starts_with("listen = \"127.0.0.1:5001\"  # config file"), "{out}");
    assert_eq!(line_of(&out, "auth"), "auth = \"none\"  # default");
}
