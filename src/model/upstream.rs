//! Records read from an upstream ResultsDB 2.x or WaiverDB 1.x database (`verdict
//! import-resultsdb`, issue 14), turned into verdict's records: pure, no I/O.
//!
//! Upstream rows have integer ids and no uuids. Each imported record gets a uuid derived
//! from its upstream id *and* content, so importing the same database again (or resuming
//! an interrupted import) names the same records and stores nothing twice, while another
//! database whose row 7 says something else does not collide with this one's row 7.

use super::{GroupRecord, ResultRecord, TestcaseRecord, WaiverRecord};
use std::collections::BTreeMap;

/// A `result` row of ResultsDB 2.x with what hangs off it (`result_data`,
/// `groups_to_results`), as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamResult {
    pub id: i64,
    pub testcase: String,
    /// Microseconds since the epoch (upstream: `timestamp without time zone`, UTC).
    pub submit_time: i64,
    pub outcome: String,
    pub note: Option<String>,
    pub ref_url: Option<String>,
    /// `(key, value)` rows in upstream id order.
    pub data: Vec<(String, String)>,
    /// Group uuids, in upstream id order.
    pub groups: Vec<String>,
}

/// A `waiver` row of WaiverDB 1.x.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamWaiver {
    pub id: i64,
    pub subject_type: String,
    pub subject_identifier: String,
    pub testcase: String,
    pub username: String,
    pub proxied_by: Option<String>,
    pub product_version: String,
    pub waived: bool,
    pub scenario: Option<String>,
    pub comment: Option<String>,
    /// Microseconds since the epoch (naive UTC, as upstream stores it).
    pub timestamp: i64,
}

/// A uuid from a domain tag and the fields that identify a row.
fn derived_uuid(tag: &str, fields: &[&str]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(tag.as_bytes());
    for f in fields {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        h.update(&(f.len() as u64).to_le_bytes());
        h.update(f.as_bytes());
    }
    super::uuid_from_digest(&h.finalize())
}

/// The verdict uuid of an upstream result: its id, testcase, submit time and outcome.
pub fn upstream_result_uuid(r: &UpstreamResult) -> String {
    let (id, time) = (r.id.to_string(), r.submit_time.to_string());
    derived_uuid("verdict import resultsdb result\0", &[&id, &r.testcase, &time, &r.outcome])
}

/// The verdict uuid of an upstream waiver: its id, subject, testcase, author and time.
pub fn upstream_waiver_uuid(w: &UpstreamWaiver) -> String {
    let (id, time) = (w.id.to_string(), w.timestamp.to_string());
    let fields = [&id[..], &w.subject_type, &w.subject_identifier, &w.testcase, &w.username, &time];
    derived_uuid("verdict import waiverdb waiver\0", &fields)
}

impl UpstreamResult {
    /// The result as verdict records it. Groups are named by uuid only (their description
    /// and ref_url are imported with the groups themselves); data values keep upstream's
    /// order under each key, as ResultsDB answers them.
    pub fn into_record(self) -> ResultRecord {
        let uuid = upstream_result_uuid(&self);
        let mut data: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in self.data {
            data.entry(k).or_default().push(v);
        }
        let mut groups: Vec<GroupRecord> = Vec::with_capacity(self.groups.len());
        for g in self.groups {
            if !groups.iter().any(|x| x.uuid == g) {
                groups.push(GroupRecord { uuid: g, description: None, ref_url: None });
            }
        }
        ResultRecord {
            data,
            groups,
            note: self.note,
            outcome: self.outcome,
            ref_url: self.ref_url,
            request: None,
            submit_time: self.submit_time,
            testcase: TestcaseRecord { name: self.testcase, ref_url: None },
            uuid,
        }
    }
}

impl UpstreamWaiver {
    /// The waiver as verdict records it. WaiverDB allows a NULL comment; verdict's waivers
    /// always have one, so it becomes empty.
    pub fn into_record(self) -> WaiverRecord {
        let uuid = upstream_waiver_uuid(&self);
        WaiverRecord {
            comment: self.comment.unwrap_or_default(),
            expires_at: None,
            product_version: self.product_version,
            proxied_by: self.proxied_by,
            scenario: self.scenario,
            subject_identifier: self.subject_identifier,
            subject_type: self.subject_type,
            testcase: self.testcase,
            timestamp: self.timestamp,
            username: self.username,
            uuid,
            waived: self.waived,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: i64) -> UpstreamResult {
        UpstreamResult {
            id,
            testcase: "dist.rpmdeplint".into(),
            submit_time: 1_700_000_000_123_456,
            outcome: "PASSED".into(),
            note: Some("ok".into()),
            ref_url: None,
            data: vec![
                ("item".into(), "pkg-1.0-1.fc40".into()),
                ("arch".into(), "x86_64".into()),
                ("arch".into(), "aarch64".into()),
            ],
            groups: vec!["g-1".into(), "g-2".into(), "g-1".into()],
        }
    }

    #[test]
    fn results_map_to_records_with_stable_uuids() {
        let cases: [(&str, UpstreamResult, bool); 5] = [
            ("same row", result(7), true),
            ("another id", result(8), false),
            ("another outcome", UpstreamResult { outcome: "FAILED".into(), ..result(7) }, false),
            ("another time", UpstreamResult { submit_time: 1, ..result(7) }, false),
            ("another note (not identity)", UpstreamResult { note: None, ..result(7) }, true),
        ];
        let base = upstream_result_uuid(&result(7));
        for (what, r, same) in cases {
            assert_eq!(upstream_result_uuid(&r) == base, same, "{what}");
        }
        let rec = result(7).into_record();
        assert_eq!(rec.uuid, base);
        assert_eq!(rec.data["arch"], vec!["x86_64", "aarch64"], "values keep upstream order");
        assert_eq!(rec.groups.iter().map(|g| g.uuid.as_str()).collect::<Vec<_>>(), ["g-1", "g-2"]);
        assert_eq!((rec.testcase.name.as_str(), rec.submit_time), ("dist.rpmdeplint", 1_700_000_000_123_456));
        assert!(uuid::Uuid::parse_str(&rec.uuid).is_ok());
    }

    #[test]
    fn waivers_map_to_records_with_stable_uuids() {
        let w = |id: i64, comment: Option<&str>| UpstreamWaiver {
            id,
            subject_type: "koji_build".into(),
            subject_identifier: "pkg-1.0-1.fc40".into(),
            testcase: "dist.rpmdeplint".into(),
            username: "alice".into(),
            proxied_by: None,
            product_version: "fedora-40".into(),
            waived: true,
            scenario: None,
            comment: comment.map(str::to_owned),
            timestamp: 1_700_000_000_000_000,
        };
        assert_eq!(upstream_waiver_uuid(&w(1, Some("a"))), upstream_waiver_uuid(&w(1, None)));
        assert_ne!(upstream_waiver_uuid(&w(1, None)), upstream_waiver_uuid(&w(2, None)));
        let rec = w(1, None).into_record();
        assert_eq!((rec.comment.as_str(), rec.waived, rec.expires_at), ("", true, None));
    }
}
