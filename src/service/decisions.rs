//! Greenwave's use cases (API v1.0 `/decision`): fetching from the store the results and
//! waivers the pure `gating` engine needs for each subject, and asking it for the decision.

use super::quarantines::{QuarantineCache, released_keys, rules_for_decision};
use super::render::{Urls, result_json};
use super::{Service, ServiceError};
use crate::gating::{DecisionError, Gate, NoRemoteRules, QuarantineData, SubjectData};
use crate::model::{DataFilter, ResultQuery, ResultView, Timestamp, WaiverView};
use crate::store::{ReadStore, WaiverKeys};
use serde_json::Value;

/// The distinct keys of Greenwave's `/results/latest` queries: one latest result per
/// testcase and scenario/architecture/variant.
const DISTINCT_ON: [&str; 3] = ["scenario", "system_architecture", "system_variant"];

impl From<DecisionError> for ServiceError {
    fn from(e: DecisionError) -> Self {
        ServiceError::Decision(e)
    }
}

/// Answers `POST /api/v1.0/decision` from the store.
pub fn decide(
    r: &dyn ReadStore,
    gate: &Gate,
    body: Option<&Value>,
    urls: &Urls,
    now: Timestamp,
) -> Result<Value, ServiceError> {
    decide_cached(r, gate, body, urls, now, &QuarantineCache::default())
}

/// [`decide`] with the service's compiled quarantine rules.
fn decide_cached(
    r: &dyn ReadStore,
    gate: &Gate,
    body: Option<&Value>,
    urls: &Urls,
    now: Timestamp,
    cache: &QuarantineCache,
) -> Result<Value, ServiceError> {
    let req = gate.plan(body)?;
    // `when`: judge exactly what was stored here by then — filtered before the latest
    // result is picked, so a result that arrived later cannot hide an earlier one.
    let stored_by = req.when.map(|w| r.stored_by(w.0)).transpose()?;
    let mut fetched: Vec<(Vec<ResultView>, Vec<WaiverView>)> = Vec::with_capacity(req.subjects.len());
    for plan in &req.subjects {
        let fetch = plan.result_fetch(&req);
        let mut results = Vec::new();
        if fetch.testcases.as_ref().is_none_or(|t| !t.is_empty()) {
            for filters in &fetch.queries {
                let mut q = latest_query(filters, fetch.testcases.as_deref(), fetch.until);
                q.max_id = stored_by;
                results.extend(r.latest(&q)?);
            }
        }
        let wf = plan.waiver_fetch();
        let waivers = r.waivers_matching(&[WaiverKeys {
            subject_types: wf.subject_types,
            subject_identifiers: vec![wf.subject_identifier],
            ..WaiverKeys::default()
        }])?;
        fetched.push((results, waivers));
    }
    let data: Vec<SubjectData> =
        fetched.iter().map(|(results, waivers)| SubjectData { results, waivers, created: None }).collect();
    let render = |v: &ResultView| serde_json::to_value(result_json(v, urls)).unwrap_or(Value::Null);
    // Quarantines last: they only matter to requirements results and waivers left unmet.
    let rules = rules_for_decision(r, cache, req.when, stored_by)?;
    let at = req.when.unwrap_or(now);
    let results = fetched.iter().flat_map(|(results, _)| results.iter());
    let released = released_keys(r, cache, &rules, results, &gate.outcomes, at, stored_by)?;
    let quarantines = QuarantineData { rules: &rules, released: &released };
    Ok(gate.decide_with_quarantines(&req, &data, now, &NoRemoteRules, &render, quarantines)?)
}

fn latest_query(filters: &[DataFilter], testcases: Option<&[String]>, until: Option<Timestamp>) -> ResultQuery {
    ResultQuery {
        data: filters.to_vec(),
        testcases: testcases.map(<[String]>::to_vec).unwrap_or_default(),
        until,
        distinct_on: DISTINCT_ON.iter().map(|s| (*s).to_owned()).collect(),
        ..ResultQuery::default()
    }
}

impl Service {
    /// `POST /api/v1.0/decision` (`body`: `None` when the request carried no JSON).
    pub async fn decide(&self, body: Option<Value>, urls: Urls) -> Result<Value, ServiceError> {
        let gate = self.inner.config.gate.clone();
        let anchored =
            body.as_ref().is_some_and(|b| b.get("subject_identifier").is_some() || b.get("subject").is_some());
        let service = self.clone();
        let f = move |r: &dyn ReadStore| {
            decide_cached(r, &gate, body.as_ref(), &urls, Timestamp::now(), &service.inner.quarantines)
        };
        let answer = self.read_quick(anchored, f).await;
        let satisfied = answer.as_ref().ok().map(|v| v.get("policies_satisfied").and_then(Value::as_bool));
        self.inner.metrics.decision(satisfied.map(|s| s.unwrap_or(false)));
        answer
    }
}
