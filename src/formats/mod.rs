//! Result file formats: decoding records from bytes (pure; knows nothing about storage).

pub mod resultsdb_json;
