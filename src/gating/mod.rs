//! The gating engine (Greenwave decision API v1.0 compatible), pure: policies and subject
//! types, decision-request validation, the decision over results and waivers the caller
//! fetched, and the response JSON. No I/O, no clock ("now" is a parameter), no database.
//!
//! Use: [`Gate::plan`] validates a request and says, per subject, what to fetch
//! ([`SubjectPlan::result_fetch`], [`SubjectPlan::waiver_fetch`]); [`Gate::decide`] then
//! evaluates with the fetched [`SubjectData`] and returns the response body.

mod decision;
mod fnmatch;
mod load;
mod policy;
mod quarantine;
mod request;
mod subject;

#[cfg(test)]
mod tests;

pub use decision::{NoRemoteRules, RemoteFetch, RemoteRules, SubjectData};
pub use fnmatch::fnmatch;
pub use load::{PolicyError, PolicyErrors, load_policies, parse_policies, validate_gating_yaml};
pub use policy::{PassingTestCaseRule, Policy, PolicyKind, RemoteRule, Rule, on_demand_policy, policies_json};
pub use quarantine::{QuarantineData, QuarantineRules, Released, released_by};
pub use request::{DecisionRequest, ResultFetch, SubjectPlan, WaiverFetch, plan_decision};
pub use subject::{ItemDict, Subject, SubjectType, SubjectTypes};

use crate::model::{ResultView, Timestamp};
use serde_json::Value;

/// Why a decision could not be made; the HTTP status is in each variant's doc.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    /// 415 `{"message": ...}`: no JSON body.
    #[error("decision request: {0}")]
    UnsupportedMediaType(String),
    /// 400 `{"message": ...}`: invalid request.
    #[error("decision request: {0}")]
    BadRequest(String),
    /// 404 `{"message": ...}`: no applicable policy for a subject.
    #[error("decision request: {0}")]
    NotFound(String),
    /// 502 `{"message": ...}`: a remote rule file could not be fetched.
    #[error("decision request: {0}")]
    BadGateway(String),
}

impl DecisionError {
    /// Upstream's message text (the `message` of the error body).
    pub fn message(&self) -> &str {
        match self {
            DecisionError::UnsupportedMediaType(m)
            | DecisionError::BadRequest(m)
            | DecisionError::NotFound(m)
            | DecisionError::BadGateway(m) => m,
        }
    }
}

/// How outcomes count (Greenwave's `OUTCOMES_PASSED`, `OUTCOMES_INCOMPLETE`,
/// `OUTCOMES_ERROR`); any other outcome is a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeClasses {
    pub passed: Vec<String>,
    pub incomplete: Vec<String>,
    pub error: Vec<String>,
}

impl Default for OutcomeClasses {
    fn default() -> Self {
        let v = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect();
        OutcomeClasses { passed: v(&["PASSED", "INFO"]), incomplete: v(&["QUEUED", "RUNNING"]), error: v(&["ERROR"]) }
    }
}

/// The configured gate: policies, subject types and outcome classes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Gate {
    pub policies: Vec<Policy>,
    pub subject_types: SubjectTypes,
    pub outcomes: OutcomeClasses,
}

impl Gate {
    /// A gate over `policies` with the stock subject types and outcome classes.
    pub fn new(policies: Vec<Policy>) -> Gate {
        Gate { policies, ..Gate::default() }
    }

    /// Validates a decision body (`None`: the request had no JSON) and plans it.
    pub fn plan(&self, body: Option<&Value>) -> Result<DecisionRequest, DecisionError> {
        plan_decision(body, &self.policies, &self.subject_types)
    }

    /// Decides a planned request. `data[i]` holds what [`DecisionRequest::subjects`]`[i]`
    /// asked for; `now` is the current time (expiry and rule validity when there is no
    /// `when`); `render` turns a result into its ResultsDB v2.0 JSON (verbose only).
    pub fn decide(
        &self,
        req: &DecisionRequest,
        data: &[SubjectData<'_>],
        now: Timestamp,
        remote: &dyn RemoteRules,
        render: &dyn Fn(&ResultView) -> Value,
    ) -> Result<Value, DecisionError> {
        decision::decide(self, req, data, now, remote, render, None)
    }

    /// [`Gate::decide`] with quarantine rules: requirements still unsatisfied after waivers
    /// that a standing rule covers count as waived (see `quarantine`).
    pub fn decide_with_quarantines(
        &self,
        req: &DecisionRequest,
        data: &[SubjectData<'_>],
        now: Timestamp,
        remote: &dyn RemoteRules,
        render: &dyn Fn(&ResultView) -> Value,
        quarantines: QuarantineData<'_>,
    ) -> Result<Value, DecisionError> {
        decision::decide(self, req, data, now, remote, render, Some(quarantines))
    }

    /// `GET /api/v1.0/policies` body.
    pub fn policies_json(&self) -> Value {
        policies_json(&self.policies)
    }

    /// `GET /api/v1.0/subject_types` body.
    pub fn subject_types_json(&self) -> Value {
        self.subject_types.to_json()
    }
}
