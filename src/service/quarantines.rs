//! Quarantine use cases (our API `/api/verdict/v1/quarantines`, `verdict quarantine`):
//! creating and revoking rules through the write queue, listing them, and fetching for a
//! decision the rules that stood at its instant and where they have released a key.
//!
//! Decisions read the rules through [`QuarantineCache`]: the compiled, indexed rule set is
//! rebuilt only when a quarantine entry arrived (one `max(seq)` lookup per decision tells),
//! so 1,000 loaded rules cost a decision nothing until a requirement is unsatisfied.

use super::insight::find_key;
use super::{Service, ServiceError, auth, local};
use crate::gating::{OutcomeClasses, QuarantineRules, Released, released_by};
use crate::insight::{Key, key_of};
use crate::log::Body;
use crate::model::{
    Quarantine, QuarantineError, QuarantineRequest, QuarantineView, ResultView, Timestamp, new_result_uuid,
    parse_quarantine_request, quarantines_at,
};
use crate::store::{ReadStore, RunRange, Written};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

impl From<QuarantineError> for ServiceError {
    fn from(e: QuarantineError) -> Self {
        ServiceError::Quarantine(e)
    }
}

/// The standing rules, compiled, with the quarantine log position they were built at.
#[derive(Default)]
pub struct QuarantineCache(Mutex<Option<(i64, Arc<QuarantineRules>)>>, KeyIds);

/// Insight key ids by (testcase, scenario, arch): a key's id never changes once made, so
/// release lookups skip finding it again (only keys that exist are remembered).
#[derive(Default)]
pub(super) struct KeyIds(Mutex<HashMap<Key, i64>>);

impl KeyIds {
    fn get(&self, r: &dyn ReadStore, key: &Key) -> Result<Option<i64>, ServiceError> {
        if let Some(id) = self.0.lock().ok().and_then(|ids| ids.get(key).copied()) {
            return Ok(Some(id));
        }
        let Some(found) = find_key(r, key)? else { return Ok(None) };
        if let Ok(mut ids) = self.0.lock()
            && ids.len() < 100_000
        {
            ids.insert(key.clone(), found.id);
        }
        Ok(Some(found.id))
    }
}

/// The rules a decision applies: those standing now (cached), or with `when` those known by
/// then — entries this node had stored by `stored_by` and dated by `when`.
pub(super) fn rules_for_decision(
    r: &dyn ReadStore,
    cache: &QuarantineCache,
    when: Option<Timestamp>,
    stored_by: Option<i64>,
) -> Result<Arc<QuarantineRules>, ServiceError> {
    if when.is_some() {
        let entries = r.quarantine_entries(None, stored_by)?;
        return Ok(Arc::new(QuarantineRules::new(quarantines_at(&entries, when))));
    }
    let mark = r.quarantine_mark()?;
    if let Ok(held) = cache.0.lock()
        && let Some((at, rules)) = held.as_ref()
        && *at == mark
    {
        return Ok(rules.clone());
    }
    let entries = r.quarantine_entries(None, Some(mark))?;
    // Revoked rules never stand again: only the others are worth indexing.
    let mut standing = quarantines_at(&entries, None);
    standing.retain(|q| q.revoked.is_none());
    let rules = Arc::new(QuarantineRules::new(standing));
    if let Ok(mut held) = cache.0.lock() {
        *held = Some((mark, rules.clone()));
    }
    Ok(rules)
}

/// For each result that did not pass and a standing rule could cover: whether that rule
/// has released the result's key (testcase, scenario, arch) — `release_after_passes`
/// consecutive passes of the key after the rule's creation, up to `at` (and, for `when`,
/// among the results stored here by then). Release is per key: a glob covering several
/// keys goes on covering the ones still failing.
pub(super) fn released_keys<'a>(
    r: &dyn ReadStore,
    cache: &QuarantineCache,
    rules: &QuarantineRules,
    results: impl Iterator<Item = &'a ResultView>,
    outcomes: &OutcomeClasses,
    at: Timestamp,
    stored_by: Option<i64>,
) -> Result<Released, ServiceError> {
    let mut released = Released::default();
    if rules.is_empty() {
        return Ok(released);
    }
    let mut known: HashMap<(String, Key), bool> = HashMap::new();
    for v in results.filter(|v| !outcomes.passed.contains(&v.record.outcome)) {
        let key = key_of(&v.record);
        for q in rules.for_testcase(&key.testcase, at) {
            let slot = (q.id().to_owned(), key.clone());
            let done = match known.get(&slot) {
                Some(done) => *done,
                None => {
                    let done = match cache.1.get(r, &key)? {
                        Some(key) => key_released(r, q, key, at, stored_by)?,
                        None => false,
                    };
                    known.insert(slot, done);
                    done
                }
            };
            if done {
                released.insert((q.id().to_owned(), v.id));
            }
        }
    }
    Ok(released)
}

/// Whether rule `q` has released key `key`: `release_after_passes` consecutive passes of
/// it after the rule's creation, up to `at`.
fn key_released(
    r: &dyn ReadStore,
    q: &Quarantine,
    key: i64,
    at: Timestamp,
    stored_by: Option<i64>,
) -> Result<bool, ServiceError> {
    let range = RunRange {
        since: Some(q.rule.created_at.saturating_add(1)),
        until: Some(at.0),
        max_id: stored_by,
        ..RunRange::default()
    };
    let runs = r.runs(key, &range)?;
    Ok(released_by(runs.iter().map(|run| run.fail), q.rule.release_after_passes))
}

/// Which rules a list shows.
#[derive(Debug, Clone, Default)]
pub struct QuarantineFilter {
    /// Rules whose testcase glob matches this testcase name (or is this glob).
    pub testcase: Option<String>,
    /// Only standing (`true`) or only revoked/expired (`false`) rules, judged at `when`.
    pub active: Option<bool>,
    /// Judge at this instant, with the entries known by then (default: now, all entries).
    pub when: Option<Timestamp>,
}

impl QuarantineFilter {
    /// From query pairs: `testcase`, `active=true|false`, `when` (ISO 8601). Unknown names
    /// are refused, naming them.
    pub fn parse(pairs: &[(String, String)]) -> Result<QuarantineFilter, QuarantineError> {
        let bad = |field: &'static str, message: &str| QuarantineError::Invalid { field, message: message.into() };
        let mut f = QuarantineFilter::default();
        for (k, v) in pairs {
            match k.as_str() {
                "testcase" => f.testcase = Some(v.clone()),
                "active" => match v.as_str() {
                    "true" => f.active = Some(true),
                    "false" => f.active = Some(false),
                    _ => return Err(bad("active", "must be true or false")),
                },
                "when" => {
                    let t = crate::model::parse_fromisoformat(v).map_err(|m| bad("when", &m))?;
                    f.when = Some(t);
                }
                _ => return Err(bad("query", &format!("unknown parameter {k:?}"))),
            }
        }
        Ok(f)
    }
}

/// The rules `f` selects, as known at its `when` (oldest first), judged at `now` otherwise.
fn list(r: &dyn ReadStore, f: &QuarantineFilter, now: Timestamp) -> Result<Vec<Value>, ServiceError> {
    let stored_by = f.when.map(|w| r.stored_by(w.0)).transpose()?;
    let entries = r.quarantine_entries(None, stored_by)?;
    let at = f.when.unwrap_or(now);
    Ok(quarantines_at(&entries, f.when)
        .into_iter()
        .filter(|q| {
            f.testcase.as_deref().is_none_or(|t| q.rule.testcase == t || crate::gating::fnmatch(t, &q.rule.testcase))
        })
        .filter(|q| f.active.is_none_or(|a| q.active_at(at) == a))
        .map(|q| q.to_json(at))
        .collect())
}

fn one(r: &dyn ReadStore, id: &str) -> Result<Quarantine, ServiceError> {
    let entries = r.quarantine_entries(Some(id), None)?;
    quarantines_at(&entries, None)
        .into_iter()
        .next()
        .ok_or_else(|| ServiceError::NotFound(format!("Quarantine not found: {id}")))
}

/// Who writes: the caller as authorised, or the operator of a local command.
enum Writer<'a> {
    Caller(&'a auth::Credentials),
    /// `verdict quarantine …` on the store file: access to the file is the right.
    Operator(&'a str),
}

impl Service {
    /// `POST /api/verdict/v1/quarantines`: creates a rule, or revokes one with
    /// `{"id": ..., "revoked": true}`. Returns the rule's JSON and whether it was created.
    pub async fn post_quarantine(
        &self,
        body: &Value,
        creds: &auth::Credentials,
    ) -> Result<(Value, bool), ServiceError> {
        self.quarantine_request(body, Writer::Caller(creds)).await
    }

    /// `DELETE /api/verdict/v1/quarantines/{id}`: revokes a rule.
    pub async fn revoke_quarantine(&self, id: &str, creds: &auth::Credentials) -> Result<Value, ServiceError> {
        self.revoke(id, Writer::Caller(creds)).await
    }

    /// `verdict quarantine add` (the body as the API takes it) or a revocation, by `operator`.
    pub async fn post_quarantine_as(&self, body: &Value, operator: &str) -> Result<(Value, bool), ServiceError> {
        self.quarantine_request(body, Writer::Operator(operator)).await
    }

    /// `verdict quarantine revoke`.
    pub async fn revoke_quarantine_as(&self, id: &str, operator: &str) -> Result<Value, ServiceError> {
        self.revoke(id, Writer::Operator(operator)).await
    }

    /// `GET /api/verdict/v1/quarantines`.
    pub async fn list_quarantines(&self, f: QuarantineFilter) -> Result<Vec<Value>, ServiceError> {
        self.read(move |r| list(r, &f, Timestamp::now())).await
    }

    /// `GET /api/verdict/v1/quarantines/{id}`.
    pub async fn quarantine(&self, id: String) -> Result<Value, ServiceError> {
        self.read_now(move |r| Ok(one(r, &id)?.to_json(Timestamp::now())))
    }

    async fn quarantine_request(&self, body: &Value, writer: Writer<'_>) -> Result<(Value, bool), ServiceError> {
        let now = self.inner.clock.next();
        let input = match parse_quarantine_request(body, now)? {
            QuarantineRequest::Revoke(id) => return Ok((self.revoke(&id, writer).await?, false)),
            QuarantineRequest::Create(input) => input,
        };
        let (owner, proxied_by) = match writer {
            Writer::Caller(creds) => {
                let auth = &self.inner.config.auth;
                let who = auth.authenticate(creds)?;
                let (owner, proxied_by) = auth.may_waive(who.as_ref(), input.owner.as_deref())?;
                auth.may_waive_testcase(who.as_ref(), &input.testcase)?;
                (owner, proxied_by)
            }
            Writer::Operator(op) => match input.owner.clone() {
                Some(o) if o != op => (o, Some(op.to_owned())),
                _ => (op.to_owned(), None),
            },
        };
        let record = input.into_record(owner, proxied_by, now, new_result_uuid());
        let view = self.write_quarantine(record).await?;
        let q = quarantines_at(std::slice::from_ref(&view), None).into_iter().next();
        let q = q.ok_or_else(|| ServiceError::Unavailable("writer returned no quarantine".into()))?;
        Ok((q.to_json(Timestamp(now.0)), true))
    }

    async fn revoke(&self, id: &str, writer: Writer<'_>) -> Result<Value, ServiceError> {
        let owned = id.to_owned();
        let current = self.read_now(move |r| one(r, &owned))?;
        let by = match writer {
            Writer::Caller(creds) => {
                let auth = &self.inner.config.auth;
                let who = auth.authenticate(creds)?;
                let (caller, _) = auth.may_waive(who.as_ref(), None)?;
                auth.may_waive_testcase(who.as_ref(), &current.rule.testcase)?;
                caller
            }
            Writer::Operator(op) => op.to_owned(),
        };
        let now = self.inner.clock.next();
        // Revoking twice changes nothing: the first revocation stands.
        if current.revoked.is_some() {
            return Ok(current.to_json(now));
        }
        self.write_quarantine(current.revocation(&by, now)).await?;
        let owned = id.to_owned();
        Ok(self.read_now(move |r| one(r, &owned))?.to_json(now))
    }

    async fn write_quarantine(&self, record: crate::model::QuarantineRecord) -> Result<QuarantineView, ServiceError> {
        match self.write(vec![Body::Quarantine(record)]).await?.pop() {
            Some(Written::Quarantine(v)) => Ok(v),
            _ => Err(ServiceError::Unavailable("writer returned no quarantine".into())),
        }
    }
}

impl local::ReadOnly {
    /// The rules `f` selects (`verdict quarantine list`).
    pub fn quarantines(&self, f: &QuarantineFilter) -> Result<Vec<Value>, ServiceError> {
        self.read(|r| list(r, f, Timestamp::now()))
    }
}
