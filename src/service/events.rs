//! The event stream of new results: read from the log after a position, so a consumer that
//! reconnects with its last event id misses nothing and gets nothing twice.
//!
//! Each result event says whether its outcome changed from the previous result of the same
//! testcase for the same item (and scenario/arch when it has them), repeats it, or is the
//! first: consumers that only want changes filter on that, machines can take everything.

use crate::log::{Body, Kind};
use crate::model::{QuarantineView, ResultView, Timestamp, WaiverView, quarantines_at};
use crate::store::{ReadStore, StoreError};

/// How a result relates to the one before it (same testcase, item, scenario, arch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// No earlier result to compare with.
    First,
    /// The outcome differs from the previous result's.
    Changed { previous: String },
    /// Same outcome as the previous result.
    Repeated,
}

impl Change {
    /// The SSE event name.
    pub fn event_name(&self) -> &'static str {
        match self {
            Change::First => "result.first",
            Change::Changed { .. } => "result.changed",
            Change::Repeated => "result.repeated",
        }
    }
}

/// One event: a new result at log position `seq`.
#[derive(Debug, Clone)]
pub struct ResultEvent {
    pub seq: i64,
    pub result: ResultView,
    pub change: Change,
}

/// An event of the stream: a result or a waiver, at its log position.
#[derive(Debug, Clone)]
pub enum Event {
    Result(ResultEvent),
    Waiver(WaiverView),
    /// A quarantine rule created (`quarantine.new`) or revoked (`quarantine.revoked`).
    Quarantine(QuarantineView),
}

impl Event {
    pub fn seq(&self) -> i64 {
        match self {
            Event::Result(r) => r.seq,
            Event::Waiver(w) => w.id,
            Event::Quarantine(q) => q.seq,
        }
    }
}

impl QuarantineView {
    /// The SSE event name of this entry.
    pub fn event_name(&self) -> &'static str {
        if self.record.revoked { "quarantine.revoked" } else { "quarantine.new" }
    }

    /// The rule as this entry leaves it (the API's JSON, judged at the entry's time).
    pub fn event_json(&self) -> serde_json::Value {
        let at = Timestamp(self.record.timestamp);
        quarantines_at(std::slice::from_ref(self), None).first().map(|q| q.to_json(at)).unwrap_or_default()
    }
}

/// Which events a consumer wants. Empty lists match everything.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub testcases: Vec<String>,
    pub items: Vec<String>,
    pub outcomes: Vec<String>,
    /// Only results whose outcome changed (or that are first).
    pub changes_only: bool,
}

impl EventFilter {
    /// Waivers match on testcase and subject identifier; filters on outcome or change are
    /// about results, so they leave waivers out.
    fn matches_waiver(&self, w: &WaiverView) -> bool {
        let r = &w.record;
        self.outcomes.is_empty()
            && !self.changes_only
            && (self.testcases.is_empty() || self.testcases.contains(&r.testcase))
            && (self.items.is_empty() || self.items.contains(&r.subject_identifier))
    }

    /// Quarantines are rules, not subjects: a testcase filter keeps those whose glob covers
    /// one of its testcases; item, outcome and change filters leave them out.
    fn matches_quarantine(&self, q: &QuarantineView) -> bool {
        let glob = &q.record.testcase;
        self.outcomes.is_empty()
            && !self.changes_only
            && self.items.is_empty()
            && (self.testcases.is_empty()
                || self.testcases.iter().any(|t| t == glob || crate::gating::fnmatch(t, glob)))
    }

    fn matches(&self, v: &ResultView) -> bool {
        let any = |list: &[String], value: Option<&String>| list.is_empty() || value.is_some_and(|v| list.contains(v));
        any(&self.testcases, Some(&v.record.testcase.name))
            && (self.items.is_empty()
                || v.record.data.get("item").is_some_and(|i| i.iter().any(|x| self.items.contains(x))))
            && any(&self.outcomes, Some(&v.record.outcome))
    }
}

/// Log entries read per round.
const PAGE: usize = 500;

impl super::Service {
    /// Events after log position `after`: the matching ones, and the position read up to
    /// (at most one page of the log per call; call again from there).
    pub async fn events_after(
        &self,
        after: i64,
        filter: EventFilter,
    ) -> Result<(Vec<Event>, i64), super::ServiceError> {
        self.read(move |r| Ok(events_after(r, after, &filter)?)).await
    }
}

/// Events after log position `after`: the matching ones, and the position read up to.
fn events_after(r: &dyn ReadStore, after: i64, filter: &EventFilter) -> Result<(Vec<Event>, i64), StoreError> {
    let entries = r.entries_after(after, PAGE)?;
    let last = entries.last().map_or(after, |(seq, _)| *seq);
    let mut out = Vec::new();
    for (seq, entry) in entries {
        if entry.kind == Kind::Waiver {
            if let Some(w) = r.waiver(seq)?
                && filter.matches_waiver(&w)
            {
                out.push(Event::Waiver(w));
            }
            continue;
        }
        if entry.kind == Kind::Quarantine {
            // The entry carries the whole record: no index lookup needed.
            if let Ok(Body::Quarantine(record)) = Body::decode(entry.kind, &entry.body) {
                let q = QuarantineView { seq, record };
                if filter.matches_quarantine(&q) {
                    out.push(Event::Quarantine(q));
                }
            }
            continue;
        }
        if entry.kind != Kind::Result {
            continue;
        }
        // A result's id is its log position; an entry that repeated a stored uuid is none.
        let Some(view) = r.result(seq)? else { continue };
        if !filter.matches(&view) {
            continue;
        }
        let change = match r.previous_result(&view)? {
            None => Change::First,
            Some(p) if p.record.outcome != view.record.outcome => Change::Changed { previous: p.record.outcome },
            Some(_) => Change::Repeated,
        };
        if filter.changes_only && change == Change::Repeated {
            continue;
        }
        out.push(Event::Result(ResultEvent { seq, result: view, change }));
    }
    Ok((out, last))
}
