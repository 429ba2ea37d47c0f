//! The integration test binary: the real server on 127.0.0.1:0 with a temp store, the CLI,
//! replay equivalence, the official Python client and Avocado's ResultsDB plugin.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod acknowledged;
mod amqp;
mod api_errors;
mod api_queries;
mod api_writes;
mod auth;
mod avocado;
mod ci_messages;
mod cli;
mod config;
mod consume;
mod disk_full;
mod events;
mod fold;
mod gating;
mod hostile_peer;
mod ingest_http;
mod insight;
mod metrics;
mod openapi;
mod operate;
mod postgres;
mod prune;
mod python_client;
mod quarantine;
mod readme;
mod reconcile;
mod remote_cli;
mod replay;
mod replication;
mod run;
mod server_limits;
mod spool;
mod store_errors;
mod submit;
mod tidy;
mod tls;
mod upstream;
mod web;
