//! Result file formats: decoding results from bytes (pure; knows nothing about storage).
//!
//! Entry points: [`detect`] picks a [`Format`] from a file name and its first bytes, and
//! [`parse`] streams the results of a file to a callback as [`ResultInput`]s. Parsers
//! read from an `impl BufRead`, never touch the filesystem, network, database or clock,
//! and return the first problem as a [`FormatError`] that says what and where.

pub mod ci_message;
pub mod ctrf;
mod detect;
mod error;
pub mod junit;
mod options;
mod record;
pub mod resultsdb_json;
pub mod resultyaml;
pub mod subunit;
pub mod tap;
mod text;
mod yaml;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod robustness_tests;

pub use detect::{Format, detect, is_ignored_name};
pub use error::{ErrorKind, FormatError, Location};
pub use options::{Aggregate, Limits, ParseOptions, file_stem};
pub use record::{Data, ParseSummary, json_data_values};

use crate::model::ResultInput;
use std::io::BufRead;

/// Parses `reader` as `format`, handing each result to `emit` in file order. The whole
/// file should be treated as one unit: on `Err`, discard what was emitted. `E` is the
/// caller's error type; parse errors reach it through `From<FormatError>`, and errors
/// returned by `emit` stop the parse and are returned unchanged.
pub fn parse<R, E, F>(format: Format, reader: R, opts: &ParseOptions, emit: F) -> Result<ParseSummary, E>
where
    R: BufRead,
    E: From<FormatError>,
    F: FnMut(ResultInput) -> Result<(), E>,
{
    match format {
        Format::ResultsdbJson => resultsdb_json::parse(reader, opts, emit),
        Format::JsonLines => resultsdb_json::parse_lines(reader, opts, emit),
        Format::Ctrf => ctrf::parse(reader, opts, emit),
        Format::Tap => tap::parse(reader, opts, emit),
        Format::ResultYaml => resultyaml::parse(reader, opts, emit),
        Format::Junit => junit::parse(reader, opts, emit),
        Format::Subunit => subunit::parse(reader, opts, emit),
    }
}

/// Convenience for tests and small files: all results of `bytes` in a vector.
pub fn parse_to_vec(format: Format, bytes: &[u8], opts: &ParseOptions) -> Result<Vec<ResultInput>, FormatError> {
    let mut out = Vec::new();
    parse(format, bytes, opts, |r| {
        out.push(r);
        Ok::<(), FormatError>(())
    })?;
    Ok(out)
}
