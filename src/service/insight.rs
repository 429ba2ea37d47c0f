//! Insight's use cases: a key's history and the flaky classification, over the store's
//! insight index (`runs`), judged by the pure `crate::insight` rules. Reads only, on one
//! snapshot each, so a running server and a command on the same store answer alike; with
//! `when`, only what this node had stored by then counts (as decisions' `when`).

use super::ServiceError;
use super::classified::Classified;
use super::local::ReadOnly;
use crate::insight::{
    Classification, FlakyParams, Key, KeyHistory, PrunedHistory, Run, classify, pruned_history, run_of, signature,
    summarize,
};
use crate::model::horizon::day_of;
use crate::model::{FlakyQuery, HistoryQuery, KeySelect, ResultView, SimilarQuery, Timestamp};
use crate::store::{FailureRow, KeyFilter, ReadStore, RunKey, RunRange, RunRow};
use serde::Serialize;
use std::sync::Arc;

/// One key's history: its statistics over every result in range, and the newest rows.
#[derive(Debug, Clone, Serialize)]
pub struct KeyHistoryAnswer {
    #[serde(flatten)]
    pub key: Key,
    #[serde(flatten)]
    pub summary: KeyHistory,
    /// The newest failure listed: its signature, and how many results failed the same
    /// way before it (counted up to [`SEEN_CAP`]).
    pub signature: Option<String>,
    pub seen_before: Option<usize>,
    /// What results `verdict prune` dropped said, per whole UTC day of the window (not
    /// for an `item`/`type` question: the summaries are per key and day). The numbers
    /// above count only the results still held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned: Option<PrunedHistory>,
    /// Newest first, at most `limit`.
    pub results: Vec<HistoryRow>,
}

/// Known failures are counted up to this many: "1000" then reads "at least". Counting is
/// a range scan of the signature's failures, and past a thousand the number no longer
/// changes what a reader does about the failure (it is a well-known one).
pub const SEEN_CAP: usize = 1_000;

/// `GET /api/verdict/v1/results/{id}/similar`.
#[derive(Debug, Clone, Serialize)]
pub struct SimilarAnswer {
    pub id: i64,
    /// None for a pass, or a failure without a note or error reason.
    pub signature: Option<String>,
    /// Earlier results with the same signature (counted up to [`SEEN_CAP`]).
    pub seen_before: usize,
    pub first_seen: Option<String>,
    /// The items of the results listed, each once, newest first.
    pub items: Vec<String>,
    /// Earlier results with the same signature, newest first, at most `limit`.
    pub results: Vec<HistoryRow>,
}

/// A result as a history lists it.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    pub id: i64,
    pub uuid: String,
    pub item: String,
    pub outcome: String,
    pub submit_time: String,
    pub note: Option<String>,
    /// The failure signature (failing results with a note or error reason).
    pub signature: Option<String>,
}

impl HistoryRow {
    fn of(view: &ResultView) -> HistoryRow {
        let run = run_of(view);
        HistoryRow {
            id: run.id,
            signature: signature(&run),
            uuid: run.uuid,
            item: run.item.to_string(),
            outcome: run.outcome.to_string(),
            submit_time: run.submit_time.to_iso(),
            note: run.note,
        }
    }
}

/// The flaky classification of every key in a window.
#[derive(Debug, Clone, Serialize)]
pub struct FlakyAnswer {
    pub since: String,
    pub until: String,
    /// The thresholds used (echoed so an answer explains itself).
    pub params: FlakyParams,
    pub data: Vec<Classification>,
}

fn filter_of(k: &KeySelect) -> KeyFilter {
    KeyFilter {
        testcase: k.testcase.clone(),
        testcase_like: k.testcases_like.clone(),
        scenario: k.scenario.clone(),
        arch: k.arch.clone(),
    }
}

/// The index's key for (testcase, scenario, arch), if any pass or fail was stored under it.
pub(super) fn find_key(r: &dyn ReadStore, key: &Key) -> Result<Option<RunKey>, ServiceError> {
    let filter = KeyFilter {
        testcase: Some(key.testcase.clone()),
        scenario: Some(key.scenario.clone()),
        arch: Some(key.arch.clone()),
        ..KeyFilter::default()
    };
    Ok(r.run_keys(&filter)?.into_iter().next())
}

fn key_of(k: &RunKey) -> Key {
    Key { testcase: k.testcase.clone(), scenario: k.scenario.clone(), arch: k.arch.clone() }
}

/// What a range of runs is limited to: the item (when it is not known, nothing matches),
/// the times, and `when`.
struct Scope {
    range: RunRange,
    /// An item or type that no result carries: every key is empty.
    empty: bool,
}

fn scope(
    r: &dyn ReadStore,
    item: Option<&str>,
    item_type: Option<&str>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    when: Option<Timestamp>,
) -> Result<Scope, ServiceError> {
    let mut empty = false;
    let mut lookup = |text: Option<&str>| -> Result<Option<i64>, ServiceError> {
        let Some(text) = text else { return Ok(None) };
        let id = r.value_id(text)?;
        empty |= id.is_none();
        Ok(id)
    };
    let (item_id, type_id) = (lookup(item)?, lookup(item_type)?);
    // `when` is about what was stored by then, not submit times (as decisions' `when`).
    let max_id = when.map(|w| r.stored_by(w.0)).transpose()?;
    let range = RunRange {
        since: since.map(|t| t.0),
        until: until.map(|t| t.0),
        max_id,
        item_id,
        type_id,
        newest_first: false,
        limit: None,
    };
    Ok(Scope { range, empty })
}

/// Item and type texts by interned id, shared by every run that names them (a window
/// of a million runs holds a few thousand items), fetched once per answer.
struct Texts {
    known: foldhash::HashMap<i64, Arc<str>>,
    none: Arc<str>,
    passed: Arc<str>,
    failed: Arc<str>,
}

impl Texts {
    fn new() -> Texts {
        Texts {
            known: foldhash::HashMap::default(),
            none: Arc::from(""),
            passed: Arc::from("PASSED"),
            failed: Arc::from("FAILED"),
        }
    }

    /// Fetches the texts of the ids in `rows` not known yet.
    fn learn(&mut self, r: &dyn ReadStore, rows: &[RunRow]) -> Result<(), ServiceError> {
        let mut ids: Vec<i64> = rows
            .iter()
            .flat_map(|row| [row.item_id, row.type_id])
            .filter(|id| *id > 0 && !self.known.contains_key(id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if !ids.is_empty() {
            self.known.extend(r.value_texts(&ids)?.into_iter().map(|(id, text)| (id, Arc::from(text))));
        }
        Ok(())
    }

    fn get(&self, id: i64) -> Arc<str> {
        self.known.get(&id).cloned().unwrap_or_else(|| self.none.clone())
    }

    /// Runs as the pure rules see them, from index rows (outcomes stand for their class
    /// until the evidence is filled in from the results themselves).
    fn runs(&self, rows: &[RunRow]) -> Vec<Run> {
        rows.iter()
            .map(|row| Run {
                id: row.result_id,
                uuid: String::new(),
                item: self.get(row.item_id),
                item_type: self.get(row.type_id),
                outcome: if row.fail { self.failed.clone() } else { self.passed.clone() },
                submit_time: Timestamp(row.submit_time),
                note: None,
                duration: row.duration,
                error_reason: None,
            })
            .collect()
    }
}

/// The result behind an index row (it exists: the row is derived from it).
pub(super) fn view(r: &dyn ReadStore, id: i64) -> Result<ResultView, ServiceError> {
    r.result(id)?.ok_or_else(|| ServiceError::NotFound(format!("result {id} is indexed but not found")))
}

impl ReadOnly {
    /// `GET /api/verdict/v1/history`: per key matching the query, statistics over its
    /// results in range and the newest `limit` of them.
    pub fn history(&self, q: &HistoryQuery) -> Result<Vec<KeyHistoryAnswer>, ServiceError> {
        self.read(|r| {
            let s = scope(r, q.item.as_deref(), q.item_type.as_deref(), q.since, q.until, q.when)?;
            let mut out = Vec::new();
            for k in r.run_keys(&filter_of(&q.keys))? {
                let rows = if s.empty { Vec::new() } else { r.runs(k.id, &s.range)? };
                let pruned = if q.item.is_some() || q.item_type.is_some() {
                    None
                } else {
                    let day = |t: Option<Timestamp>| t.map(|t| day_of(t.0));
                    pruned_history(&r.run_days(k.id, day(q.since), day(q.until))?)
                };
                if rows.is_empty() && pruned.is_none() {
                    continue;
                }
                let summary = summarize(&Texts::new().runs(&rows));
                let results: Vec<HistoryRow> = rows
                    .iter()
                    .rev()
                    .take(q.limit)
                    .map(|row| Ok(HistoryRow::of(&view(r, row.result_id)?)))
                    .collect::<Result<_, ServiceError>>()?;
                let (signature, seen_before) = match results.iter().find(|row| row.signature.is_some()) {
                    Some(row) => {
                        let time = rows.iter().find(|x| x.result_id == row.id).map_or(0, |x| x.submit_time);
                        let sig = row.signature.clone().unwrap_or_default();
                        let before = FailureRow { result_id: row.id, submit_time: time };
                        (Some(sig.clone()), Some(r.failures_before(&sig, before, s.range.max_id, SEEN_CAP)?))
                    }
                    None => (None, None),
                };
                out.push(KeyHistoryAnswer { key: key_of(&k), summary, signature, seen_before, pruned, results });
            }
            Ok(out)
        })
    }

    /// `GET /api/verdict/v1/results/{id}/similar`: the result's failure signature and the
    /// earlier results that failed the same way (as this node knew them at `when`).
    pub fn similar(&self, id: i64, limit: usize, when: Option<Timestamp>) -> Result<SimilarAnswer, ServiceError> {
        self.read(|r| {
            let this = r.result(id)?.ok_or_else(|| ServiceError::NotFound(format!("Result {id} not found")))?;
            let max_id = when.map(|w| r.stored_by(w.0)).transpose()?;
            let sig = signature(&run_of(&this));
            let mut answer = SimilarAnswer {
                id,
                signature: sig.clone(),
                seen_before: 0,
                first_seen: None,
                items: Vec::new(),
                results: Vec::new(),
            };
            let Some(sig) = sig else { return Ok(answer) };
            let at = FailureRow { result_id: id, submit_time: this.record.submit_time };
            answer.seen_before = r.failures_before(&sig, at, max_id, SEEN_CAP)?;
            answer.first_seen =
                r.failures(&sig, max_id, None, true, 1)?.first().map(|f| Timestamp(f.submit_time).to_iso());
            for f in r.failures(&sig, max_id, Some(at), false, limit)? {
                answer.results.push(HistoryRow::of(&view(r, f.result_id)?));
            }
            for row in &answer.results {
                if !row.item.is_empty() && !answer.items.contains(&row.item) {
                    answer.items.push(row.item.clone());
                }
            }
            Ok(answer)
        })
    }

    /// `GET /api/verdict/v1/flaky`: the state of every key with results in the window
    /// (flaky, broken or healthy), with the results that made it so.
    pub fn flaky(&self, q: &FlakyQuery, now: Timestamp) -> Result<FlakyAnswer, ServiceError> {
        let since = q.window_start(now);
        let until = q.when.unwrap_or(now);
        let params = FlakyParams {
            min_runs: q.min_runs,
            flip_rate: q.flip_rate,
            breakage_run: q.breakage_run,
            clear_after: q.clear_after,
        };
        // The keys and the log position to read up to, on one snapshot; then the keys are
        // classified on parallel readers. Every reader stops at that position, so together
        // they answer as one snapshot would (measured: BENCHMARKS.md, "Insight").
        let data = self.read(|r| {
            let mut s = scope(r, q.item.as_deref(), q.item_type.as_deref(), Some(since), Some(until), q.when)?;
            s.range.max_id = Some(s.range.max_id.map_or(r.last_seq(), Ok)?);
            let keys = if s.empty { Vec::new() } else { r.run_keys(&filter_of(&q.keys))? };
            self.classify(r, &keys, &s.range, &params)
        })?;
        Ok(FlakyAnswer { since: since.to_iso(), until: until.to_iso(), params, data })
    }
}

impl ReadOnly {
    /// Classifies `keys` (answers in their order; keys without runs in `range` left out).
    /// Remembered answers that still hold are proved on `r`, the caller's snapshot, which
    /// `range.max_id` was taken on; the other keys are classified on parallel readers, each
    /// reading at most up to `range.max_id`, so together they answer as one snapshot would.
    pub(super) fn classify(
        &self,
        r: &dyn ReadStore,
        keys: &[RunKey],
        range: &RunRange,
        params: &FlakyParams,
    ) -> Result<Vec<Classification>, ServiceError> {
        let mut answers: Vec<Option<Option<Classification>>> =
            keys.iter().map(|k| self.classified().get(r, k, range, params)).collect::<Result<_, _>>()?;
        let missing: Vec<RunKey> =
            keys.iter().zip(&answers).filter(|(_, a)| a.is_none()).map(|(k, _)| k.clone()).collect();
        let mut fresh = self.classify_parallel(&missing, range, params)?.into_iter();
        for slot in answers.iter_mut().filter(|a| a.is_none()) {
            *slot = fresh.next();
        }
        Ok(answers.into_iter().flatten().flatten().collect())
    }

    /// Classifies `keys` (answers in their order, None for a key without runs) on parallel
    /// readers, and remembers the answers.
    fn classify_parallel(
        &self,
        keys: &[RunKey],
        range: &RunRange,
        params: &FlakyParams,
    ) -> Result<Vec<Option<Classification>>, ServiceError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_WORKERS);
        let chunk = keys.len().div_ceil(workers).max(1);
        let parts: Vec<Result<Vec<Option<Classification>>, ServiceError>> = std::thread::scope(|threads| {
            let handles: Vec<_> = keys
                .chunks(chunk)
                .map(|part| threads.spawn(|| self.read(|r| classify_keys(r, self.classified(), part, range, params))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(ServiceError::Unavailable("a flaky worker failed".into()))))
                .collect()
        });
        let mut data = Vec::with_capacity(keys.len());
        for part in parts {
            data.extend(part?);
        }
        Ok(data)
    }
}

/// Least time between two background passes of `keep_insight_warm`.
const WARM_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Most threads one flaky answer reads with.
const MAX_WORKERS: usize = 4;

/// Classifies `keys` (in order; None for a key without runs in `range`) over their runs
/// in `range`, with the evidence filled in, and remembers the answers (see `classified`).
fn classify_keys(
    r: &dyn ReadStore,
    memo: &Classified,
    keys: &[RunKey],
    range: &RunRange,
    params: &FlakyParams,
) -> Result<Vec<Option<Classification>>, ServiceError> {
    let mut texts = Texts::new();
    let mut out = Vec::new();
    for k in keys {
        let rows = r.runs(k.id, range)?;
        if rows.is_empty() {
            memo.put(k, range, params, None);
            out.push(None);
            continue;
        }
        texts.learn(r, &rows)?;
        let mut c = classify(&key_of(k), &texts.runs(&rows), params);
        for e in &mut c.evidence {
            let run = run_of(&view(r, e.id)?);
            (e.uuid, e.outcome) = (run.uuid, run.outcome.to_string());
        }
        memo.put(k, range, params, Some(&c));
        out.push(Some(c));
    }
    Ok(out)
}

/// The same answers from a running server, off the async workers (a window may scan
/// many results).
impl super::Service {
    pub async fn history(&self, q: HistoryQuery) -> Result<Vec<KeyHistoryAnswer>, ServiceError> {
        self.off_workers(move |reads| reads.history(&q)).await
    }

    pub async fn similar(&self, id: i64, q: SimilarQuery) -> Result<SimilarAnswer, ServiceError> {
        self.off_workers(move |reads| reads.similar(id, q.limit, q.when)).await
    }

    pub async fn flaky(&self, q: FlakyQuery) -> Result<FlakyAnswer, ServiceError> {
        self.reads().classified().mark_asked();
        self.off_workers(move |reads| reads.flaky(&q, Timestamp::now())).await
    }

    /// Keeps the remembered classifications of the default flaky window fresh for a
    /// running server while it is used: after writes, at most every [`WARM_EVERY`], one
    /// default `flaky` pass if a client asked `flaky` or `compare` since the last look (a
    /// server whose insight nobody uses spends nothing on it, at start or later). A pass
    /// classifies again only the keys whose runs changed, so `compare` and the flaky board
    /// rarely wait for a whole window (measured: BENCHMARKS.md, "Insight"). The task holds
    /// a service handle: abort it before waiting for the writer to stop.
    pub fn keep_insight_warm(&self) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            let mut committed = service.committed();
            loop {
                tokio::time::sleep(WARM_EVERY).await;
                if committed.changed().await.is_err() {
                    return;
                }
                if !service.reads().classified().take_asked() {
                    continue;
                }
                let pass = service.off_workers(|reads| reads.flaky(&FlakyQuery::parse(&[])?, Timestamp::now()));
                if let Err(e) = pass.await {
                    tracing::warn!(error = %e, "warming the flaky classifications failed");
                }
            }
        })
    }

    async fn off_workers<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ReadOnly) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        let service = self.clone();
        tokio::task::spawn_blocking(move || f(service.reads()))
            .await
            .map_err(|e| ServiceError::Unavailable(format!("read worker failed: {e}")))?
    }
}
