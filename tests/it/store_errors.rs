//! Errors about the store file say what is wrong with which path and what to do, and
//! create nothing: `--db DIR`, a missing or read-only directory, a read-only store (which
//! reading commands still read), a failed submit, a port already in use.

use crate::support::{run_cli, verdict_bin};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Names in a directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

const ONE: &str = r#"{"testcase":"a","outcome":"PASSED"}"#;

#[test]
fn db_that_is_a_directory_is_named_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for args in
        [vec!["stats"], vec!["query"], vec!["verify"], vec!["submit", "-"], vec!["serve", "--listen", "127.0.0.1:0"]]
    {
        let mut all = args.clone();
        all.extend(["--db", d]);
        let (code, _, err) = run_cli(&all, Some(ONE));
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            err.contains(&format!("cannot open store {d}: it is a directory")) && err.contains("verdict.db"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("disk I/O error") && err.matches(d).count() <= 2, "{args:?}: {err}");
    }
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn missing_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nope/v.db");
    let (code, _, err) = run_cli(&["submit", "--db", db.to_str().unwrap(), "-"], Some(ONE));
    assert_eq!(code, 1);
    assert!(err.contains(&format!("directory {} does not exist", dir.path().join("nope").display())), "{err}");
    let (code, _, err) = run_cli(&["stats", "--db", db.to_str().unwrap()], None);
    assert_eq!(code, 1);
    assert!(err.contains("no such file") && err.contains(db.to_str().unwrap()), "{err}");
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn failed_submit_creates_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let db_s = db.to_str().unwrap();
    let (code, _, err) = run_cli(&["submit", "--db", db_s, "-"], Some(r#"{"testcase":"a","outcome":"NOPE"}"#));
    assert_eq!(code, 1);
    assert!(err.contains("record 0") && err.contains("nothing was stored"), "{err}");
    let missing = dir.path().join("missing.jsonl");
    let (code, _, err) = run_cli(&["submit", "--db", db_s, missing.to_str().unwrap()], None);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("cannot read {}", missing.display())), "{err}");
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn port_clash_creates_no_store() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let (code, _, err) = run_cli(&["serve", "--db", db.to_str().unwrap(), "--listen", &addr], None);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn a_spool_that_cannot_be_made_creates_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    // The spool path is a file: its directories cannot be made.
    let file = dir.path().join("spool");
    std::fs::write(&file, "x").unwrap();
    let (code, _, err) = run_cli(
        &["serve", "--db", db.to_str().unwrap(), "--listen", "127.0.0.1:0", "--spool", file.to_str().unwrap()],
        None,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("spool"), "{err}");
    assert!(!db.exists(), "{:?}", listing(dir.path()));
}

#[test]
fn foreign_files_are_not_stores_and_stay_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.db");
    std::fs::write(&text, "not a database at all, just some text in a file\n").unwrap();
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other).unwrap().execute_batch("CREATE TABLE x(a); INSERT INTO x VALUES(1);").unwrap();
    let before = listing(dir.path());
    for f in [&text, &other] {
        for cmd in ["submit", "stats"] {
            let mut args = vec![cmd, "--db", f.to_str().unwrap()];
            if cmd == "submit" {
                args.push("-");
            }
            let (code, _, err) = run_cli(&args, Some(ONE));
            assert_eq!(code, 1, "{cmd}");
            assert!(err.contains(&format!("cannot open store {}: not a verdict store", f.display())), "{err}");
        }
    }
    assert_eq!(listing(dir.path()), before);
    let mode: String =
        rusqlite::Connection::open(&other).unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete", "another program's database keeps its journal mode");
}

/// Runs the CLI as a user without special rights: as `nobody` (via setpriv) when the
/// tests run as root, for whom permission bits do not apply.
fn run_unprivileged(args: &[&str]) -> (i32, String, String) {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups", verdict_bin()]);
        c
    } else {
        Command::new(verdict_bin())
    };
    let out = cmd
        .args(args)
        .env("VERDICT_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .expect("run verdict (as root this needs setpriv, from util-linux)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn read_only_store_is_read_and_writes_say_permission_denied() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, format!("{ONE}\n")).unwrap();
    let store_dir = dir.path().join("ro");
    std::fs::create_dir(&store_dir).unwrap();
    let db = store_dir.join("v.db");
    let db_s = db.to_str().unwrap();
    assert_eq!(run_cli(&["submit", "--db", db_s, input.to_str().unwrap()], None).0, 0);
    let bundle = dir.path().join("b.vbundle");
    assert_eq!(run_cli(&["export", "--db", db_s, "-o", bundle.to_str().unwrap()], None).0, 0);
    std::fs::set_permissions(&input, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&bundle, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    // A read-only file in a writable directory, then in a read-only one (no -shm can be made).
    let out_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(out_dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    for dir_mode in [0o777, 0o555] {
        std::fs::set_permissions(&store_dir, std::fs::Permissions::from_mode(dir_mode)).unwrap();
        let exported = out_dir.path().join(format!("x{dir_mode:o}.vbundle"));
        for args in [
            vec!["query", "--db", db_s],
            vec!["stats", "--db", db_s],
            vec!["verify", "--db", db_s],
            vec!["export", "--db", db_s, "-o", exported.to_str().unwrap()],
            vec!["audit", "--db", db_s, "--bundle", bundle.to_str().unwrap()],
        ] {
            let (code, out, err) = run_unprivileged(&args);
            assert_eq!(code, 0, "{args:?} (directory {dir_mode:o}): {out}{err}");
        }
        let before = listing(&store_dir);
        let (code, _, err) = run_unprivileged(&["submit", "--db", db_s, input.to_str().unwrap()]);
        assert_eq!(code, 1);
        assert!(err.contains(&format!("cannot open store {db_s}: permission denied")), "{err}");
        assert_eq!(listing(&store_dir), before, "a refused write creates nothing");
    }
    // A directory without write permission: creating a store there is refused by name.
    let before = listing(&store_dir);
    let new = store_dir.join("new.db");
    let (code, _, err) = run_unprivileged(&["submit", "--db", new.to_str().unwrap(), input.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("permission denied on directory {}", store_dir.display())), "{err}");
    assert_eq!(listing(&store_dir), before);
    std::fs::set_permissions(&store_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}
