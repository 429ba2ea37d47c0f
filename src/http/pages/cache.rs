//! The unfiltered flaky classification, kept for a short while per store: classifying
//! every key in the window reads every run in it (~150 ms on the 1M-result bench store),
//! too slow for the overview and the board on every load. A stale answer is served while
//! one request's background task computes the next, so a page never waits for it after
//! the first; pages say how old it is.

use crate::model::FlakyQuery;
use crate::service::insight::FlakyAnswer;
use crate::service::{Service, ServiceError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an answer is served before a refresh starts.
pub const FRESH_FOR: Duration = Duration::from_secs(30);

struct Entry {
    node: String,
    at: Instant,
    answer: Arc<FlakyAnswer>,
    refreshing: bool,
}

/// Per store (node id): several servers may share a process (tests).
static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn with_cache<T>(f: impl FnOnce(&mut Vec<Entry>) -> T) -> T {
    let mut guard = CACHE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut guard)
}

fn store(node: &str, answer: Arc<FlakyAnswer>) {
    with_cache(|c| {
        c.retain(|e| e.node != node);
        c.push(Entry { node: node.to_owned(), at: Instant::now(), answer, refreshing: false });
    });
}

/// Every key's classification over the default window, and its age.
pub async fn flaky_all(svc: &Service) -> Result<(Arc<FlakyAnswer>, Duration), ServiceError> {
    let node = svc.node_id().to_owned();
    let cached = with_cache(|c| {
        let e = c.iter_mut().find(|e| e.node == node)?;
        let stale = e.at.elapsed() >= FRESH_FOR && !e.refreshing;
        if stale {
            e.refreshing = true;
        }
        Some((e.answer.clone(), e.at.elapsed(), stale))
    });
    match cached {
        Some((answer, age, stale)) => {
            if stale {
                let svc = svc.clone();
                tokio::spawn(async move {
                    match svc.flaky(FlakyQuery::parse(&[])?).await {
                        Ok(a) => store(&node, Arc::new(a)),
                        // Keep the old answer; the next request tries again.
                        Err(_) => {
                            with_cache(|c| c.iter_mut().filter(|e| e.node == node).for_each(|e| e.refreshing = false))
                        }
                    }
                    Ok::<(), ServiceError>(())
                });
            }
            Ok((answer, age))
        }
        None => {
            let answer = Arc::new(svc.flaky(FlakyQuery::parse(&[])?).await?);
            store(&node, answer.clone());
            Ok((answer, Duration::ZERO))
        }
    }
}

/// "as of N s ago" for a page.
pub fn age_words(age: Duration) -> String {
    match age.as_secs() {
        0 => "just computed".to_owned(),
        s => format!("as of {s} s ago (recomputed every {} s)", FRESH_FOR.as_secs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_say_how_old_the_answer_is() {
        assert_eq!(age_words(Duration::from_millis(300)), "just computed");
        assert_eq!(age_words(Duration::from_secs(42)), "as of 42 s ago (recomputed every 30 s)");
    }
}
