//! A pool of read-only connections, reused across requests.

use super::ServiceError;
use crate::store::{Backend, ReadStore, snapshot};
use prometheus_client::metrics::counter::Counter;
use std::sync::{Arc, Mutex};

/// Idle readers kept for reuse; more are opened on demand when all are busy.
#[derive(Clone)]
pub struct ReadPool {
    store: Arc<dyn Backend>,
    idle: Arc<Mutex<Vec<Box<dyn ReadStore>>>>,
    /// Readers opened because none was idle (`verdict_reader_pool_opened_total`).
    opened: Counter,
}

/// Readers kept idle at most; the blocking pool bounds how many run at once.
const MAX_IDLE: usize = 64;

impl ReadPool {
    pub fn new(store: Arc<dyn Backend>) -> ReadPool {
        ReadPool { store, idle: Arc::new(Mutex::new(Vec::new())), opened: Counter::default() }
    }

    /// How many readers were opened because none was idle (shared with the metrics).
    pub(super) fn opened(&self) -> Counter {
        self.opened.clone()
    }

    /// Runs `f` with a reader taken from the pool (or newly opened), then returns it.
    pub fn with<T>(&self, f: impl FnOnce(&dyn ReadStore) -> Result<T, ServiceError>) -> Result<T, ServiceError> {
        let reader = match self.idle.lock().map(|mut idle| idle.pop()) {
            Ok(Some(r)) => r,
            _ => {
                self.opened.inc();
                self.store.reader()?
            }
        };
        // One read transaction per request: a consistent snapshot, and one WAL read-lock
        // acquisition instead of one per statement.
        let out = snapshot(reader.as_ref(), || f(reader.as_ref()));
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(reader);
        }
        out
    }
}
