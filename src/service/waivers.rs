//! WaiverDB's use cases (API v1.0 `/waivers…`): creating waivers through the write queue,
//! and the list, `+filtered` and `+by-subjects-and-testcases` queries — fetching from the
//! store only the waivers a query can concern and handing them to `model`'s pure rules.

use super::{Service, ServiceError, auth, render};
use crate::log::Body;
use crate::model::{
    BySubjectsRequest, FilterRequest, Loc, WaiverError, WaiverFilter, WaiverListQuery, WaiverTarget, WaiverView,
    check_waiver, filter_waivers, list_waivers, new_result_uuid, parse_create_waivers, waivers_by_subjects,
};
use crate::store::{ReadStore, WaiverKeys, Written};
use serde_json::Value;

impl Service {
    /// `POST /api/v1.0/waivers/`: one waiver or a list, all or nothing. Returns the stored
    /// waivers and whether the body was a list (the answer mirrors it).
    pub async fn create_waivers(
        &self,
        body: &Value,
        creds: &auth::Credentials,
    ) -> Result<(Vec<WaiverView>, bool), ServiceError> {
        let auth = &self.inner.config.auth;
        let who = auth.authenticate(creds)?;
        let (caller, _) = auth.may_waive(who.as_ref(), None)?;
        self.store_waivers(body, who.as_ref(), caller).await
    }

    /// Waivers created by whoever may write the store file (`verdict waive`): access to
    /// the file is the right, and `operator` is recorded as the waiver's username.
    pub async fn create_waivers_as(
        &self,
        body: &Value,
        operator: &str,
    ) -> Result<(Vec<WaiverView>, bool), ServiceError> {
        self.store_waivers(body, None, operator.to_owned()).await
    }

    /// Validates and stores waivers created by `caller` (`who`'s testcase rights apply).
    async fn store_waivers(
        &self,
        body: &Value,
        who: Option<&auth::Identity>,
        caller: String,
    ) -> Result<(Vec<WaiverView>, bool), ServiceError> {
        let auth = &self.inner.config.auth;
        let is_superuser = auth.superusers.iter().any(|s| s == &caller);
        let now = self.inner.clock.next();
        let parsed = parse_create_waivers(body, now)?;
        let mut bodies = Vec::with_capacity(parsed.items.len());
        let mut too_long = Vec::new();
        for (i, item) in parsed.items.into_iter().enumerate() {
            let item = match item.target {
                WaiverTarget::ResultId(id) => {
                    let found = self.read_now(move |r| Ok(r.result(id)?))?;
                    item.with_result(found.as_ref().map(|v| &v.record))?
                }
                WaiverTarget::Subject { .. } => item,
            };
            let record = item.into_record(&caller, is_superuser, now, new_result_uuid())?;
            auth.may_waive_testcase(who, &record.testcase)?;
            let at = if parsed.is_list { vec![Loc::from(i)] } else { Vec::new() };
            too_long.extend(check_waiver(&record, &self.inner.config.input_limits, &at));
            bodies.push(Body::Waiver(record));
        }
        if !too_long.is_empty() {
            return Err(WaiverError::Validation(too_long).into());
        }
        let written = self.write(bodies).await?;
        let waivers = written
            .into_iter()
            .filter_map(|w| match w {
                Written::Waiver(v) => Some(v),
                _ => None,
            })
            .collect();
        Ok((waivers, parsed.is_list))
    }

    pub async fn waiver(&self, id: &str) -> Result<WaiverView, ServiceError> {
        let not_found = || ServiceError::NotFound("Waiver not found".into());
        let id: i64 = id.parse().map_err(|_| not_found())?;
        self.read_now(move |r| r.waiver(id)?.ok_or_else(not_found))
    }

    /// `GET /api/v1.0/waivers/`: the page's waivers and links (`base`: the list URL).
    pub async fn list_waivers(&self, pairs: Vec<(String, String)>, base: String) -> Result<Vec<u8>, ServiceError> {
        let q = WaiverListQuery::parse(&pairs)?;
        self.read(move |r| {
            let all = waivers_for_list(r, &q)?;
            let page = list_waivers(&all, &q);
            Ok(render::to_wire_py(&page.to_json(&base, &pairs)))
        })
        .await
    }

    /// `POST /api/v1.0/waivers/+filtered`.
    pub async fn filtered_waivers(&self, body: &Value) -> Result<Vec<u8>, ServiceError> {
        let req = FilterRequest::parse(body)?;
        self.read(move |r| {
            let all = waivers_for_filters(r, &req)?;
            Ok(waivers_data(filter_waivers(&all, &req)))
        })
        .await
    }

    /// `POST /api/v1.0/waivers/+by-subjects-and-testcases` (deprecated upstream).
    pub async fn waivers_by_subjects(&self, body: &Value) -> Result<Vec<u8>, ServiceError> {
        let req = BySubjectsRequest::parse(body)?;
        self.read(move |r| {
            let all = waivers_for_subjects(r, &req)?;
            Ok(waivers_data(waivers_by_subjects(&all, &req)))
        })
        .await
    }
}

/// WaiverDB's `{"data": [...]}` body for the waivers a filter kept.
fn waivers_data(waivers: Vec<&WaiverView>) -> Vec<u8> {
    let data: Vec<_> = waivers.into_iter().map(|w| w.to_json()).collect();
    render::to_wire_py(&render::DataOnly { data })
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
fn waivers_for_list(r: &dyn ReadStore, q: &WaiverListQuery) -> Result<Vec<WaiverView>, ServiceError> {
    Ok(r.waivers_matching(&[keys_of(&q.filter, true)])?)
}

/// `POST /api/v1.0/waivers/+filtered`: candidates for any of the filters.
fn waivers_for_filters(r: &dyn ReadStore, req: &FilterRequest) -> Result<Vec<WaiverView>, ServiceError> {
    let keys: Vec<WaiverKeys> = req.filters.iter().map(|f| keys_of(f, false)).collect();
    Ok(r.waivers_matching(&keys)?)
}

/// `POST /api/v1.0/waivers/+by-subjects-and-testcases`: candidates for the listed pairs.
fn waivers_for_subjects(r: &dyn ReadStore, req: &BySubjectsRequest) -> Result<Vec<WaiverView>, ServiceError> {
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
