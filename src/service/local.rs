//! The store for commands that run without a server (`verdict query`, `stats`, `verify`,
//! `export`, `audit`, `decide`, …): read-only access to an existing store. Writing
//! commands start a [`super::Service`] with [`super::Service::open`] instead, so every
//! write goes through the one write queue.

use super::{ReadPool, ServiceError};
use crate::store::{Backend, OriginHead, ReadStore, Stats, Store};
use std::path::Path;
use std::sync::Arc;

/// Read-only access to an existing store; opening it creates and changes nothing.
pub struct ReadOnly {
    store: Arc<dyn Backend>,
    pool: ReadPool,
}

impl ReadOnly {
    /// Opens the store at `db` for reading (a read-only file works; nothing is created).
    pub fn open(db: &Path) -> Result<ReadOnly, ServiceError> {
        let store: Arc<dyn Backend> = Arc::new(Store::open_existing(db)?);
        let pool = ReadPool::new(store.clone());
        Ok(ReadOnly { store, pool })
    }

    /// The read half of a running service.
    pub(super) fn over(store: Arc<dyn Backend>, pool: ReadPool) -> ReadOnly {
        ReadOnly { store, pool }
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

    /// Counts, file layout and every origin's chain head (`verdict stats`).
    pub fn stats(&self) -> Result<(Stats, Vec<OriginHead>), ServiceError> {
        self.read(|r| Ok((r.stats()?, r.heads()?)))
    }
}
