//! WaiverDB's JSON shapes: the waiver object in flask-restx field order and the
//! `GET /waivers/` page body with its links.

use super::WaiverView;
use super::list::WaiverPage;
use crate::model::time::Timestamp;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Serialize, Serializer};

impl WaiverView {
    /// The waiver as WaiverDB serialises it.
    pub fn to_json(&self) -> WaiverJson<'_> {
        let r = &self.record;
        WaiverJson {
            id: self.id,
            subject_type: &r.subject_type,
            subject_identifier: &r.subject_identifier,
            subject: SubjectDict { subject_type: &r.subject_type, identifier: &r.subject_identifier },
            testcase: &r.testcase,
            username: &r.username,
            scenario: r.scenario.as_deref(),
            proxied_by: r.proxied_by.as_deref(),
            product_version: &r.product_version,
            waived: r.waived,
            comment: &r.comment,
            timestamp: Timestamp(r.timestamp).to_iso(),
            expires_at: r.expires_at.map(|e| Timestamp(e).to_iso()),
        }
    }
}

/// WaiverDB's waiver object, fields in flask-restx order (the order is observable: success
/// bodies are not key-sorted). `expires_at` is our extension, present only when set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiverJson<'a> {
    pub id: i64,
    pub subject_type: &'a str,
    pub subject_identifier: &'a str,
    pub subject: SubjectDict<'a>,
    pub testcase: &'a str,
    pub username: &'a str,
    pub scenario: Option<&'a str>,
    pub proxied_by: Option<&'a str>,
    pub product_version: &'a str,
    pub waived: bool,
    pub comment: &'a str,
    pub timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// The derived back-compat `subject`: `{"productmd.compose.id": id}` for composes, else
/// `{"type": t, "item": id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectDict<'a> {
    pub subject_type: &'a str,
    pub identifier: &'a str,
}

impl Serialize for SubjectDict<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.subject_type == "compose" {
            let mut m = s.serialize_map(Some(1))?;
            m.serialize_entry("productmd.compose.id", self.identifier)?;
            m.end()
        } else {
            let mut m = s.serialize_map(Some(2))?;
            m.serialize_entry("type", self.subject_type)?;
            m.serialize_entry("item", self.identifier)?;
            m.end()
        }
    }
}

/// Characters Werkzeug leaves as they are in a query string value (space becomes `+`).
const QUERY_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b',')
    .remove(b'/')
    .remove(b':')
    .remove(b';')
    .remove(b'?')
    .remove(b'@')
    .remove(b' ');

fn quote(s: &str) -> String {
    utf8_percent_encode(s, QUERY_KEEP).to_string().replace(' ', "+")
}

/// A page link as WaiverDB builds it: `<base>?page=N` then the other query parameters in
/// their original order, first value of each. `base` is the absolute `…/waivers/` URL.
pub fn page_url(base: &str, pairs: &[(String, String)], page: i64) -> String {
    let mut url = format!("{base}?page={page}");
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in pairs {
        if k == "page" || seen.contains(&k.as_str()) {
            continue;
        }
        seen.push(k);
        url.push('&');
        url.push_str(&quote(k));
        url.push('=');
        url.push_str(&quote(v));
    }
    url
}

/// The `GET /waivers/` body, keys in WaiverDB's order: data, prev, next, first, last.
#[derive(Debug, Serialize)]
pub struct WaiverPageJson<'a> {
    pub data: Vec<WaiverJson<'a>>,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub first: Option<String>,
    pub last: Option<String>,
}

impl<'a> WaiverPage<'a> {
    /// The response body; `base` and `pairs` are the request's URL and query pairs.
    pub fn to_json(&self, base: &str, pairs: &[(String, String)]) -> WaiverPageJson<'a> {
        let data = self.data.iter().map(|w| w.to_json()).collect();
        let url = |p: Option<i64>| p.map(|p| page_url(base, pairs, p));
        match self.links {
            None => WaiverPageJson { data, prev: None, next: None, first: None, last: None },
            Some(l) => WaiverPageJson {
                data,
                prev: url(l.prev),
                next: url(l.next),
                first: url(Some(l.first)),
                last: url(Some(l.last)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::stored;
    use crate::model::time::Timestamp;
    use serde_json::json;

    #[test]
    fn waiver_json_in_restx_order() {
        let w = stored(7, 0, |r| {
            r.subject_type = "compose".into();
            r.timestamp = 1_489_686_124_209_638;
        });
        let text = serde_json::to_string(&w.to_json()).unwrap();
        assert_eq!(
            text,
            "{\"id\":7,\"subject_type\":\"compose\",\"subject_identifier\":\"n-1-1\",\"subject\":{\"productmd.compose.id\":\"n-1-1\"},\"testcase\":\"t\",\"username\":\"alice\",\"scenario\":null,\"proxied_by\":null,\"product_version\":\"fedora-32\",\"waived\":true,\"comment\":\"c\",\"timestamp\":\"2017-03-16T17:42:04.209638\"}"
        );
        let k = stored(8, 0, |r| r.expires_at = Some(0));
        let j = serde_json::to_value(k.to_json()).unwrap();
        assert_eq!(j["subject"], json!({"type": "koji_build", "item": "n-1-1"}));
        assert_eq!(j["expires_at"], json!("1970-01-01T00:00:00"));
        assert!(k.expired_at(Timestamp(0)) && !k.expired_at(Timestamp(-1)));
    }
}
