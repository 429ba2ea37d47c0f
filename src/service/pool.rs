//! A pool of read-only connections, reused across requests.

use super::ServiceError;
use crate::store::{Reader, Store};
use std::sync::{Arc, Mutex};

/// Idle readers kept for reuse; more are opened on demand when all are busy.
#[derive(Clone)]
pub struct ReadPool {
    store: Store,
    idle: Arc<Mutex<Vec<Reader>>>,
}

/// Readers kept idle at most; the blocking pool bounds how many run at once.
const MAX_IDLE: usize = 64;

impl ReadPool {
    pub fn new(store: Store) -> ReadPool {
        ReadPool { store, idle: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Runs `f` with a reader taken from the pool (or newly opened), then returns it.
    pub fn with<T>(&self, f: impl FnOnce(&Reader) -> Result<T, ServiceError>) -> Result<T, ServiceError> {
        let reader = match self.idle.lock().map(|mut idle| idle.pop()) {
            Ok(Some(r)) => r,
            _ => self.store.reader()?,
        };
        // One read transaction per request: a consistent snapshot, and one WAL read-lock
        // acquisition instead of one per statement.
        let out = reader.snapshot(|| f(&reader));
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(reader);
        }
        out
    }
}
