//! Waivers (WaiverDB API v1.0): the log record and the refusals, all pure. Create-body
//! validation is in `create`, the list/`+filtered`/`+by-subjects` queries with their
//! obsolete-waiver rules in `list`, WaiverDB's JSON shapes in `json`, and pydantic's lax
//! field readers both bodies share in `fields`.
//!
//! A waiver is an immutable log entry; revoking is a newer waiver with `waived: false`.
//! The local `id` is what the API shows; "newest wins" is decided by the server-assigned
//! `timestamp`, ties by `uuid` (see [`WaiverView::order_key`]), so every node holding the
//! same waivers agrees. Callers supply the authenticated user and "now".

mod create;
mod fields;
mod json;
mod list;

pub use create::{CreateWaivers, WaiverInput, WaiverTarget, parse_create_waivers};
pub use fields::{lax_bool, lax_bool_str};
pub use json::{SubjectDict, WaiverJson, WaiverPageJson, page_url};
pub use list::{
    BySubjectsRequest, DEFAULT_WAIVER_LIMIT, FilterRequest, ObsoleteRule, PageLinks, Since, SubjectTestcase,
    WaiverFilter, WaiverListQuery, WaiverPage, filter_waivers, list_waivers, sort_newest_first, waivers_by_subjects,
};

use super::error::FieldError;
use super::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A waiver exactly as recorded in the log: fields alphabetical, absent optionals skipped,
/// so the JSON is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverRecord {
    pub comment: String,
    /// Our extension: microseconds since the epoch after which the waiver stops applying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    pub product_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxied_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    pub subject_identifier: String,
    pub subject_type: String,
    pub testcase: String,
    /// Server time of creation, microseconds since the epoch (naive UTC).
    pub timestamp: i64,
    pub username: String,
    /// The waiver's global identity: the same on every node that holds it.
    pub uuid: String,
    pub waived: bool,
}

/// A stored waiver: the record plus its local id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiverView {
    pub id: i64,
    pub record: WaiverRecord,
}

impl WaiverView {
    /// The "newest wins" order. WaiverDB uses the highest id, i.e. creation order on one
    /// database; ids are local here (replicated waivers get later ids than newer local
    /// ones), so we use the creation time the origin assigned, ties broken by uuid. On a
    /// single node (timestamps increase with ids) this is the same as upstream.
    pub fn order_key(&self) -> (i64, &str) {
        (self.record.timestamp, &self.record.uuid)
    }

    /// Whether the waiver has expired at `at` (it applies strictly before `expires_at`).
    pub fn expired_at(&self, at: Timestamp) -> bool {
        self.record.expires_at.is_some_and(|e| e <= at.0)
    }
}

/// Why a waiver request was refused, shaped as WaiverDB answers it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WaiverError {
    /// HTTP 400 `{"validation_error": [...]}` (pydantic).
    #[error("invalid waiver request: {}", describe(.0))]
    Validation(Vec<FieldError>),
    /// HTTP 400 `{"message": "..."}`.
    #[error("{0}")]
    BadRequest(String),
    /// HTTP 400 `{"message": {"<field>": "..."}}` (`since` errors, missing subject parts).
    #[error("{field}: {message}")]
    BadField { field: &'static str, message: String },
    /// HTTP 403 `{"message": "..."}`.
    #[error("{0}")]
    Forbidden(String),
}

fn describe(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.path(), e.msg)).collect();
    parts.join("; ")
}

#[cfg(test)]
mod fixtures {
    use super::{Timestamp, WaiverRecord, WaiverView};

    /// "Now" of the tests.
    pub const NOW: Timestamp = Timestamp(1_700_000_000_000_000);

    /// A stored waiver created `secs` after [`NOW`], changed by `f`.
    pub fn stored(id: i64, secs: i64, f: impl FnOnce(&mut WaiverRecord)) -> WaiverView {
        let mut record = WaiverRecord {
            comment: "c".into(),
            expires_at: None,
            product_version: "fedora-32".into(),
            proxied_by: None,
            scenario: None,
            subject_identifier: "n-1-1".into(),
            subject_type: "koji_build".into(),
            testcase: "t".into(),
            timestamp: NOW.0 + secs * 1_000_000,
            username: "alice".into(),
            uuid: format!("u{id}"),
            waived: true,
        };
        f(&mut record);
        WaiverView { id, record }
    }
}
