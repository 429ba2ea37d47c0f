//! Quarantines (our extension): standing rules that keep a flaky test from blocking
//! decisions — the log record, the create/revoke bodies and their refusals, and which rules
//! stand at an instant. All pure: callers supply the authenticated user and "now".
//!
//! A quarantine is immutable like a waiver: creating one is a `quarantine` entry, revoking
//! it a newer entry for the same `uuid` with `revoked: true`. A rule stands at instant T
//! when it was created by T, no revocation of it is dated by T and it has not expired at T
//! — so every node holding the same entries agrees, in any order they arrived.

use super::time::{Timestamp, parse_fromisoformat};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Passes of a key that release a rule when the body names no number (the issue's default).
pub const DEFAULT_RELEASE_AFTER_PASSES: u32 = 5;
/// Upper bound of `release_after_passes`: a rule that needs more is a permanent waiver.
pub const MAX_RELEASE_AFTER_PASSES: u32 = 1000;
/// Longest testcase glob, scenario, product version, subject type or owner accepted.
const MAX_FIELD: usize = 1024;
/// Longest reason accepted.
const MAX_REASON: usize = 8192;

/// One quarantine entry exactly as recorded in the log: fields alphabetical, absent
/// optionals skipped, so the JSON is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineRecord {
    /// When the rule was created (microseconds since the epoch; the same in its revocation).
    pub created_at: i64,
    /// From this instant on the rule no longer applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Whom the rule is for (the authenticated user, or whom a superuser proxied).
    pub owner: String,
    /// A glob (fnmatch) over the decision's product version; absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_version: Option<String>,
    /// The superuser who created it on the owner's behalf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxied_by: Option<String>,
    pub reason: String,
    pub release_after_passes: u32,
    /// This entry revokes the rule (`revoked_by` says who).
    pub revoked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    /// Exact scenario the requirement must have; absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// Subject type (or an alias of it) the decision must be about; absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_type: Option<String>,
    /// A glob (fnmatch, as Greenwave's package patterns) over testcase names.
    pub testcase: String,
    /// When this entry was made: `created_at` for the creation, later for a revocation.
    pub timestamp: i64,
    /// The rule's global identity: the `id` the API shows, the same on every node.
    pub uuid: String,
}

/// A stored quarantine entry: the record plus its local log position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineView {
    pub seq: i64,
    pub record: QuarantineRecord,
}

/// One rule as it stands: its creation and, if any, its earliest revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    pub rule: QuarantineRecord,
    /// (timestamp, who) of the earliest revocation seen.
    pub revoked: Option<(i64, Option<String>)>,
}

impl Quarantine {
    pub fn id(&self) -> &str {
        &self.rule.uuid
    }

    /// Whether the rule applies at `at`: created by then, not revoked by then, not expired.
    pub fn active_at(&self, at: Timestamp) -> bool {
        self.rule.created_at <= at.0
            && self.revoked.as_ref().is_none_or(|(t, _)| *t > at.0)
            && self.rule.expires_at.is_none_or(|e| e > at.0)
    }

    /// The API's JSON; `active` is judged at `at`.
    pub fn to_json(&self, at: Timestamp) -> Value {
        let r = &self.rule;
        let iso = |t: Option<i64>| t.map(|t| Timestamp(t).to_iso());
        json!({
            "id": r.uuid,
            "testcase": r.testcase,
            "scenario": r.scenario,
            "product_version": r.product_version,
            "subject_type": r.subject_type,
            "reason": r.reason,
            "owner": r.owner,
            "proxied_by": r.proxied_by,
            "created_at": Timestamp(r.created_at).to_iso(),
            "expires_at": iso(r.expires_at),
            "release_after_passes": r.release_after_passes,
            "revoked": self.revoked.is_some(),
            "revoked_at": iso(self.revoked.as_ref().map(|(t, _)| *t)),
            "revoked_by": self.revoked.as_ref().and_then(|(_, by)| by.clone()),
            "active": self.active_at(at),
        })
    }
}

/// The rules the entries make, as known at `at` (`None`: everything held): entries dated
/// later are left out, so a decision `when` sees the rules that applied then. Ordered by
/// creation time, then id. Order-independent: a rule's fields come from its creation entry
/// (the earliest by timestamp), a revocation from the earliest revoking entry.
pub fn quarantines_at(entries: &[QuarantineView], at: Option<Timestamp>) -> Vec<Quarantine> {
    let mut by_id: HashMap<&str, (Option<&QuarantineRecord>, Option<&QuarantineRecord>)> = HashMap::new();
    for e in entries.iter().filter(|e| at.is_none_or(|at| e.record.timestamp <= at.0)) {
        let r = &e.record;
        let slot = by_id.entry(r.uuid.as_str()).or_default();
        let side = if r.revoked { &mut slot.1 } else { &mut slot.0 };
        if side.is_none_or(|held| (r.timestamp, &r.owner) < (held.timestamp, &held.owner)) {
            *side = Some(r);
        }
    }
    let mut out: Vec<Quarantine> = by_id
        .into_values()
        .filter_map(|(created, revoked)| {
            // A revocation replicated ahead of its creation still carries the rule.
            let rule = created.or(revoked)?.clone();
            let revoked = revoked.map(|r| (r.timestamp, r.revoked_by.clone()));
            Some(Quarantine { rule: QuarantineRecord { revoked: false, revoked_by: None, ..rule }, revoked })
        })
        .collect();
    out.sort_by(|a, b| (a.rule.created_at, &a.rule.uuid).cmp(&(b.rule.created_at, &b.rule.uuid)));
    out
}

/// Why a quarantine request was refused: HTTP 400 `{"message": ..., "field": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuarantineError {
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
}

fn invalid(field: &'static str, message: impl Into<String>) -> QuarantineError {
    QuarantineError::Invalid { field, message: message.into() }
}

/// A validated create body; the service turns it into a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineInput {
    pub testcase: String,
    pub scenario: Option<String>,
    pub product_version: Option<String>,
    pub subject_type: Option<String>,
    pub reason: String,
    /// Whom the rule is for when not the caller (superusers only).
    pub owner: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub release_after_passes: u32,
}

/// What a `POST /quarantines` body asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuarantineRequest {
    Create(QuarantineInput),
    /// `{"id": ..., "revoked": true}`.
    Revoke(String),
}

const CREATE_FIELDS: [&str; 8] = [
    "testcase",
    "scenario",
    "product_version",
    "subject_type",
    "reason",
    "owner",
    "expires_at",
    "release_after_passes",
];

/// Validates a `POST /api/verdict/v1/quarantines` body; `now` bounds `expires_at`. Every
/// refusal names the field.
pub fn parse_quarantine_request(body: &Value, now: Timestamp) -> Result<QuarantineRequest, QuarantineError> {
    let obj = body.as_object().ok_or_else(|| invalid("body", "must be a JSON object"))?;
    if obj.contains_key("id") || obj.contains_key("revoked") {
        return parse_revoke(obj).map(QuarantineRequest::Revoke);
    }
    if let Some(unknown) = obj.keys().find(|k| !CREATE_FIELDS.contains(&k.as_str())) {
        return Err(invalid("body", format!("unknown field {unknown:?}")));
    }
    let testcase = text(obj, "testcase", MAX_FIELD)?.ok_or_else(|| invalid("testcase", "is required"))?;
    let reason = text(obj, "reason", MAX_REASON)?.ok_or_else(|| invalid("reason", "is required"))?;
    let expires_at = match obj.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match parse_fromisoformat(s) {
            Ok(t) if t > now => Some(t),
            Ok(_) => return Err(invalid("expires_at", "must be in the future")),
            Err(m) => return Err(invalid("expires_at", m)),
        },
        Some(_) => return Err(invalid("expires_at", "must be an ISO 8601 date/time string")),
    };
    let release_after_passes = match obj.get("release_after_passes") {
        None | Some(Value::Null) => DEFAULT_RELEASE_AFTER_PASSES,
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=MAX_RELEASE_AFTER_PASSES).contains(n))
            .ok_or_else(|| {
                invalid("release_after_passes", format!("must be an integer from 1 to {MAX_RELEASE_AFTER_PASSES}"))
            })?,
    };
    Ok(QuarantineRequest::Create(QuarantineInput {
        testcase,
        scenario: text(obj, "scenario", MAX_FIELD)?,
        product_version: text(obj, "product_version", MAX_FIELD)?,
        subject_type: text(obj, "subject_type", MAX_FIELD)?,
        reason,
        owner: text(obj, "owner", MAX_FIELD)?,
        expires_at,
        release_after_passes,
    }))
}

fn parse_revoke(obj: &Map<String, Value>) -> Result<String, QuarantineError> {
    if let Some(other) = obj.keys().find(|k| *k != "id" && *k != "revoked") {
        return Err(invalid("body", format!("a revocation has only \"id\" and \"revoked\", not {other:?}")));
    }
    if obj.get("revoked") != Some(&Value::Bool(true)) {
        return Err(invalid("revoked", "must be true (a quarantine is revoked, never restored)"));
    }
    text(obj, "id", MAX_FIELD)?.ok_or_else(|| invalid("id", "is required"))
}

/// An optional non-empty string field of at most `max` bytes (null counts as absent).
fn text(obj: &Map<String, Value>, field: &'static str, max: usize) -> Result<Option<String>, QuarantineError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Err(invalid(field, "must not be empty")),
        Some(Value::String(s)) if s.len() > max => Err(invalid(field, format!("is longer than {max} bytes"))),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

impl QuarantineInput {
    /// The creation entry: `owner` and `proxied_by` as authorised, `now` the server time.
    pub fn into_record(
        self,
        owner: String,
        proxied_by: Option<String>,
        now: Timestamp,
        uuid: String,
    ) -> QuarantineRecord {
        QuarantineRecord {
            created_at: now.0,
            expires_at: self.expires_at.map(|t| t.0),
            owner,
            product_version: self.product_version,
            proxied_by,
            reason: self.reason,
            release_after_passes: self.release_after_passes,
            revoked: false,
            revoked_by: None,
            scenario: self.scenario,
            subject_type: self.subject_type,
            testcase: self.testcase,
            timestamp: now.0,
            uuid,
        }
    }
}

impl Quarantine {
    /// The entry that revokes this rule, made by `by` at `now`.
    pub fn revocation(&self, by: &str, now: Timestamp) -> QuarantineRecord {
        QuarantineRecord { revoked: true, revoked_by: Some(by.to_owned()), timestamp: now.0, ..self.rule.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, uuid: &str, ts: i64, revoked: bool) -> QuarantineView {
        QuarantineView {
            seq,
            record: QuarantineRecord {
                created_at: 10,
                expires_at: Some(100),
                owner: "alice".into(),
                product_version: None,
                proxied_by: None,
                reason: "flaky".into(),
                release_after_passes: 5,
                revoked,
                revoked_by: revoked.then(|| "bob".into()),
                scenario: None,
                subject_type: None,
                testcase: "dist.*".into(),
                timestamp: ts,
                uuid: uuid.into(),
            },
        }
    }

    #[test]
    fn standing_rules_at_an_instant() {
        let entries = [entry(1, "a", 10, false), entry(2, "a", 50, true), entry(3, "b", 10, false)];
        // (at, expected active ids)
        let table: [(Option<i64>, i64, &[&str]); 5] = [
            (None, 60, &["b"]),          // revoked at 50
            (None, 20, &["a", "b"]),     // not yet revoked at 20
            (Some(9), 9, &[]),           // before creation
            (None, 100, &[]),            // expired
            (Some(49), 60, &["a", "b"]), // the revocation was not known by 49
        ];
        for (known_at, at, want) in table {
            let rules = quarantines_at(&entries, known_at.map(Timestamp));
            let active: Vec<&str> = rules.iter().filter(|q| q.active_at(Timestamp(at))).map(Quarantine::id).collect();
            assert_eq!(active, want, "known at {known_at:?}, judged at {at}");
        }
        // In any arrival order the same rules.
        let reversed: Vec<QuarantineView> = entries.iter().rev().cloned().collect();
        assert_eq!(quarantines_at(&reversed, None), quarantines_at(&entries, None));
        // A revocation alone still carries the rule, revoked.
        let only = quarantines_at(&entries[1..2], None);
        assert_eq!(only.len(), 1);
        assert!(only[0].revoked.is_some() && !only[0].rule.revoked);
    }

    #[test]
    fn requests_name_the_bad_field() {
        let now = Timestamp(0);
        let table = [
            (json!({"reason": "r"}), "testcase"),
            (json!({"testcase": "t"}), "reason"),
            (json!({"testcase": "", "reason": "r"}), "testcase"),
            (json!({"testcase": "t", "reason": 3}), "reason"),
            (json!({"testcase": "t", "reason": "r", "release_after_passes": 0}), "release_after_passes"),
            (json!({"testcase": "t", "reason": "r", "release_after_passes": "5"}), "release_after_passes"),
            (json!({"testcase": "t", "reason": "r", "expires_at": "1960-01-01"}), "expires_at"),
            (json!({"testcase": "t", "reason": "r", "expires_at": "soon"}), "expires_at"),
            (json!({"testcase": "t", "reason": "r", "colour": "red"}), "body"),
            (json!({"id": "x", "revoked": false}), "revoked"),
            (json!({"revoked": true}), "id"),
            (json!([1]), "body"),
        ];
        for (body, field) in table {
            match parse_quarantine_request(&body, now) {
                Err(QuarantineError::Invalid { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        let ok = parse_quarantine_request(&json!({"testcase": "t*", "reason": "r", "expires_at": null}), now);
        match ok {
            Ok(QuarantineRequest::Create(i)) => assert_eq!(i.release_after_passes, DEFAULT_RELEASE_AFTER_PASSES),
            other => panic!("{other:?}"),
        }
        let revoke = parse_quarantine_request(&json!({"id": "x", "revoked": true}), now);
        assert_eq!(revoke, Ok(QuarantineRequest::Revoke("x".into())));
    }

    #[test]
    fn records_are_canonical() {
        let e = entry(1, "a", 10, false);
        let text = serde_json::to_string(&e.record).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"created_at":10,"expires_at":100,"owner":"alice","reason":"flaky","release_after_passes":5,"revoked":false,"testcase":"dist.*","timestamp":10,"uuid":"a"}"#
        );
    }
}
