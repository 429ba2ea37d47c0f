//! Tidy checks: every source file opens with a `//!` line and stays under 800 lines;
//! modules use only lower layers; only `service` holds the store (the one door); SQL stays
//! in `store`; `anyhow` stays in `cli` and `main`.

use std::path::{Path, PathBuf};

/// Layer rank of each top-level module: a module may use only modules of lower rank.
/// `cli` is the outermost layer: it parses commands and wires the adapters together.
const LAYERS: &[(&str, u8)] = &[
    ("model", 0),
    ("formats", 1),
    ("log", 1),
    ("gating", 1),
    ("insight", 1),
    ("store", 2),
    ("service", 3),
    ("http", 4),
    ("spool", 4),
    ("replicate", 4),
    ("amqp", 4),
    ("upstream", 4),
    ("cli", 5),
];

/// Pure layers (no I/O, no clock: the caller passes rows and "now"): besides `crate::`
/// paths (the layer table rules those), each may name only these crates.
const PURE: &[(&str, &[&str])] =
    &[("insight", &["std", "core", "serde", "serde_json", "blake3", "thiserror", "foldhash"])];

/// Names that do I/O or read the clock: a pure layer takes rows and the time as parameters.
const IMPURE: &[&str] = &[
    "std::fs",
    "std::io",
    "std::net",
    "std::process",
    "std::env",
    "std::thread",
    "Timestamp::now",
    "SystemTime",
    "Instant::now",
    "MonotonicClock",
];

/// Longest a source file may be.
const MAX_LINES: usize = 800;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file of the crate's sources, tests and benches.
fn all_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches"] {
        if root().join(dir).exists() {
            rust_files(&root().join(dir), &mut files);
        }
    }
    files
}

/// The top-level module a file under src/ belongs to (None for lib.rs/main.rs).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy().into_owned();
    let name = first.trim_end_matches(".rs").to_owned();
    (name != "lib" && name != "main").then_some(name)
}

/// The code outside `#[cfg(test)]` items: each such item (a `mod … { … }` block, or a
/// `mod name;` line) is cut out, and whatever follows it is still checked.
fn non_test_code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        // The item ends at its `;` or at the brace matching its first `{`, whichever comes first.
        let end = match (after.find('{'), after.find(';')) {
            (Some(open), Some(semi)) if semi < open => semi + 1,
            (Some(open), _) => matching_brace(after, open).map_or(after.len(), |close| close + 1),
            (None, Some(semi)) => semi + 1,
            (None, None) => after.len(),
        };
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Index of the `}` that closes the `{` at `open` (braces inside strings are rare enough
/// in this codebase's test modules to ignore).
fn matching_brace(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The layering rules one file breaks: `module` is its top-level module, `text` its source.
fn violations(file: &str, module: &str, text: &str) -> Vec<String> {
    let rank = |m: &str| LAYERS.iter().find(|(n, _)| *n == m).map(|(_, r)| *r);
    let Some(own) = rank(module) else {
        return vec![format!("{file}: module {module} has no layer in tidy.rs")];
    };
    let code = non_test_code(text);
    let mut found = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let used: String = code[i + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if used == module {
            continue;
        }
        match rank(&used) {
            // The one door: only `service` reaches the store.
            Some(_) if used == "store" && module != "service" => {
                found.push(format!("{file}: {module} uses crate::store (only service may hold the store)"))
            }
            Some(r) if r < own => {}
            _ => found.push(format!("{file}: {module} uses crate::{used}")),
        }
    }
    if module != "store" && code.contains("rusqlite") {
        found.push(format!("{file}: SQL outside store"));
    }
    if module != "cli" && code.contains("anyhow") {
        found.push(format!("{file}: anyhow outside cli/main"));
    }
    found
}

/// The purity rules one file of a pure layer breaks: a path rooted in a crate outside its
/// list, or an [`IMPURE`] name. Comments and test modules are not checked; type paths
/// (`Class::Pass`), primitives (`f64::`), `crate`/`super`/`self` and the file's own
/// submodules are not crate roots.
fn impurities(file: &str, module: &str, text: &str) -> Vec<String> {
    let Some((_, crates)) = PURE.iter().find(|(m, _)| *m == module) else { return Vec::new() };
    let code: String =
        non_test_code(text).lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let submodules: Vec<&str> =
        code.match_indices("mod ").map(|(i, _)| code[i + 4..].split(|c: char| !word(c)).next().unwrap_or("")).collect();
    const PRIMITIVES: &[&str] = &[
        "bool", "char", "str", "f32", "f64", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64",
        "u128", "usize",
    ];
    let mut found = Vec::new();
    for (i, _) in code.match_indices("::") {
        let start = code[..i].rfind(|c: char| !word(c)).map_or(0, |p| p + 1);
        let root = &code[start..i];
        // `x::<T>` is a turbofish (`parse::<f64>`), not a path.
        let is_root = !code[..start].ends_with("::") && !code[i + 2..].starts_with('<');
        let lower = root.starts_with(|c: char| c.is_ascii_lowercase());
        let allowed = ["crate", "super", "self"].contains(&root)
            || PRIMITIVES.contains(&root)
            || submodules.contains(&root)
            || crates.contains(&root);
        if is_root && lower && !allowed {
            found.push(format!("{file}: pure {module} uses {root}::"));
        }
    }
    found.extend(
        IMPURE.iter().filter(|c| code.contains(*c)).map(|c| format!("{file}: pure {module} uses {c} (I/O or clock)")),
    );
    found
}

/// Every source file under `src/` that belongs to a layer: (path, its path relative to
/// `src/`, its layer, its text).
fn layered_files() -> Vec<(PathBuf, PathBuf, String, String)> {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .filter_map(|f| {
            let module = module_of(&src, &f)?;
            let rel = f.strip_prefix(&src).unwrap_or(&f).to_owned();
            let text = std::fs::read_to_string(&f).unwrap();
            Some((f, rel, module, text))
        })
        .collect()
}

#[test]
fn pure_layers_stay_pure() {
    let mut found = Vec::new();
    for (f, rel, module, text) in layered_files() {
        // Test files (`tests.rs`, `*_tests.rs`, anything under a `tests/` folder) are
        // test modules: like `#[cfg(test)]` blocks, they may use anything.
        let test_file = rel.components().any(|c| c.as_os_str() == "tests")
            || rel.file_name().is_some_and(|n| n.to_string_lossy().ends_with("tests.rs"));
        if test_file {
            continue;
        }
        found.extend(impurities(&f.display().to_string(), &module, &text));
    }
    assert!(found.is_empty(), "purity violations:\n{}", found.join("\n"));
}

#[test]
fn the_purity_rules_report_what_they_should() {
    let ok = "//! x\nmod a;\nuse std::fmt::Write;\nuse a::B;\nfn f() { Class::Pass; f64::max(1.0, 2.0); blake3::hash(b\"\"); \"1\".parse::<u8>(); }\n// tokio::spawn\n";
    assert!(impurities("a.rs", "insight", ok).is_empty(), "{:?}", impurities("a.rs", "insight", ok));
    assert_eq!(impurities("a.rs", "insight", "//! x\nuse tokio::fs;\n").len(), 1, "a crate off the list");
    assert_eq!(impurities("a.rs", "insight", "//! x\nfn f() { Timestamp::now() }\n").len(), 1, "the clock");
    assert_eq!(impurities("a.rs", "insight", "//! x\nuse std::fs::File;\n").len(), 1, "I/O");
    let in_tests = "//! x\n#[cfg(test)]\nmod tests {\n    use proptest::prelude::*;\n}\n";
    assert!(impurities("a.rs", "insight", in_tests).is_empty(), "test modules may use anything");
    assert!(impurities("a.rs", "store", "//! x\nuse rusqlite::Connection;\n").is_empty(), "not a pure layer");
}

#[test]
fn every_file_opens_with_a_doc_line() {
    let files = all_files();
    let missing: Vec<_> = files.iter().filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!")).collect();
    assert!(missing.is_empty(), "files without a leading //! line: {missing:?}");
}

#[test]
fn files_stay_under_the_length_cap() {
    let long: Vec<String> = all_files()
        .iter()
        .map(|f| (f, std::fs::read_to_string(f).unwrap().lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(f, n)| format!("{} ({n} lines)", f.display()))
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines (split them): {long:?}");
}

#[test]
fn modules_use_only_lower_layers() {
    let mut found = Vec::new();
    for (f, _, module, text) in layered_files() {
        found.extend(violations(&f.display().to_string(), &module, &text));
    }
    assert!(found.is_empty(), "layering violations:\n{}", found.join("\n"));
}

/// The rules themselves: an adapter naming the store is reported, also after a test
/// module; test modules and the service are not.
#[test]
fn the_layering_rules_report_what_they_should() {
    let adapter = "//! x\nuse crate::service::Service;\nuse crate::store::Store;\n";
    assert_eq!(violations("a.rs", "http", adapter).len(), 1, "an adapter importing crate::store");
    assert_eq!(violations("a.rs", "cli", "//! x\nfn f() { crate::store::Store::open(p) }\n").len(), 1);
    assert!(violations("s.rs", "service", adapter).is_empty(), "service holds the store");
    let after_tests = "//! x\n#[cfg(test)]\nmod tests {\n    use crate::store::Store;\n}\nuse crate::store::Reader;\n";
    assert_eq!(violations("a.rs", "replicate", after_tests).len(), 1, "code after a test module is checked");
    let only_tests = "//! x\n#[cfg(test)]\nmod tests {\n    fn f() { if true { crate::store::x(); } }\n}\n";
    assert!(violations("a.rs", "spool", only_tests).is_empty(), "test modules may use anything");
    assert_eq!(violations("a.rs", "model", "//! x\nuse crate::service::Service;\n").len(), 1, "upward use");
    assert_eq!(violations("a.rs", "http", "//! x\nuse rusqlite::Connection;\n").len(), 1, "SQL outside store");
}
