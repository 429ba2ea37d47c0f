//! Waivers and gating decisions over the local store: fetching what the pure engines
//! (`model::waiver`, `gating`) need and handing them the store's results and waivers.

use super::ServiceError;
use super::render::{Urls, result_json};
use crate::gating::{DecisionError, Gate, NoRemoteRules, SubjectData};
use crate::model::{
    BySubjectsRequest, DataFilter, FilterRequest, ResultQuery, ResultView, Timestamp, WaiverFilter, WaiverListQuery,
    WaiverView,
};
use crate::store::{Reader, WaiverKeys};
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
    r: &Reader,
    gate: &Gate,
    body: Option<&Value>,
    urls: &Urls,
    now: Timestamp,
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
    Ok(gate.decide(&req, &data, now, &NoRemoteRules, &render)?)
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

/// The waivers a filter can concern: those sharing every key field it constrains (the
/// fields that decide which waiver is current are a superset, so obsolescence stays right).
fn keys_of(f: &WaiverFilter, with_user_and_version: bool) -> WaiverKeys {
    let one = |v: &Option<String>| v.iter().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>();
    WaiverKeys {
        subject_types: one(&f.subject_type),
        subject_identifiers: one(&f.subject_identifier),
        testcases: one(&f.testcase),
        scenarios: one(&f.scenario),
        product_versions: if with_user_and_version { one(&f.product_version) } else { Vec::new() },
        usernames: if with_user_and_version { one(&f.username) } else { Vec::new() },
    }
}

/// `GET /api/v1.0/waivers/`: the waivers the query could show (plus those that decide
/// which of them are current); the caller pages them with `model::list_waivers`.
pub fn waivers_for_list(r: &Reader, q: &WaiverListQuery) -> Result<Vec<WaiverView>, ServiceError> {
    Ok(r.waivers_matching(&[keys_of(&q.filter, true)])?)
}

/// `POST /api/v1.0/waivers/+filtered`: candidates for any of the filters.
pub fn waivers_for_filters(r: &Reader, req: &FilterRequest) -> Result<Vec<WaiverView>, ServiceError> {
    let keys: Vec<WaiverKeys> = req.filters.iter().map(|f| keys_of(f, false)).collect();
    Ok(r.waivers_matching(&keys)?)
}

/// `POST /api/v1.0/waivers/+by-subjects-and-testcases`: candidates for the listed pairs.
pub fn waivers_for_subjects(r: &Reader, req: &BySubjectsRequest) -> Result<Vec<WaiverView>, ServiceError> {
    let keys: Vec<WaiverKeys> = match &req.results {
        Some(pairs) if !pairs.is_empty() => pairs
            .iter()
            .filter_map(|(subject, _)| subject.as_ref())
            .map(|(t, i)| WaiverKeys {
                subject_types: vec![t.clone()],
                subject_identifiers: vec![i.clone()],
                ..WaiverKeys::default()
            })
            .collect(),
        _ => vec![WaiverKeys::default()],
    };
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(r.waivers_matching(&keys)?)
}
