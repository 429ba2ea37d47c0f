//! Tidy checks: every source file opens with a `//!` line; modules use only lower layers;
//! SQL stays in `store`; `anyhow` stays in `cli` and `main`.

use std::path::{Path, PathBuf};

/// Layer rank of each top-level module: a module may use only modules of lower rank.
/// `cli` is the outermost layer: it parses commands and wires the adapters together.
const LAYERS: &[(&str, u8)] = &[
    ("model", 0),
    ("formats", 1),
    ("log", 1),
    ("gating", 1),
    ("store", 2),
    ("service", 3),
    ("http", 4),
    ("spool", 4),
    ("replicate", 4),
    ("amqp", 4),
    ("cli", 5),
];

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

/// The top-level module a file under src/ belongs to (None for lib.rs/main.rs).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy().into_owned();
    let name = first.trim_end_matches(".rs").to_owned();
    (name != "lib" && name != "main").then_some(name)
}

/// Lines of code outside `#[cfg(test)]` modules (a tail convention in this codebase).
fn non_test_code(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap_or(text)
}

#[test]
fn every_file_opens_with_a_doc_line() {
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches"] {
        if root().join(dir).exists() {
            rust_files(&root().join(dir), &mut files);
        }
    }
    let missing: Vec<_> = files.iter().filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!")).collect();
    assert!(missing.is_empty(), "files without a leading //! line: {missing:?}");
}

#[test]
fn modules_use_only_lower_layers() {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let rank = |m: &str| LAYERS.iter().find(|(n, _)| *n == m).map(|(_, r)| *r);
    let mut violations = Vec::new();
    for f in &files {
        let Some(module) = module_of(&src, f) else { continue };
        let Some(own) = rank(&module) else {
            violations.push(format!("{}: module {module} has no layer in tidy.rs", f.display()));
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        let code = non_test_code(&text);
        for (i, _) in code.match_indices("crate::") {
            let used: String = code[i + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if used == module {
                continue;
            }
            match rank(&used) {
                Some(r) if r < own => {}
                _ => violations.push(format!("{}: {module} uses crate::{used}", f.display())),
            }
        }
        if module != "store" && code.contains("rusqlite") {
            violations.push(format!("{}: SQL outside store", f.display()));
        }
        if module != "cli" && code.contains("anyhow") {
            violations.push(format!("{}: anyhow outside cli/main", f.display()));
        }
    }
    assert!(violations.is_empty(), "layering violations:\n{}", violations.join("\n"));
}
