//! Schemas of the bodies that are built as JSON trees (`json!`) or come from the pure
//! layers (`model`, `gating`, `insight`), which stay free of the documentation crate: each
//! type here mirrors one body field for field, exists only for its schema and is never
//! built. The schemathesis run (`tests/it/openapi.rs`) checks every response against them,
//! so a body that drifts from its schema fails CI.
//!
//! Option fields may be `null`; those marked `required` are always in the body (as `null`
//! when unset), the others may be left out.
#![allow(dead_code)] // never constructed: only their derived schemas are used

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

// ---------------------------------------------------------------------------------------
// Errors (the shapes `http/error.rs` answers)
// ---------------------------------------------------------------------------------------

/// `{"message": "..."}`: most refusals (ResultsDB's, Greenwave's and ours).
#[derive(Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

/// A pydantic validation error, as ResultsDB 2.0 and WaiverDB answer them.
#[derive(Serialize, ToSchema)]
pub struct ValidationErrors {
    pub validation_error: Vec<PydanticError>,
}

/// One failed check: where (`loc`), what (`type`, `msg`) and the input it saw.
#[derive(Serialize, ToSchema)]
pub struct PydanticError {
    /// The offending input (any JSON value).
    pub input: Value,
    pub loc: Vec<LocPart>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
}

/// A field name or a list index.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LocPart {
    Field(String),
    Index(i64),
}

/// ResultsDB's 400: a validation error list, or a message (malformed JSON, bad filter).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum BadRequest {
    Validation(ValidationErrors),
    Message(Message),
}

/// WaiverDB's 400: a validation error list, a message, or `{"message": {field: message}}`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum WaiverBadRequest {
    Validation(ValidationErrors),
    Message(Message),
    Field(FieldMessage),
}

/// A message per field (WaiverDB's `since` parse errors).
#[derive(Serialize, ToSchema)]
pub struct FieldMessage {
    pub message: BTreeMap<String, String>,
}

/// A refused quarantine body or filter names its field; a malformed body has only a message.
#[derive(Serialize, ToSchema)]
pub struct QuarantineBadRequest {
    pub message: String,
    pub field: Option<String>,
}

/// A refused upload says what and where; a transient failure has null `format`/`line`.
#[derive(Serialize, ToSchema)]
pub struct IngestError {
    pub message: String,
    pub format: Option<String>,
    pub line: Option<u64>,
    pub record: Option<u64>,
}

// ---------------------------------------------------------------------------------------
// ResultsDB and operations
// ---------------------------------------------------------------------------------------

/// The API root (answered with 300 Multiple Choices, as upstream).
#[derive(Serialize, ToSchema)]
pub struct Landing {
    pub documentation: String,
    pub groups: String,
    pub message: String,
    pub outcomes: Vec<String>,
    pub results: String,
    pub testcases: String,
}

/// `/livez`.
#[derive(Serialize, ToSchema)]
pub struct Alive {
    /// Always `alive`.
    pub status: String,
}

/// `/readyz`: `ready` with the number of policies, or `not ready` with the reason.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub status: String,
    pub policies: Option<u64>,
    pub reason: Option<String>,
}

/// One Server-Sent Event of `/api/v2.0/events`; the stream is a sequence of them.
#[derive(Serialize, ToSchema)]
pub struct SseEvent {
    /// The log position (resume with `Last-Event-ID`).
    pub id: String,
    /// `result.first`, `result.changed`, `result.repeated`, `waiver.new`, `quarantine.new`
    /// or `quarantine.revoked`.
    pub event: String,
    /// The result, waiver or quarantine rule as JSON (as the API shows it).
    #[schema(content_media_type = "application/json")]
    pub data: String,
}

/// `POST /api/v2.0/results`: ResultsDB 2.0's body (pydantic rules, plus size caps).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"testcase": {"name": "dist.rpmdeplint", "ref_url": "https://ci.example/rpmdeplint"},
    "outcome": "FAILED", "note": "error: nothing provides foo", "groups": ["0a1b2c3d-0000-4000-8000-000000000001"],
    "data": {"item": "pkg-1.4-1.fc40", "type": "koji_build", "arch": ["x86_64"]}}))]
pub struct CreateResult {
    /// A testcase name, or `{"name": ..., "ref_url": ...}`.
    pub testcase: TestcaseRef,
    /// One of the configured outcomes (PASSED, INFO, FAILED, NEEDS_INSPECTION, ...).
    pub outcome: String,
    pub note: Option<String>,
    pub ref_url: Option<String>,
    /// Extra data: each value a string or a list of strings.
    pub data: Option<BTreeMap<String, Value>>,
    /// Group uuids, or group objects (`{"uuid": ..., "description": ..., "ref_url": ...}`).
    pub groups: Option<Vec<Value>>,
    /// ISO 8601 or milliseconds since the epoch; default now.
    pub submit_time: Option<Value>,
}

/// A testcase named by name or as an object.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum TestcaseRef {
    Name(String),
    Object(CreateTestcase),
}

/// `POST /api/v2.0/testcases`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"name": "dist.rpmdeplint", "ref_url": "https://ci.example/rpmdeplint"}))]
pub struct CreateTestcase {
    pub name: String,
    pub ref_url: Option<String>,
}

/// `POST /api/v2.0/groups`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"uuid": "0a1b2c3d-0000-4000-8000-000000000001", "description": "a run"}))]
pub struct CreateGroup {
    /// Generated when absent.
    pub uuid: Option<String>,
    pub description: Option<String>,
    pub ref_url: Option<String>,
}

// ---------------------------------------------------------------------------------------
// WaiverDB
// ---------------------------------------------------------------------------------------

/// `GET /api/v1.0/about`.
#[derive(Serialize, ToSchema)]
pub struct About {
    pub version: String,
    /// `none`, `dummy` or `tokens`.
    pub auth_method: String,
}

/// A waiver as WaiverDB serialises it (fields in flask-restx order).
#[derive(Serialize, ToSchema)]
pub struct Waiver {
    pub id: i64,
    pub subject_type: String,
    pub subject_identifier: String,
    /// The derived back-compat subject: `{"productmd.compose.id": id}` for composes, else
    /// `{"type": t, "item": id}`.
    pub subject: BTreeMap<String, String>,
    pub testcase: String,
    pub username: String,
    #[schema(required = true)]
    pub scenario: Option<String>,
    #[schema(required = true)]
    pub proxied_by: Option<String>,
    pub product_version: String,
    pub waived: bool,
    pub comment: String,
    pub timestamp: String,
    /// Our extension, present only when set.
    pub expires_at: Option<String>,
}

/// `GET /api/v1.0/waivers/`: a page with WaiverDB's links.
#[derive(Serialize, ToSchema)]
pub struct WaiverPage {
    pub data: Vec<Waiver>,
    #[schema(required = true)]
    pub prev: Option<String>,
    #[schema(required = true)]
    pub next: Option<String>,
    #[schema(required = true)]
    pub first: Option<String>,
    #[schema(required = true)]
    pub last: Option<String>,
}

/// The waivers a filter kept.
#[derive(Serialize, ToSchema)]
pub struct WaiverList {
    pub data: Vec<Waiver>,
}

/// One waiver to create: a subject (`subject_type` + `subject_identifier`, or the legacy
/// `subject` object), a testcase, the product version and a comment.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"subject_type": "koji_build", "subject_identifier": "pkg-1.4-1.fc40",
    "testcase": "dist.rpmdeplint", "product_version": "fedora-40", "comment": "a known failure"}))]
pub struct CreateWaiver {
    pub subject_type: Option<String>,
    pub subject_identifier: Option<String>,
    /// Legacy form: `{"type": ..., "item": ...}`, `{"productmd.compose.id": ...}` or
    /// `{"original_spec_nvr": ...}`.
    pub subject: Option<BTreeMap<String, String>>,
    pub testcase: Option<String>,
    pub product_version: String,
    pub comment: String,
    /// Default true.
    pub waived: Option<bool>,
    pub scenario: Option<String>,
    /// The user waived for (superusers only).
    pub username: Option<String>,
    pub result_id: Option<i64>,
    /// ISO 8601, in the future.
    pub expires_at: Option<String>,
}

/// One waiver, or a list of them (answered in the same form).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CreateWaivers {
    One(Box<CreateWaiver>),
    Many(Vec<CreateWaiver>),
}

/// The waiver created, or the list created.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CreatedWaivers {
    One(Box<Waiver>),
    Many(Vec<Waiver>),
}

/// `POST /api/v1.0/waivers/+filtered`.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"filters": [{"subject_type": "koji_build", "subject_identifier": "pkg-1.4-1.fc40"}]}))]
pub struct FilterWaivers {
    /// At least one filter; a waiver matching any of them is listed.
    pub filters: Vec<WaiverFilter>,
    pub include_obsolete: Option<bool>,
}

/// Exact matches (all optional); `since` is `START[,END]` (ISO 8601).
#[derive(Serialize, ToSchema)]
pub struct WaiverFilter {
    pub subject_type: Option<String>,
    pub subject_identifier: Option<String>,
    pub testcase: Option<String>,
    pub scenario: Option<String>,
    pub product_version: Option<String>,
    pub username: Option<String>,
    pub proxied_by: Option<String>,
    pub since: Option<String>,
}

/// `POST /api/v1.0/waivers/+by-subjects-and-testcases` (deprecated upstream).
#[derive(Serialize, ToSchema)]
pub struct WaiversBySubjects {
    /// `{"subject": {...}, "testcase": ...}` pairs.
    pub results: Option<Vec<Value>>,
    pub testcase: Option<String>,
    pub product_version: Option<String>,
    pub username: Option<String>,
    pub proxied_by: Option<String>,
    pub since: Option<String>,
    pub include_obsolete: Option<bool>,
}

// ---------------------------------------------------------------------------------------
// Greenwave
// ---------------------------------------------------------------------------------------

/// `POST /api/v1.0/decision`: Greenwave's request. Either one subject (`subject_type` +
/// `subject_identifier`) or a `subject` list; `decision_context` (or on-demand `rules`) and
/// `product_version` pick the policies.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"decision_context": "bodhi_update_push_stable", "product_version": "fedora-40",
    "subject_type": "koji_build", "subject_identifier": "pkg-1.4-1.fc40", "verbose": true}))]
pub struct DecisionRequest {
    pub decision_context: Option<Value>,
    pub product_version: Option<String>,
    pub subject_type: Option<String>,
    pub subject_identifier: Option<String>,
    pub subject: Option<Vec<Value>>,
    /// On-demand policy rules.
    pub rules: Option<Vec<Value>>,
    pub verbose: Option<bool>,
    /// Judge with what this node had stored at that instant (ISO 8601).
    pub when: Option<String>,
    pub ignore_result: Option<Vec<Value>>,
    pub ignore_waiver: Option<Vec<Value>>,
}

/// Greenwave's decision.
#[derive(Serialize, ToSchema)]
pub struct Decision {
    pub policies_satisfied: bool,
    pub summary: String,
    pub satisfied_requirements: Vec<Requirement>,
    pub unsatisfied_requirements: Vec<Requirement>,
    pub progress: Option<Progress>,
    /// Absent for on-demand policies.
    pub applicable_policies: Option<Vec<String>>,
    /// With `verbose`: the results and waivers considered.
    pub results: Option<Vec<Value>>,
    pub waivers: Option<Vec<Value>>,
}

/// One answered requirement: `type` says which (`test-result-passed`,
/// `test-result-missing`, `test-result-failed`, `test-result-errored`, `*-waived`,
/// `excluded`, gating-YAML kinds); the other fields depend on it.
#[derive(Serialize, ToSchema)]
pub struct Requirement {
    #[serde(rename = "type")]
    pub kind: String,
    pub testcase: Option<String>,
    pub subject_type: Option<String>,
    pub subject_identifier: Option<String>,
    pub scenario: Option<String>,
    pub source: Option<String>,
    pub result_id: Option<i64>,
    pub waiver_id: Option<i64>,
    pub quarantine_id: Option<String>,
    pub item: Option<Value>,
}

/// Requirements met and required.
#[derive(Serialize, ToSchema)]
pub struct Progress {
    pub satisfied: u64,
    pub required: u64,
}

/// `GET /api/v1.0/policies`.
#[derive(Serialize, ToSchema)]
pub struct Policies {
    pub policies: Vec<Policy>,
}

/// A loaded policy.
#[derive(Serialize, ToSchema)]
pub struct Policy {
    pub id: Option<String>,
    pub product_versions: Vec<String>,
    pub decision_context: Option<String>,
    pub decision_contexts: Vec<String>,
    pub subject_type: Option<String>,
    pub subject_types: Vec<String>,
    /// `{"rule": "PassingTestCaseRule", ...}` or `{"rule": "RemoteRule", ...}`.
    pub rules: Vec<BTreeMap<String, Value>>,
}

/// `GET /api/v1.0/subject_types`.
#[derive(Serialize, ToSchema)]
pub struct SubjectTypes {
    pub subject_types: Vec<SubjectType>,
}

/// A subject type (`!SubjectType`).
#[derive(Serialize, ToSchema)]
pub struct SubjectType {
    pub id: String,
    pub aliases: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// Quarantines
// ---------------------------------------------------------------------------------------

/// A quarantine rule as it stands.
#[derive(Serialize, ToSchema)]
pub struct Quarantine {
    pub id: String,
    /// A glob over testcase names.
    pub testcase: String,
    #[schema(required = true)]
    pub scenario: Option<String>,
    #[schema(required = true)]
    pub product_version: Option<String>,
    #[schema(required = true)]
    pub subject_type: Option<String>,
    pub reason: String,
    pub owner: String,
    #[schema(required = true)]
    pub proxied_by: Option<String>,
    pub created_at: String,
    #[schema(required = true)]
    pub expires_at: Option<String>,
    pub release_after_passes: u32,
    pub revoked: bool,
    #[schema(required = true)]
    pub revoked_at: Option<String>,
    #[schema(required = true)]
    pub revoked_by: Option<String>,
    /// Whether the rule stands now (or at the list's `when`).
    pub active: bool,
}

/// `GET /api/verdict/v1/quarantines`, oldest first.
#[derive(Serialize, ToSchema)]
pub struct QuarantineList {
    pub data: Vec<Quarantine>,
}

/// A new rule, or `{"id": ..., "revoked": true}` to revoke one.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"testcase": "dist.abi*", "reason": "flaky on aarch64", "release_after_passes": 3}))]
pub struct QuarantineBody {
    pub testcase: Option<String>,
    pub reason: Option<String>,
    pub scenario: Option<String>,
    pub product_version: Option<String>,
    pub subject_type: Option<String>,
    /// ISO 8601, in the future.
    pub expires_at: Option<String>,
    /// 1 to 1000 (default 5).
    pub release_after_passes: Option<u32>,
    /// Whom the rule is for (superusers only).
    pub username: Option<String>,
    /// With `revoked: true`: the rule to revoke.
    pub id: Option<String>,
    pub revoked: Option<bool>,
}

// ---------------------------------------------------------------------------------------
// Replication
// ---------------------------------------------------------------------------------------

/// `GET /api/verdict/v1/replication`.
#[derive(Serialize, ToSchema)]
pub struct ReplicationStatus {
    pub node: String,
    /// Origin → highest sequence held.
    pub version_vector: BTreeMap<String, u64>,
    /// Origin → its head entry.
    pub heads: BTreeMap<String, Head>,
    pub peers: Vec<crate::service::replication::PeerStatus>,
    pub token_required: bool,
    /// uuids under which two origins stored different results.
    pub conflicts: u64,
}

/// An origin's newest entry.
#[derive(Serialize, ToSchema)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// `GET /api/verdict/v1/hashes`.
#[derive(Serialize, ToSchema)]
pub struct Hashes {
    pub origin: String,
    /// Sequence (as text) → blake3 hash (hex); positions not held are left out.
    pub hashes: BTreeMap<String, String>,
    /// The stretches of the origin this node pruned, `[from, to]`.
    pub pruned: Vec<[u64; 2]>,
}

// ---------------------------------------------------------------------------------------
// Insight
// ---------------------------------------------------------------------------------------

/// `GET /api/verdict/v1/history`: one entry per matching key.
#[derive(Serialize, ToSchema)]
pub struct HistoryAnswer {
    pub data: Vec<KeyHistory>,
}

/// One key's statistics over every result in range, and its newest results.
#[derive(Serialize, ToSchema)]
pub struct KeyHistory {
    pub testcase: String,
    pub scenario: String,
    pub arch: String,
    pub runs: u64,
    pub passes: u64,
    pub fails: u64,
    pub transitions: u64,
    #[schema(required = true)]
    pub pass_rate: Option<f64>,
    #[schema(required = true)]
    pub current_streak: Option<Streak>,
    #[schema(required = true)]
    pub first_seen: Option<String>,
    #[schema(required = true)]
    pub last_pass: Option<String>,
    #[schema(required = true)]
    pub last_fail: Option<String>,
    #[schema(required = true)]
    pub duration: Option<DurationStats>,
    #[schema(required = true)]
    pub signature: Option<String>,
    #[schema(required = true)]
    pub seen_before: Option<u64>,
    /// What results `verdict prune` dropped said, per whole UTC day of the window (absent
    /// when none in it was pruned, and for an `item`/`type` question).
    pub pruned: Option<PrunedHistory>,
    pub results: Vec<HistoryRow>,
}

/// The day counts horizon entries kept of pruned results.
#[derive(Serialize, ToSchema)]
pub struct PrunedHistory {
    pub runs: u64,
    pub passes: u64,
    pub fails: u64,
    pub others: u64,
    #[schema(required = true)]
    pub pass_rate: Option<f64>,
    /// `YYYY-MM-DD`
    pub first_day: String,
    pub last_day: String,
    #[schema(required = true)]
    pub duration: Option<PrunedDurations>,
    /// Newest first.
    pub days: Vec<PrunedDay>,
}

/// Duration stats of pruned results, in seconds.
#[derive(Serialize, ToSchema)]
pub struct PrunedDurations {
    pub count: u64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Serialize, ToSchema)]
pub struct PrunedDay {
    pub day: String,
    pub passes: u64,
    pub fails: u64,
    pub others: u64,
}

/// The newest results sharing one class.
#[derive(Serialize, ToSchema)]
pub struct Streak {
    /// `pass` or `fail`.
    pub outcome: String,
    pub length: u64,
    pub since: String,
}

/// Duration percentiles in seconds.
#[derive(Serialize, ToSchema)]
pub struct DurationStats {
    pub p50: f64,
    pub p90: f64,
    pub count: u64,
}

/// A result as a history lists it.
#[derive(Serialize, ToSchema)]
pub struct HistoryRow {
    pub id: i64,
    pub uuid: String,
    pub item: String,
    pub outcome: String,
    pub submit_time: String,
    #[schema(required = true)]
    pub note: Option<String>,
    #[schema(required = true)]
    pub signature: Option<String>,
}

/// `GET /api/verdict/v1/results/{id}/similar`.
#[derive(Serialize, ToSchema)]
pub struct SimilarAnswer {
    pub id: i64,
    #[schema(required = true)]
    pub signature: Option<String>,
    pub seen_before: u64,
    #[schema(required = true)]
    pub first_seen: Option<String>,
    pub items: Vec<String>,
    pub results: Vec<HistoryRow>,
}

/// `GET /api/verdict/v1/flaky`.
#[derive(Serialize, ToSchema)]
pub struct FlakyAnswer {
    pub since: String,
    pub until: String,
    pub params: FlakyParams,
    pub data: Vec<Classification>,
}

/// The thresholds used.
#[derive(Serialize, ToSchema)]
pub struct FlakyParams {
    pub min_runs: u64,
    pub flip_rate: f64,
    pub breakage_run: u64,
    pub clear_after: u64,
}

/// One key's state, with the rule that fired and its evidence.
#[derive(Serialize, ToSchema)]
pub struct Classification {
    pub testcase: String,
    pub scenario: String,
    pub arch: String,
    /// `flaky`, `broken` or `healthy`.
    pub state: String,
    pub reason: String,
    pub runs: u64,
    pub fails: u64,
    #[schema(required = true)]
    pub flip_rate: Option<f64>,
    pub passes_since_evidence: u64,
    pub evidence: Vec<Evidence>,
}

/// A result a classification rests on.
#[derive(Serialize, ToSchema)]
pub struct Evidence {
    pub id: i64,
    pub uuid: String,
    pub item: String,
    pub outcome: String,
    pub submit_time: String,
}

/// `GET /api/verdict/v1/compare`: what each side was, and its keys in buckets.
#[derive(Serialize, ToSchema)]
pub struct CompareAnswer {
    pub base: CompareSide,
    pub head: CompareSide,
    pub new_failures: Vec<CompareEntry>,
    pub fixed: Vec<CompareEntry>,
    pub still_failing: Vec<CompareEntry>,
    pub new_tests: Vec<CompareEntry>,
    pub missing: Vec<CompareEntry>,
    pub flaky: Vec<CompareEntry>,
    pub pending: Vec<CompareEntry>,
    /// Keys passing on both sides (counted, not listed).
    pub unchanged_passing: u64,
}

/// A side as compared: a group, or an item (for `last_good`, the item found).
#[derive(Serialize, ToSchema)]
pub struct CompareSide {
    #[schema(required = true)]
    pub group: Option<String>,
    #[schema(required = true)]
    pub item: Option<String>,
    #[serde(rename = "type")]
    #[schema(required = true)]
    pub item_type: Option<String>,
    pub keys: u64,
}

/// One key in a bucket.
#[derive(Serialize, ToSchema)]
pub struct CompareEntry {
    pub testcase: String,
    pub scenario: String,
    pub arch: String,
    #[schema(required = true)]
    pub base_id: Option<i64>,
    #[schema(required = true)]
    pub head_id: Option<i64>,
    #[schema(required = true)]
    pub base_outcome: Option<String>,
    #[schema(required = true)]
    pub head_outcome: Option<String>,
    #[schema(required = true)]
    pub signature: Option<String>,
    #[schema(required = true)]
    pub seen_before: Option<u64>,
    #[schema(required = true)]
    pub failing_since: Option<String>,
    #[schema(required = true)]
    pub failing_for: Option<u64>,
}

// ---------------------------------------------------------------------------------------
// Ingest
// ---------------------------------------------------------------------------------------

/// A result file's bytes (the format is detected from `name` or the content).
#[derive(Serialize, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct FileBody(pub Vec<u8>);

/// A multipart upload: the file, and optionally its sidecar context.
#[derive(Serialize, ToSchema)]
pub struct UploadForm {
    #[schema(format = Binary, value_type = String)]
    pub file: Vec<u8>,
    #[schema(format = Binary, value_type = Option<String>)]
    pub sidecar: Option<Vec<u8>>,
}
