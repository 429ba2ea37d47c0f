//! Domain types and validation: results, testcases, groups, outcomes, queries.
//!
//! Everything here is pure. Inputs arrive as `serde_json::Value` (HTTP bodies, spool
//! records) and leave as typed records, or as a `ModelError` shaped like ResultsDB's
//! pydantic errors so adapters can answer exactly as upstream does.

mod error;
pub mod horizon;
mod input;
mod insight;
mod limits;
pub mod pystr;
mod quarantine;
mod query;
pub mod reconcile;
pub mod redact;
pub mod time;
pub mod upstream;
mod waiver;

pub use error::{FieldError, Loc, ModelError};
pub use horizon::{DaySummary, HorizonRecord, PrunedRange};
pub use input::{
    GroupInput, ResultInput, TestcaseInput, check_data_keys, convert_data, parse_create_group, parse_create_result,
    parse_create_testcase,
};
pub use insight::{
    CompareQuery, FlakyQuery, HISTORY_LIMIT, HISTORY_MAX_LIMIT, HistoryQuery, KeySelect, Side, SimilarQuery,
    default_window_start,
};
pub use limits::{InputLimits, check_data, check_result, check_waiver};
pub use quarantine::{
    DEFAULT_RELEASE_AFTER_PASSES, MAX_RELEASE_AFTER_PASSES, Quarantine, QuarantineError, QuarantineInput,
    QuarantineRecord, QuarantineRequest, QuarantineView, parse_quarantine_request, quarantines_at,
};
pub use query::{DataFilter, GroupQuery, ListParams, ResultQuery, TestcaseQuery};
pub use time::{MonotonicClock, Timestamp, parse_fromisoformat};
pub use waiver::{
    BySubjectsRequest, CreateWaivers, DEFAULT_WAIVER_LIMIT, FilterRequest, ObsoleteRule, PageLinks, Since, SubjectDict,
    SubjectTestcase, WaiverError, WaiverFilter, WaiverInput, WaiverJson, WaiverListQuery, WaiverPage, WaiverPageJson,
    WaiverRecord, WaiverTarget, WaiverView, filter_waivers, lax_bool, lax_bool_str, list_waivers, page_url,
    parse_create_waivers, sort_newest_first, waivers_by_subjects,
};

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// The outcomes ResultsDB always knows, in its order (observable in error messages).
pub const PRESET_OUTCOMES: [&str; 4] = ["PASSED", "INFO", "FAILED", "NEEDS_INSPECTION"];

/// Extra outcomes allowed by default: Greenwave gives ERROR/QUEUED/RUNNING meaning and
/// Taskotron's checks emit ABORTED/CRASHED (`spec/formats.md` proposal).
pub const DEFAULT_EXTRA_OUTCOMES: [&str; 5] = ["ERROR", "QUEUED", "RUNNING", "ABORTED", "CRASHED"];

/// The allowed outcome list: presets first, then configured extras (upstream order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcomes(Vec<String>);

impl Outcomes {
    /// Presets plus `extra` (upper-cased, trimmed, de-duplicated, empty items dropped).
    pub fn new<S: AsRef<str>>(extra: &[S]) -> Result<Self, ModelError> {
        let mut all: Vec<String> = PRESET_OUTCOMES.iter().map(|s| (*s).to_owned()).collect();
        for e in extra {
            let e = e.as_ref().trim().to_uppercase();
            if e.len() > 32 {
                return Err(ModelError::BadRequest(format!("outcome {e:?} is longer than 32 characters")));
            }
            if !e.is_empty() && !all.contains(&e) {
                all.push(e);
            }
        }
        Ok(Outcomes(all))
    }

    /// ResultsDB's presets plus our default extras.
    pub fn default_set() -> Self {
        Outcomes(PRESET_OUTCOMES.iter().chain(DEFAULT_EXTRA_OUTCOMES.iter()).map(|s| (*s).to_owned()).collect())
    }

    pub fn contains(&self, outcome: &str) -> bool {
        self.0.iter().any(|o| o == outcome)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Upstream's validation message: `must be one of: PASSED, INFO, …`.
    pub fn must_be_one_of(&self) -> String {
        format!("must be one of: {}", self.0.join(", "))
    }
}

/// A testcase as named in a result or a testcase write. `ref_url` is `None` when the
/// writer did not mention it (leave as is) and `Some(None)` when it set it to null.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestcaseRecord {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub ref_url: Option<Option<String>>,
}

/// A group as named in a result or a group write; absent fields are left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub ref_url: Option<Option<String>>,
    pub uuid: String,
}

/// A result exactly as it is recorded in the log: immutable, fully resolved (uuid and
/// submit_time assigned), fields in alphabetical order so the JSON is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRecord {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_url: Option<String>,
    /// blake3 (hex) of the request that chose this result's uuid (a client `uuid` or an
    /// `Idempotency-Key`): a retry must carry the same request, anything else is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Microseconds since the epoch, naive UTC.
    pub submit_time: i64,
    pub testcase: TestcaseRecord,
    /// The result's global identity: the same on every node that holds it.
    pub uuid: String,
}

impl ResultRecord {
    /// Whether two records under one uuid say the same thing: every field but the submit
    /// time (a file ingested on two nodes, or a retry, is stamped twice) and the request
    /// hash. An equivalence, so which of several equal records a node shows does not depend
    /// on the order they arrived in.
    pub fn same_content(&self, other: &ResultRecord) -> bool {
        self.uuid == other.uuid
            && self.testcase.name == other.testcase.name
            && self.outcome == other.outcome
            && self.note == other.note
            && self.ref_url == other.ref_url
            && self.data == other.data
            && self.groups.iter().map(|g| &g.uuid).eq(other.groups.iter().map(|g| &g.uuid))
    }

    /// Whether `other` is a retry of the request that stored `self`: the same request hash
    /// when both have one, else the same content.
    pub fn same_request(&self, other: &ResultRecord) -> bool {
        match (&self.request, &other.request) {
            (Some(a), Some(b)) => a == b && self.uuid == other.uuid,
            _ => self.same_content(other),
        }
    }
}

/// A result file ingested from a spool or by `verdict ingest`: recorded in the same
/// transaction as its results, so a file whose `blake3` is recorded is never ingested again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestRecord {
    /// blake3 (hex) of the file's bytes followed by its sidecar's bytes, if any.
    pub blake3: String,
    /// The detected format.
    pub format: String,
    /// The file's path relative to the spool (or as given to `ingest`).
    pub name: String,
    /// How many results the file held.
    pub results: u64,
}

/// Distinguishes an absent field from an explicit `null` (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A stored result as the API shows it: the record plus its local id and the testcase's
/// current `ref_url` (upstream renders the live testcase, not the one at submit time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultView {
    pub id: i64,
    pub record: ResultRecord,
    pub testcase_ref_url: Option<String>,
}

/// A testcase as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestcaseView {
    pub name: String,
    pub ref_url: Option<String>,
}

/// A group as the API shows it, with its live result count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    pub uuid: String,
    pub description: Option<String>,
    pub ref_url: Option<String>,
    pub results_count: i64,
}

/// Every way to pick one item from each list, in order (`[[a, b], [c]]` → `[[a, c], [b, c]]`).
/// Grouping results by several multi-valued data keys (`_distinct_on`) needs it.
pub fn cartesian<T: Clone>(lists: &[Vec<T>]) -> Vec<Vec<T>> {
    let mut combos: Vec<Vec<T>> = vec![Vec::new()];
    for values in lists {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push(v.clone());
                    c
                })
            })
            .collect();
    }
    combos
}

/// A fresh random UUID in the hyphenated form (groups created without one).
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// A fresh time-ordered UUID for a result: v7 keeps the uuid index append-mostly.
pub fn new_result_uuid() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// The result uuid an `Idempotency-Key` stands for when `scope` (the identity that sent it:
/// a user name, or "anonymous") sends it: the same key from the same sender always maps to
/// the same uuid, so a retried POST finds the result its first attempt stored, while the
/// same key from another sender names another result.
pub fn uuid_for_idempotency_key(scope: &str, key: &str) -> String {
    let digest = blake3::hash(format!("verdict idempotency key\0{}\0{scope}\0{key}", scope.len()).as_bytes());
    uuid_from_digest(&digest)
}

/// A (v8, custom) uuid made of the first 16 bytes of a blake3 digest.
pub(crate) fn uuid_from_digest(digest: &blake3::Hash) -> String {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_bytes()[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().hyphenated().to_string()
}

/// The uuid of the `index`-th result of an ingested file with content key `file_key`: the
/// same wherever the file is ingested (copies on two nodes do not duplicate), and, with the
/// file's hash in front and the index behind, consecutive — the uuid index grows in order.
pub fn uuid_for_file_result(file_key: &str, index: u64) -> String {
    let digest = blake3::hash(format!("verdict ingested file\0{file_key}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&digest.as_bytes()[..8]);
    bytes[8..].copy_from_slice(&index.to_be_bytes());
    uuid::Builder::from_custom_bytes(bytes).into_uuid().hyphenated().to_string()
}

/// The request hash a result records (see [`ResultRecord::request`]): blake3 of the request
/// body's canonical JSON (keys sorted, compact), so a byte-different but equal body is the
/// same request.
pub fn request_hash(body: &serde_json::Value) -> String {
    blake3::hash(body.to_string().as_bytes()).to_hex().to_string()
}

/// Canonical form of a client-supplied result uuid, or `None` if it is not a UUID.
pub fn canonical_uuid(s: &str) -> Option<String> {
    uuid::Uuid::parse_str(s).ok().map(|u| u.hyphenated().to_string())
}
