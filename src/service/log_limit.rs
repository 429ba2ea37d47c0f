//! Rate-limited log lines: a failure that every request hits (a full disk, a broken
//! store) is logged once per kind every [`WINDOW`], with a count of the lines left out,
//! instead of thousands of identical lines a second.
//!
//! ```ignore
//! if let Some(r) = log_limit::allow("store error") {
//!     tracing::error!(error = %e, "store error{r}");
//! }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most one line of a kind per window.
pub const WINDOW: Duration = Duration::from_secs(10);

/// What to append to an allowed line: how many of its kind were left out since the last
/// one (nothing when none were).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeats {
    suppressed: u64,
    over: Duration,
}

impl fmt::Display for Repeats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.suppressed == 0 {
            return Ok(());
        }
        let times = if self.suppressed == 1 { "time" } else { "times" };
        write!(f, " (repeated {} {times} in the last {} s)", thousands(self.suppressed), self.over.as_secs().max(1))
    }
}

/// `5811` → `5,811`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Per kind: when its last line was logged and how many were left out since.
#[derive(Default)]
struct Limiter {
    kinds: HashMap<&'static str, (Instant, u64)>,
}

impl Limiter {
    fn allow(&mut self, kind: &'static str, now: Instant) -> Option<Repeats> {
        match self.kinds.get_mut(kind) {
            Some((last, suppressed)) if now.duration_since(*last) < WINDOW => {
                *suppressed += 1;
                None
            }
            Some((last, suppressed)) => {
                let r = Repeats { suppressed: *suppressed, over: now.duration_since(*last) };
                *last = now;
                *suppressed = 0;
                Some(r)
            }
            None => {
                self.kinds.insert(kind, (now, 0));
                Some(Repeats { suppressed: 0, over: Duration::ZERO })
            }
        }
    }
}

static LIMITER: Mutex<Option<Limiter>> = Mutex::new(None);

/// Whether a line of `kind` may be logged now; `Some` carries the suffix to append.
pub fn allow(kind: &'static str) -> Option<Repeats> {
    match LIMITER.lock() {
        Ok(mut l) => l.get_or_insert_with(Limiter::default).allow(kind, Instant::now()),
        // A panic elsewhere poisoned it: log rather than lose lines.
        Err(_) => Some(Repeats { suppressed: 0, over: Duration::ZERO }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_window_with_the_count_left_out() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        assert_eq!(l.allow("disk full", t0).map(|r| r.to_string()), Some(String::new()));
        for i in 1..=5811 {
            assert_eq!(l.allow("disk full", t0 + Duration::from_millis(i)), None);
        }
        // Another kind has its own window.
        assert!(l.allow("store error", t0 + Duration::from_secs(1)).is_some());
        let r = l.allow("disk full", t0 + WINDOW).map(|r| r.to_string());
        assert_eq!(r.as_deref(), Some(" (repeated 5,811 times in the last 10 s)"));
        assert_eq!(l.allow("disk full", t0 + WINDOW + Duration::from_secs(1)), None);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(58_000), "58,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
