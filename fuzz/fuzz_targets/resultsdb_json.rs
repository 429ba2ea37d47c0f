//! Fuzz target: the ResultsdbJson parser must turn any bytes into results or an error, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use verdict::formats::{Format, FormatError, ParseOptions, parse};

fuzz_target!(|data: &[u8]| {
    let opts = ParseOptions { file_stem: "fuzz".into(), ..ParseOptions::default() };
    let mut n = 0usize;
    let result = parse(Format::ResultsdbJson, data, &opts, |_r| {
        n += 1;
        Ok::<(), FormatError>(())
    });
    if let Err(e) = result {
        assert!(!e.to_string().is_empty());
    }
});
