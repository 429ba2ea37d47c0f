//! Tables for `mask` and `signature`.

use super::*;

#[test]
fn mask_table() {
    for (text, want) in [
        ("", ""),
        ("  a \t\n b  ", "a b"),
        ("exit code 137", "exit code <n>"),
        ("took 12.5s, limit 300ms", "took <dur>, limit <dur>"),
        ("waited 2 min", "waited <dur>"),
        ("3 items", "<n> items"),
        ("commit 1a2b3c4d5e6f failed", "commit <hex> failed"),
        ("addr 0xDEADbeef", "addr <hex>"),
        ("deadbeef is a word", "deadbeef is a word"),
        ("id 123e4567-e89b-12d3-a456-426614174000.", "id <uuid>."),
        ("at 2024-01-02T03:04:05.123456Z done", "at <time> done"),
        ("at 2024-01-02 03:04:05+02:00", "at <time>"),
        ("on 2024-01-02", "on <time>"),
        ("open /var/tmp/abc-12/x.log: denied", "open <path>: denied"),
        ("see ./run.sh and ~/x, ../y.", "see <path> and <path>, <path>."),
        ("and/or 1 / 2", "and/or <n> / <n>"),
        ("(/usr/lib64/libc.so.6)", "(<path>)"),
        ("worker-12 python3", "worker-<n> python<n>"),
        ("file.py:123", "file.py:<n>"),
        ("ünïcödé 12 ✓", "ünïcödé <n> ✓"),
    ] {
        assert_eq!(mask(text), want, "{text:?}");
    }
}

fn failing(note: &str) -> Run {
    Run { note: Some(note.into()), ..run(1, "x", "FAILED") }
}

#[test]
fn noise_does_not_change_the_signature() {
    let a = failing(
        "test_x failed at 2024-01-02T03:04:05 in /tmp/a1/b after 12.5s (job 123e4567-e89b-12d3-a456-426614174000, build 9f8e7d6c5b, code 1)",
    );
    let b = failing(
        "test_x  failed at 2025-11-12T13:14:15.5 in /srv/other/c after 300ms (job 00000000-0000-0000-0000-000000000001, build abcdef12345, code 2)",
    );
    assert_eq!(signature(&a), signature(&b));
    assert_ne!(signature(&a), signature(&failing("test_y crashed at 2024-01-02T03:04:05")));
    let sig = signature(&a).unwrap();
    assert_eq!(sig.len(), 32);
    assert!(sig.chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn which_text_and_when() {
    let note_only = failing("segfault");
    let with_reason = Run { error_reason: Some("timeout".into()), ..failing("segfault") };
    let blank_reason = Run { error_reason: Some("  ".into()), ..failing("segfault") };
    assert_eq!(signature(&with_reason), signature(&failing("timeout")), "error_reason wins over the note");
    assert_eq!(signature(&blank_reason), signature(&note_only), "a blank error_reason falls back to the note");
    assert_eq!(signature(&Run { outcome: "PASSED".into(), ..note_only.clone() }), None, "passes have none");
    assert_eq!(signature(&Run { outcome: "RUNNING".into(), ..note_only.clone() }), None);
    assert_eq!(signature(&run(1, "x", "FAILED")), None, "no text");
    assert_eq!(signature(&failing(" \n ")), None, "empty text");
    assert!(signature(&Run { outcome: "ERROR".into(), ..note_only }).is_some());
}
