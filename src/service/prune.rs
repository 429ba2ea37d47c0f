//! `verdict prune`: old results dropped under horizon entries, one bounded transaction
//! at a time through the one write queue (a server on the same file commits between
//! them and serves reads throughout), then the freed space given back.

use super::{Service, ServiceError};
use crate::store::PruneStep;

/// Results pruned per transaction: small enough that a server's writes wait well under
/// a second for the lock, large enough that each horizon carries many results.
pub const PRUNE_STEP: usize = 20_000;

/// What to prune.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Results submitted before this instant (microseconds since the epoch).
    pub before: i64,
    /// Only results of testcases matching this pattern (`*` wildcards).
    pub testcases_like: Option<String>,
    /// Results per transaction.
    pub step: usize,
}

/// What a prune did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub results: u64,
    pub horizons: u64,
    pub transactions: u64,
}

impl Service {
    /// Prunes every result the options select, `step` at a time (each transaction seals
    /// one horizon entry per origin over what it prunes), then vacuums. `progress` gets the
    /// count pruned after each transaction. Stopping half-way leaves a verifiable store
    /// (running it again goes on).
    pub fn prune(&self, opts: &PruneOptions, mut progress: impl FnMut(u64)) -> Result<Pruned, ServiceError> {
        let mut done = Pruned::default();
        loop {
            let (before, like, step) = (opts.before, opts.testcases_like.clone(), opts.step.max(1));
            let s: PruneStep =
                self.inner.queue.exclusive_blocking(move |w| w.prune_step(before, like.as_deref(), step))??;
            if s.results == 0 {
                break;
            }
            done.results += s.results;
            done.horizons += s.horizons;
            done.transactions += 1;
            progress(done.results);
        }
        if done.results > 0 {
            self.inner.queue.exclusive_blocking(|w| w.vacuum())??;
        }
        Ok(done)
    }
}
