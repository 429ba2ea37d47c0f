//! Fuzz target: detection (name + head bytes) must never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use verdict::formats::detect;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a file name so both extension and content paths are reached.
    let names = ["x.json", "x.jsonl", "x.tap", "x.t.out", "x.yaml", "x.xml", "x.subunit", "noext", ".hidden.xml"];
    let (pick, rest) = data.split_first().map_or((0, data), |(p, r)| (usize::from(*p), r));
    let _ = detect(names[pick % names.len()], rest);
});
