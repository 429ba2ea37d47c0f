//! `GET /api/v2.0/events`: a Server-Sent Events stream of new results, resumable with
//! `Last-Event-ID` (the log position), filterable by testcase, item, outcome and change.

use super::AppState;
use super::request::Ctx;
use crate::service::Service;
use crate::service::events::{Event as StreamEvent, EventFilter};
use crate::service::render::{Urls, result_json, to_wire};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

/// How often a quiet stream re-reads the log anyway (writes by other processes, e.g.
/// `verdict submit`, do not wake it).
const POLL: Duration = Duration::from_secs(1);

/// Where a stream stands.
struct Cursor {
    service: Service,
    urls: Urls,
    filter: EventFilter,
    after: i64,
    buffer: VecDeque<StreamEvent>,
    committed: tokio::sync::watch::Receiver<i64>,
    /// Counts the stream in `verdict_sse_subscribers` while it is open.
    _subscriber: crate::service::metrics::Subscriber,
}

fn list(ctx: &Ctx, name: &str, upper: bool) -> Vec<String> {
    ctx.pairs
        .iter()
        .filter(|(k, _)| k == name)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| if upper { s.to_uppercase() } else { s.to_owned() })
        .collect()
}

#[utoipa::path(get, path = "/api/v2.0/events", tag = "resultsdb",
    params(
        crate::http::openapi::params::EventParams,
        ("Last-Event-ID" = Option<String>, Header,
            description = "Resume after this log position (an integer; anything else starts from now)"),
    ),
    responses((status = 200, content_type = "text/event-stream", body = crate::http::openapi::schemas::SseEvent,
        description = "Server-Sent Events that never end: `result.first`, `result.changed` and \
            `result.repeated` (a result), `waiver.new` (a waiver), `quarantine.new` and \
            `quarantine.revoked` (a rule), each with its log position as the id")))]
/// Server-Sent Events of new results, waivers and quarantine changes.
pub async fn events(State(s): State<AppState>, ctx: Ctx) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let filter = EventFilter {
        testcases: list(&ctx, "testcases", false),
        items: list(&ctx, "item", false),
        outcomes: list(&ctx, "outcome", true),
        changes_only: ctx.pairs.iter().any(|(k, v)| k == "changes_only" && matches!(v.as_str(), "1" | "true")),
    };
    let committed = s.service.committed();
    // Resume after the last event the client saw; a new client starts from now.
    let resume = ctx
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| ctx.pairs.iter().find(|(k, _)| k == "last_event_id").map(|(_, v)| v.clone()))
        .and_then(|v| v.trim().parse::<i64>().ok());
    let after = resume.unwrap_or_else(|| *committed.borrow());
    let cursor = Cursor {
        service: s.service.clone(),
        urls: ctx.urls.clone(),
        filter,
        after,
        buffer: VecDeque::new(),
        committed,
        _subscriber: s.service.metrics().subscriber(),
    };
    // The stream ends when the server shuts down, so the connection can close gracefully.
    let shutdown = s.shutdown.clone();
    let stream = futures_util::stream::unfold(cursor, next).take_until(async move { shutdown.begun().await });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The next event, waiting for new commits when the log has nothing more.
async fn next(mut c: Cursor) -> Option<(Result<Event, Infallible>, Cursor)> {
    loop {
        if let Some(e) = c.buffer.pop_front() {
            let (name, json) = match &e {
                StreamEvent::Result(r) => (r.change.event_name(), to_wire(&result_json(&r.result, &c.urls))),
                StreamEvent::Waiver(w) => ("waiver.new", to_wire(&w.to_json())),
                StreamEvent::Quarantine(q) => (q.event_name(), to_wire(&q.event_json())),
            };
            let data = String::from_utf8_lossy(json.trim_ascii_end()).into_owned();
            let event = Event::default().id(e.seq().to_string()).event(name).data(data);
            return Some((Ok(event), c));
        }
        let (after, filter) = (c.after, c.filter.clone());
        match c.service.events_after(after, filter).await {
            Ok((events, read_to)) => {
                let progressed = read_to > c.after;
                c.after = read_to;
                c.buffer.extend(events);
                if progressed {
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "event stream read failed"),
        }
        // Caught up: wait for the next commit (or poll for other writers' commits).
        if let Ok(Err(_)) = tokio::time::timeout(POLL, c.committed.changed()).await {
            return None; // the writer is gone: the server is shutting down
        }
    }
}
