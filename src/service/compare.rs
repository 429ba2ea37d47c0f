//! Comparing two runs of the tests (`GET /api/verdict/v1/compare`, `verdict compare`):
//! the latest result of every key on each side — a group, an item, or the last good
//! build of the head's package — sorted by the pure `insight::compare` into new failures,
//! fixed, still failing, new tests, missing and flaky, with what the store knows about
//! each failure (how long the key has failed, whether the failure was seen before).

use super::ServiceError;
use super::insight::{SEEN_CAP, find_key};
use super::local::ReadOnly;
use crate::insight::{
    Class, CompareContext, Comparison, FlakyParams, Key, Run, State, compare, key_of, package_name, run_of, signature,
};
use crate::model::{CompareQuery, KeySelect, Outcomes, ResultQuery, Side, Timestamp, default_window_start};
use crate::store::{FailureRow, ReadStore, RunKey, RunRange};
use serde::Serialize;
use std::collections::BTreeMap;

/// A comparison and what each side was.
#[derive(Debug, Clone, Serialize)]
pub struct CompareAnswer {
    pub base: SideShown,
    pub head: SideShown,
    #[serde(flatten)]
    pub comparison: Comparison,
}

/// A side as compared: a group, or an item (for `last_good`, the item it found).
#[derive(Debug, Clone, Serialize)]
pub struct SideShown {
    pub group: Option<String>,
    pub item: Option<String>,
    #[serde(rename = "type")]
    pub item_type: Option<String>,
    /// Keys with a result on this side.
    pub keys: usize,
}

/// The latest result of every key on a side.
type Latest = Vec<(Key, Run)>;

/// Earlier items of the head's package looked at for `last_good`, newest first.
const LAST_GOOD_CANDIDATES: usize = 200;

impl ReadOnly {
    /// `GET /api/verdict/v1/compare`.
    pub fn compare(&self, q: &CompareQuery, now: Timestamp) -> Result<CompareAnswer, ServiceError> {
        self.read(|r| {
            let max_id = q.when.map(|w| r.stored_by(w.0)).transpose()?;
            let head = latest_per_key(r, &q.head, &q.keys, max_id)?;
            // `last_good` has read the latest results of the item it picked already.
            let (base_side, base) = match &q.base {
                Side::LastGood => last_good(r, &q.head, &head, &q.keys, max_id)?.unzip(),
                side => (Some(side.clone()), Some(latest_per_key(r, side, &q.keys, max_id)?)),
            };
            let base = base.unwrap_or_default();
            let context = self.context(r, &base, &head, q, now, max_id)?;
            Ok(CompareAnswer {
                base: shown(base_side.as_ref(), base.len()),
                head: shown(Some(&q.head), head.len()),
                comparison: compare(&base, &head, &context),
            })
        })
    }

    /// What the buckets are annotated with: which keys are flaky (as `flaky` would say at
    /// the same instant, over its default window), how long failing keys have failed, and
    /// how often each head failure was seen before.
    fn context(
        &self,
        r: &dyn ReadStore,
        base: &[(Key, Run)],
        head: &[(Key, Run)],
        q: &CompareQuery,
        now: Timestamp,
        max_id: Option<i64>,
    ) -> Result<CompareContext, ServiceError> {
        // The index's key of every key compared (each looked up once).
        let mut ids: BTreeMap<&Key, RunKey> = BTreeMap::new();
        for (key, _) in base.iter().chain(head) {
            if !ids.contains_key(key)
                && let Some(k) = find_key(r, key)?
            {
                ids.insert(key, k);
            }
        }
        let keys: Vec<RunKey> = ids.values().cloned().collect();
        let end = q.when.unwrap_or(now);
        let range = RunRange {
            since: Some(default_window_start(end).0),
            until: Some(end.0),
            // Parallel readers stop where this snapshot stands.
            max_id: Some(max_id.map_or(r.last_seq(), Ok)?),
            ..RunRange::default()
        };
        let mut context = CompareContext::default();
        for c in self.classify(r, &keys, &range, &FlakyParams::default())? {
            if c.state == State::Flaky {
                context.flaky.insert(Key { testcase: c.testcase, scenario: c.scenario, arch: c.arch });
            }
        }
        let failed_in_base: std::collections::BTreeSet<&Key> =
            base.iter().filter(|(_, run)| run.class() == Class::Fail).map(|(key, _)| key).collect();
        let mut first_failures: BTreeMap<String, FailureRow> = BTreeMap::new();
        for (key, run) in head.iter().filter(|(_, run)| run.class() == Class::Fail) {
            // How long a key has failed is told for still failing keys only.
            if failed_in_base.contains(key)
                && let Some(k) = ids.get(key)
            {
                let (count, since) = r.fail_streak(k.id, max_id)?;
                context.failing.insert(key.clone(), (Timestamp(since), count));
            }
            if let Some(sig) = signature(run) {
                let at = FailureRow { result_id: run.id, submit_time: run.submit_time.0 };
                let first = first_failures.entry(sig).or_insert(at);
                if (at.submit_time, at.result_id) < (first.submit_time, first.result_id) {
                    *first = at;
                }
            }
        }
        // Once per signature (head failures often share one): seen before the earliest
        // head failure that has it.
        for (sig, at) in first_failures {
            let seen = r.failures_before(&sig, at, max_id, SEEN_CAP)?;
            context.seen_before.insert(sig, seen);
        }
        Ok(context)
    }
}

/// The latest result of every key (testcase, scenario, arch) on a side.
fn latest_per_key(
    r: &dyn ReadStore,
    side: &Side,
    keys: &KeySelect,
    max_id: Option<i64>,
) -> Result<Latest, ServiceError> {
    let mut pairs: Vec<(String, String)> = vec![("_distinct_on".into(), "scenario,arch".into())];
    match side {
        Side::Group(uuid) => pairs.push(("groups".into(), uuid.clone())),
        Side::Item { item, item_type } => {
            pairs.push(("item".into(), item.clone()));
            if let Some(t) = item_type {
                pairs.push(("type".into(), t.clone()));
            }
        }
        Side::LastGood => return Ok(Vec::new()),
    }
    let optional = [
        ("testcases", &keys.testcase),
        ("testcases:like", &keys.testcases_like),
        ("scenario", &keys.scenario),
        ("arch", &keys.arch),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            pairs.push((name.into(), v.clone()));
        }
    }
    let mut q = ResultQuery::parse(&pairs, &Outcomes::default_set(), i64::MAX)?;
    q.max_id = max_id;
    Ok(r.latest(&q)?.iter().map(|v| (key_of(&v.record), run_of(v))).collect())
}

/// `last_good`: the newest earlier item of the head item's type and package name (the
/// NVR's name part) whose keys all passed, with those latest results. None when there is
/// none.
fn last_good(
    r: &dyn ReadStore,
    head_side: &Side,
    head: &[(Key, Run)],
    keys: &KeySelect,
    max_id: Option<i64>,
) -> Result<Option<(Side, Latest)>, ServiceError> {
    let Side::Item { item, item_type } = head_side else { return Ok(None) };
    let Some(name) = package_name(item) else {
        return Err(ServiceError::Invalid(crate::model::ModelError::BadRequest(format!(
            "parameter \"base\": last_good needs an NVR as head_item (name-version-release), not {item:?}"
        ))));
    };
    let head_newest = head.iter().map(|(_, run)| run.submit_time).max().unwrap_or(Timestamp(i64::MAX));
    let mut candidates = Vec::new();
    for (_, text) in r.values_with_prefix(&format!("{name}-"), LAST_GOOD_CANDIDATES)? {
        if text == *item || package_name(&text) != Some(name) {
            continue;
        }
        let side = Side::Item { item: text, item_type: item_type.clone() };
        let latest = latest_per_key(r, &side, keys, max_id)?;
        let newest = latest.iter().map(|(_, run)| run.submit_time).max();
        if let Some(newest) = newest.filter(|t| *t < head_newest) {
            candidates.push((newest, side, latest));
        }
    }
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    Ok(candidates
        .into_iter()
        .find(|(_, _, latest)| latest.iter().all(|(_, run)| run.class() == Class::Pass))
        .map(|(_, side, latest)| (side, latest)))
}

fn shown(side: Option<&Side>, keys: usize) -> SideShown {
    let (group, item, item_type) = match side {
        Some(Side::Group(g)) => (Some(g.clone()), None, None),
        Some(Side::Item { item, item_type }) => (None, Some(item.clone()), item_type.clone()),
        Some(Side::LastGood) | None => (None, None, None),
    };
    SideShown { group, item, item_type, keys }
}

/// The same from a running server, off the async workers.
impl super::Service {
    pub async fn compare(&self, q: CompareQuery) -> Result<CompareAnswer, ServiceError> {
        self.reads().classified().mark_asked();
        let service = self.clone();
        tokio::task::spawn_blocking(move || service.reads().compare(&q, Timestamp::now()))
            .await
            .map_err(|e| ServiceError::Unavailable(format!("read worker failed: {e}")))?
    }
}
