//! The store for commands that run without a server (`verdict query`, `stats`, `verify`,
//! `export`, `audit`, `decide`, …): read-only access to an existing store. Writing
//! commands start a [`super::Service`] with [`super::Service::open`] instead, so every
//! write goes through the one write queue.

use super::{Page, ReadPool, ServiceError};
use crate::gating::Gate;
use crate::model::{ResultQuery, ResultView, Timestamp};
use crate::service::render::Urls;
use crate::store::{Backend, OriginHead, ReadStore, Stats};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// Read-only access to an existing store; opening it creates and changes nothing.
pub struct ReadOnly {
    store: Arc<dyn Backend>,
    pool: ReadPool,
    /// Flaky classifications remembered between questions.
    classified: super::classified::Classified,
}

impl ReadOnly {
    /// Opens the store at `db` for reading (a read-only file works; nothing is created).
    pub fn open(db: &Path) -> Result<ReadOnly, ServiceError> {
        Ok(ReadOnly::over(crate::store::open_existing(db)?))
    }

    /// Reads of `store` through a pool of its own (also the read half of a running service).
    pub(super) fn over(store: Arc<dyn Backend>) -> ReadOnly {
        ReadOnly { pool: ReadPool::new(store.clone()), store, classified: Default::default() }
    }

    /// The store behind it (for the service's own use cases).
    pub(super) fn backend(&self) -> &Arc<dyn Backend> {
        &self.store
    }

    /// Flaky classifications remembered between questions.
    pub(super) fn classified(&self) -> &super::classified::Classified {
        &self.classified
    }

    /// Its reader pool (the service runs reads on it from the async workers).
    pub(super) fn pool(&self) -> &ReadPool {
        &self.pool
    }

    /// The store's node id.
    pub fn node_id(&self) -> &str {
        self.store.node_id()
    }

    /// Runs `f` on a read-only connection inside one read transaction (a consistent
    /// snapshot). For the service's own use: adapters call the use-case methods.
    pub(super) fn read<T>(&self, f: impl FnOnce(&dyn ReadStore) -> Result<T, ServiceError>) -> Result<T, ServiceError> {
        self.pool.with(f)
    }

    /// A reader of its own for a walk over the whole log (`verify`, `replay`): each chunk
    /// is read in its own transaction rather than one snapshot, so a long walk beside a
    /// running server does not keep the server's WAL from being checkpointed and reset.
    pub(super) fn scan_reader(&self) -> Result<Box<dyn ReadStore>, ServiceError> {
        Ok(self.store.reader()?)
    }

    /// Counts, file layout and every origin's chain head (`verdict stats`).
    pub fn stats(&self) -> Result<(Stats, Vec<OriginHead>), ServiceError> {
        self.read(|r| Ok((r.stats()?, r.heads()?)))
    }

    /// How many results have each outcome, most first (reads every result row).
    pub fn outcome_counts(&self) -> Result<Vec<(String, i64)>, ServiceError> {
        self.read(|r| Ok(r.outcome_counts()?))
    }

    /// A page of results matching `q` (`verdict query`).
    pub fn results(&self, q: &ResultQuery) -> Result<Page<ResultView>, ServiceError> {
        self.read(|r| Ok(Page::from_rows(r.results(q)?, q.limit)))
    }

    /// The latest result of each testcase (and `_distinct_on` values) matching `q`
    /// (`verdict query --latest`).
    pub fn latest(&self, q: &ResultQuery) -> Result<Vec<ResultView>, ServiceError> {
        self.read(|r| Ok(r.latest(q)?))
    }

    /// A gating decision on one read snapshot (`verdict decide`): what Greenwave's
    /// `POST /decision` with `body` would answer under `gate` at `now`.
    pub fn decide(&self, gate: &Gate, body: &Value, urls: &Urls, now: Timestamp) -> Result<Value, ServiceError> {
        self.read(|r| super::decisions::decide(r, gate, Some(body), urls, now))
    }
}
