//! verdict: ResultsDB, WaiverDB and Greenwave in one binary over a one-file append-only store.
//!
//! Layers, lowest first (a module uses only layers below it): `model`; `formats` and
//! `log` (pure); `store` (the only SQL); `service` (use cases); adapters `http`, `spool`, `replicate`; `cli` wires them.

pub mod amqp;
pub mod cli;
pub mod formats;
pub mod gating;
pub mod http;
pub mod insight;
pub mod log;
pub mod model;
pub mod replicate;
pub mod service;
pub mod spool;
pub mod store;
pub mod upstream;
