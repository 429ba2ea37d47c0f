//! The queries: `GET /waivers/` (paged), `POST /waivers/+filtered` and
//! `POST /waivers/+by-subjects-and-testcases`, their bodies and `since` ranges, and the
//! obsolete-waiver rules that differ between them.

use super::fields::{at, bool_field, lax_bool_str, model_type, opt_string, parse_legacy_subject};
use super::{WaiverError, WaiverRecord, WaiverView};
use crate::model::error::{FieldError, Loc};
use crate::model::time::{Timestamp, parse_fromisoformat};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// A `since` value: `START` or `START,END` (split at the first comma, either part may be
/// empty), both inclusive. Errors are WaiverDB's 400 with `{"message": {"since": …}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Since {
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
}

impl Since {
    pub fn parse(raw: &str) -> Result<Since, WaiverError> {
        let (start, end) = match raw.split_once(',') {
            Some((s, e)) => (s, e),
            None => (raw, ""),
        };
        let one = |part: &str| -> Result<Option<Timestamp>, WaiverError> {
            if part.is_empty() {
                return Ok(None);
            }
            parse_fromisoformat(part).map(Some).map_err(|message| WaiverError::BadField { field: "since", message })
        };
        Ok(Since { start: one(start)?, end: one(end)? })
    }

    pub fn contains(&self, t: i64) -> bool {
        self.start.is_none_or(|s| t >= s.0) && self.end.is_none_or(|e| t <= e.0)
    }
}

/// Exact-match constraints shared by both queries; `None` (or empty, upstream treats any
/// falsy value so) is no constraint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaiverFilter {
    pub subject_type: Option<String>,
    pub subject_identifier: Option<String>,
    pub testcase: Option<String>,
    pub scenario: Option<String>,
    pub product_version: Option<String>,
    pub username: Option<String>,
    pub proxied_by: Option<String>,
    pub since: Since,
}

impl WaiverFilter {
    pub fn matches(&self, w: &WaiverRecord) -> bool {
        fn eq(want: &Option<String>, got: &str) -> bool {
            want.as_deref().is_none_or(|v| v.is_empty() || v == got)
        }
        fn eq_opt(want: &Option<String>, got: Option<&str>) -> bool {
            want.as_deref().is_none_or(|v| v.is_empty() || Some(v) == got)
        }
        eq(&self.subject_type, &w.subject_type)
            && eq(&self.subject_identifier, &w.subject_identifier)
            && eq(&self.testcase, &w.testcase)
            && eq_opt(&self.scenario, w.scenario.as_deref())
            && eq(&self.product_version, &w.product_version)
            && eq(&self.username, &w.username)
            && eq_opt(&self.proxied_by, w.proxied_by.as_deref())
            && self.since.contains(w.timestamp)
    }
}

/// Which fields make a waiver obsolete: the newest waiver per key wins
/// ([`WaiverView::order_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObsoleteRule {
    /// `GET /waivers/`: subject, testcase, scenario, username and product_version.
    List,
    /// `POST /waivers/+filtered` (and Greenwave): subject, testcase and scenario only.
    Filtered,
}

type ObsoleteKey<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<(&'a str, &'a str)>);

impl ObsoleteRule {
    fn key<'a>(self, w: &'a WaiverRecord) -> ObsoleteKey<'a> {
        let extra = match self {
            ObsoleteRule::List => Some((w.username.as_str(), w.product_version.as_str())),
            ObsoleteRule::Filtered => None,
        };
        (&w.subject_type, &w.subject_identifier, &w.testcase, w.scenario.as_deref(), extra)
    }

    /// The ids of the waivers that are not obsolete among `all`. `all` must hold every
    /// waiver sharing a key with any candidate (e.g. all waivers of the subjects queried).
    pub fn current_ids(self, all: &[WaiverView]) -> std::collections::HashSet<i64> {
        let mut newest: HashMap<ObsoleteKey<'_>, &WaiverView> = HashMap::new();
        for w in all {
            let e = newest.entry(self.key(&w.record)).or_insert(w);
            if w.order_key() > e.order_key() {
                *e = w;
            }
        }
        newest.into_values().map(|w| w.id).collect()
    }
}

/// Newest first: `timestamp DESC`, ties by id (newest id first).
pub fn sort_newest_first(waivers: &mut [&WaiverView]) {
    waivers.sort_by(|a, b| b.record.timestamp.cmp(&a.record.timestamp).then(b.id.cmp(&a.id)));
}

/// `POST /waivers/+filtered`: waivers matching any filter, obsolete ones dropped (unless
/// `include_obsolete`) by the global newest per (subject, testcase, scenario), newest first.
pub fn filter_waivers<'a>(all: &'a [WaiverView], req: &FilterRequest) -> Vec<&'a WaiverView> {
    let current = (!req.include_obsolete).then(|| ObsoleteRule::Filtered.current_ids(all));
    let mut out: Vec<&WaiverView> = all
        .iter()
        .filter(|w| current.as_ref().is_none_or(|c| c.contains(&w.id)))
        .filter(|w| req.filters.iter().any(|f| f.matches(&w.record)))
        .collect();
    sort_newest_first(&mut out);
    out
}

/// A validated `POST /waivers/+filtered` body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterRequest {
    pub filters: Vec<WaiverFilter>,
    pub include_obsolete: bool,
}

impl FilterRequest {
    /// Validates the body as WaiverDB's `FilterWaivers` model, then each filter's `since`.
    pub fn parse(body: &Value) -> Result<FilterRequest, WaiverError> {
        let Value::Object(obj) = body else {
            return Err(WaiverError::Validation(vec![model_type(vec![], "FilterWaivers", body)]));
        };
        let mut errs = Vec::new();
        let raw = parse_filter_list(obj, body, &mut errs);
        let include_obsolete = bool_field(obj, "include_obsolete", false, &[], &mut errs);
        if !errs.is_empty() {
            return Err(WaiverError::Validation(errs));
        }
        let mut filters = Vec::with_capacity(raw.len());
        for (mut f, since) in raw {
            if let Some(s) = since {
                f.since = Since::parse(&s)?;
            }
            filters.push(f);
        }
        Ok(FilterRequest { filters, include_obsolete })
    }
}

fn parse_filter_list(
    obj: &Map<String, Value>,
    body: &Value,
    errs: &mut Vec<FieldError>,
) -> Vec<(WaiverFilter, Option<String>)> {
    let items = match obj.get("filters") {
        None => {
            errs.push(FieldError::missing("filters", body));
            return Vec::new();
        }
        Some(Value::Array(items)) if items.is_empty() => {
            errs.push(FieldError::new(
                vec!["filters".into()],
                "too_short",
                "List should have at least 1 item after validation, not 0",
                &Value::Array(Vec::new()),
            ));
            return Vec::new();
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            errs.push(FieldError::new(vec!["filters".into()], "list_type", "Input should be a valid list", other));
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let loc = vec![Loc::from("filters"), Loc::Index(i)];
        let Value::Object(o) = item else {
            errs.push(model_type(loc, "WaiverFilter", item));
            continue;
        };
        let f = WaiverFilter {
            subject_type: opt_string(o, "subject_type", &loc, errs),
            subject_identifier: opt_string(o, "subject_identifier", &loc, errs),
            testcase: opt_string(o, "testcase", &loc, errs),
            scenario: opt_string(o, "scenario", &loc, errs),
            product_version: opt_string(o, "product_version", &loc, errs),
            username: opt_string(o, "username", &loc, errs),
            proxied_by: opt_string(o, "proxied_by", &loc, errs),
            since: Since::default(),
        };
        let since = opt_string(o, "since", &loc, errs);
        out.push((f, since));
    }
    out
}

/// One `results` item of `+by-subjects-and-testcases`: the subject as (type, identifier)
/// when it maps to one, and the testcase.
pub type SubjectTestcase = (Option<(String, String)>, String);

/// A validated `POST /waivers/+by-subjects-and-testcases` body (deprecated upstream).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BySubjectsRequest {
    /// `(subject as (type, identifier) if it maps, testcase)`, ORed; `None`: no constraint.
    pub results: Option<Vec<SubjectTestcase>>,
    /// `product_version`, `username`, `proxied_by` and `since`, ANDed.
    pub filter: WaiverFilter,
    pub include_obsolete: bool,
}

impl BySubjectsRequest {
    /// Validates the body as WaiverDB's `GetWaiversBySubjectAndTestcase` model.
    pub fn parse(body: &Value) -> Result<BySubjectsRequest, WaiverError> {
        let Value::Object(obj) = body else {
            return Err(WaiverError::Validation(vec![model_type(vec![], "GetWaiversBySubjectAndTestcase", body)]));
        };
        let mut errs = Vec::new();
        let results = match obj.get("results") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(parse_test_results(items, &mut errs)),
            Some(other) => {
                errs.push(FieldError::new(vec!["results".into()], "list_type", "Input should be a valid list", other));
                None
            }
        };
        let _ = opt_string(obj, "testcase", &[], &mut errs);
        let filter = WaiverFilter {
            product_version: opt_string(obj, "product_version", &[], &mut errs),
            username: opt_string(obj, "username", &[], &mut errs),
            proxied_by: opt_string(obj, "proxied_by", &[], &mut errs),
            ..WaiverFilter::default()
        };
        let since = opt_string(obj, "since", &[], &mut errs);
        let include_obsolete = bool_field(obj, "include_obsolete", false, &[], &mut errs);
        if !errs.is_empty() {
            return Err(WaiverError::Validation(errs));
        }
        let since = since.filter(|s| !s.is_empty()).map(|s| Since::parse(&s)).transpose()?.unwrap_or_default();
        Ok(BySubjectsRequest { results, filter: WaiverFilter { since, ..filter }, include_obsolete })
    }
}

fn parse_test_results(items: &[Value], errs: &mut Vec<FieldError>) -> Vec<SubjectTestcase> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let loc = vec![Loc::from("results"), Loc::Index(i)];
        let Value::Object(o) = item else {
            errs.push(model_type(loc, "TestResult", item));
            continue;
        };
        let testcase = match o.get("testcase") {
            None => {
                errs.push(FieldError::new(at(&loc, "testcase"), "missing", "Field required", item));
                None
            }
            Some(Value::String(t)) => Some(t.clone()),
            Some(other) => {
                errs.push(FieldError::string_type(at(&loc, "testcase"), other));
                None
            }
        };
        let subject = match o.get("subject") {
            None => {
                errs.push(FieldError::new(at(&loc, "subject"), "missing", "Field required", item));
                None
            }
            Some(v) => parse_legacy_subject(v, &loc, errs),
        };
        if let (Some(t), Some(s)) = (testcase, subject) {
            // An unmappable subject (or one without a type) matches nothing.
            let mapped = match s.to_type_identifier() {
                Ok((Some(st), id)) => Some((st, id)),
                _ => None,
            };
            out.push((mapped, t));
        }
    }
    out
}

/// `POST /waivers/+by-subjects-and-testcases`: waivers matching any (subject, testcase)
/// pair and every other constraint, obsolete ones dropped as `GET /waivers/` does, newest first.
pub fn waivers_by_subjects<'a>(all: &'a [WaiverView], req: &BySubjectsRequest) -> Vec<&'a WaiverView> {
    let current = (!req.include_obsolete).then(|| ObsoleteRule::List.current_ids(all));
    let pair_matches = |w: &WaiverRecord| match &req.results {
        Some(pairs) if !pairs.is_empty() => pairs.iter().any(|(subject, testcase)| {
            subject.as_ref().is_some_and(|(t, i)| *t == w.subject_type && *i == w.subject_identifier)
                && (testcase.is_empty() || *testcase == w.testcase)
        }),
        _ => true,
    };
    let mut out: Vec<&WaiverView> = all
        .iter()
        .filter(|w| current.as_ref().is_none_or(|c| c.contains(&w.id)))
        .filter(|w| req.filter.matches(&w.record) && pair_matches(&w.record))
        .collect();
    sort_newest_first(&mut out);
    out
}

/// Default page size of `GET /waivers/` (ResultsDB's is 20).
pub const DEFAULT_WAIVER_LIMIT: i64 = 10;

/// A validated `GET /api/v1.0/waivers/` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiverListQuery {
    pub filter: WaiverFilter,
    pub include_obsolete: bool,
    /// 1-based.
    pub page: i64,
    pub limit: i64,
}

impl WaiverListQuery {
    /// Parses the decoded query pairs (first occurrence of each name counts; unknown names
    /// are ignored). Type errors first (pydantic), then `since`.
    pub fn parse(pairs: &[(String, String)]) -> Result<WaiverListQuery, WaiverError> {
        let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut errs = Vec::new();
        let page = int_param(first("page"), "page", 1, &mut errs);
        let limit = int_param(first("limit"), "limit", DEFAULT_WAIVER_LIMIT, &mut errs);
        let include_obsolete = match first("include_obsolete") {
            None => false,
            Some(v) => lax_bool_str(&v).unwrap_or_else(|| {
                errs.push(FieldError::new(
                    vec!["include_obsolete".into()],
                    "bool_parsing",
                    "Input should be a valid boolean, unable to interpret input",
                    &Value::String(v.clone()),
                ));
                false
            }),
        };
        if !errs.is_empty() {
            return Err(WaiverError::Validation(errs));
        }
        let since = match first("since") {
            Some(s) => Since::parse(&s)?,
            None => Since::default(),
        };
        let filter = WaiverFilter {
            subject_type: first("subject_type"),
            subject_identifier: first("subject_identifier"),
            testcase: first("testcase"),
            scenario: first("scenario"),
            product_version: first("product_version"),
            username: first("username"),
            proxied_by: first("proxied_by"),
            since,
        };
        Ok(WaiverListQuery { filter, include_obsolete, page, limit })
    }
}

fn int_param(raw: Option<String>, name: &str, default: i64, errs: &mut Vec<FieldError>) -> i64 {
    let Some(raw) = raw else { return default };
    raw.trim().parse::<i64>().unwrap_or_else(|_| {
        errs.push(FieldError::new(
            vec![name.into()],
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
            &Value::String(raw.clone()),
        ));
        default
    })
}

/// One page of `GET /waivers/`: rows plus the link targets (`None` = `null`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaiverPage<'a> {
    pub data: Vec<&'a WaiverView>,
    /// `None` for an out-of-range page: every link is then `null` too.
    pub links: Option<PageLinks>,
}

/// Page numbers for the links: `prev`/`next` absent when there is none; `last` is the
/// number of pages (0 when there are no rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLinks {
    pub prev: Option<i64>,
    pub next: Option<i64>,
    pub first: i64,
    pub last: i64,
}

/// `GET /waivers/`: obsolete waivers dropped (newest per subject, testcase, scenario,
/// username, product_version over all of `all`), then filtered, newest first, paginated as
/// flask-sqlalchemy does (page < 1, limit < 1, or an empty page past the first: out of range).
pub fn list_waivers<'a>(all: &'a [WaiverView], q: &WaiverListQuery) -> WaiverPage<'a> {
    let out_of_range = WaiverPage { data: Vec::new(), links: None };
    if q.page < 1 || q.limit < 1 {
        return out_of_range;
    }
    let current = (!q.include_obsolete).then(|| ObsoleteRule::List.current_ids(all));
    let mut rows: Vec<&WaiverView> = all
        .iter()
        .filter(|w| current.as_ref().is_none_or(|c| c.contains(&w.id)))
        .filter(|w| q.filter.matches(&w.record))
        .collect();
    sort_newest_first(&mut rows);
    let total = rows.len() as i64;
    let skip = usize::try_from((q.page - 1).saturating_mul(q.limit)).unwrap_or(usize::MAX);
    let take = usize::try_from(q.limit).unwrap_or(usize::MAX);
    let data: Vec<&WaiverView> = rows.into_iter().skip(skip).take(take).collect();
    if data.is_empty() && q.page != 1 {
        return out_of_range;
    }
    let pages = (total + q.limit - 1) / q.limit;
    let links = PageLinks {
        prev: (q.page > 1).then(|| q.page - 1),
        next: (q.page < pages).then(|| q.page + 1),
        first: 1,
        last: pages,
    };
    WaiverPage { data, links: Some(links) }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::stored;
    use super::*;
    use serde_json::json;

    #[test]
    fn since_ranges() {
        assert_eq!(Since::parse(",").unwrap(), Since::default());
        let s = Since::parse("2017-01-01,2017-01-02").unwrap();
        assert!(s.contains(Timestamp::from_parts((2017, 1, 2), (0, 0, 0), 0).unwrap().0));
        assert!(!s.contains(Timestamp::from_parts((2017, 1, 2), (0, 0, 0), 1).unwrap().0));
        assert_eq!(
            Since::parse("123"),
            Err(WaiverError::BadField { field: "since", message: "Invalid isoformat string: '123'".into() })
        );
    }

    fn ids(ws: &[&WaiverView]) -> Vec<i64> {
        ws.iter().map(|w| w.id).collect()
    }

    fn table() -> Vec<WaiverView> {
        vec![
            stored(1, 1, |_| {}),
            stored(2, 2, |r| r.username = "bob".into()),
            stored(3, 3, |r| r.product_version = "fedora-33".into()),
            stored(4, 4, |r| r.scenario = Some("s".into())),
            stored(5, 5, |r| r.testcase = "other".into()),
            stored(6, 6, |r| r.waived = false),
        ]
    }

    #[test]
    fn obsolete_rules_differ_between_list_and_filtered() {
        let all = table();
        let q = WaiverListQuery::parse(&[]).unwrap();
        // GET groups by username and product version too: 6 (alice, fedora-32) obsoletes 1.
        assert_eq!(ids(&list_waivers(&all, &q).data), vec![6, 5, 4, 3, 2]);
        // +filtered groups by subject, testcase and scenario: 6 is the newest of (t, no scenario).
        let f = |filters: Value| {
            let req = FilterRequest::parse(&json!({"filters": filters})).unwrap();
            ids(&filter_waivers(&all, &req))
        };
        assert_eq!(f(json!([{}])), vec![6, 5, 4]);
        // The newest of its group is for fedora-32; a filter for fedora-33 finds nothing there.
        assert_eq!(f(json!([{"product_version": "fedora-33", "testcase": "t"}])), Vec::<i64>::new());
        assert_eq!(f(json!([{"testcase": "other"}, {"scenario": "s"}])), vec![5, 4]);
        let req = FilterRequest::parse(&json!({"filters": [{"testcase": "t"}], "include_obsolete": true})).unwrap();
        assert_eq!(ids(&filter_waivers(&all, &req)), vec![6, 4, 3, 2, 1]);
        let req = FilterRequest::parse(
            &json!({"filters": [{"since": "2023-11-14T22:13:21,2023-11-14T22:13:23"}], "include_obsolete": true}),
        )
        .unwrap();
        assert_eq!(ids(&filter_waivers(&all, &req)), vec![3, 2, 1]);
    }

    #[test]
    fn newest_is_by_creation_time_not_local_id() {
        // A replicated waiver gets a later local id than a newer local one.
        let all = vec![stored(9, 7, |_| {}), stored(10, 5, |r| r.waived = false)];
        let req = FilterRequest::parse(&json!({"filters": [{}]})).unwrap();
        assert_eq!(ids(&filter_waivers(&all, &req)), vec![9]);
        // Same time: the uuid decides, the same way on every node.
        let tied = vec![stored(1, 7, |r| r.uuid = "b".into()), stored(2, 7, |r| r.uuid = "a".into())];
        assert_eq!(ids(&filter_waivers(&tied, &req)), vec![1]);
    }

    #[test]
    fn filtered_body_errors() {
        let kinds = |body: Value| match FilterRequest::parse(&body) {
            Err(WaiverError::Validation(e)) => e.into_iter().map(|e| (e.path(), e.kind)).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(kinds(json!({})), vec![("filters".into(), "missing")]);
        assert_eq!(kinds(json!({"filters": []})), vec![("filters".into(), "too_short")]);
        assert_eq!(
            kinds(json!({"filters": [1, {"testcase": 2}]})),
            vec![("filters.0".into(), "model_type"), ("filters.1.testcase".into(), "string_type")]
        );
        assert_eq!(kinds(json!([])), vec![("".into(), "model_type")]);
        assert!(matches!(
            FilterRequest::parse(&json!({"filters": [{"since": "x"}]})),
            Err(WaiverError::BadField { field: "since", .. })
        ));
    }

    #[test]
    fn by_subjects_and_testcases() {
        let all = table();
        let req = BySubjectsRequest::parse(&json!({"results": [
            {"subject": {"type": "brew-build", "item": "n-1-1"}, "testcase": "other"},
            {"subject": {"nonsense": "x"}, "testcase": "t"}]}))
        .unwrap();
        assert_eq!(ids(&waivers_by_subjects(&all, &req)), vec![5]);
        let req = BySubjectsRequest::parse(&json!({"product_version": "fedora-32"})).unwrap();
        assert_eq!(ids(&waivers_by_subjects(&all, &req)), vec![6, 5, 4, 2]);
        let Err(WaiverError::Validation(e)) = BySubjectsRequest::parse(&json!({"results": [{"testcase": "t"}, 3]}))
        else {
            panic!()
        };
        assert_eq!(e.iter().map(|e| e.path()).collect::<Vec<_>>(), vec!["results.0.subject", "results.1"]);
    }

    fn pairs(q: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }

    #[test]
    fn pagination_and_links() {
        let all: Vec<WaiverView> = (1..=25).map(|i| stored(i, i, |r| r.testcase = format!("t{i}"))).collect();
        let base = "http://h/api/v1.0/waivers/";
        let p = pairs("limit=10&page=2&testcase:like=x&since=2000-01-01T00:00:00,&limit=99");
        let q = WaiverListQuery::parse(&p).unwrap();
        let page = list_waivers(&all, &q);
        assert_eq!(ids(&page.data), (6..=15).rev().collect::<Vec<_>>());
        let j = serde_json::to_value(page.to_json(base, &p)).unwrap();
        assert_eq!(
            j["prev"],
            json!("http://h/api/v1.0/waivers/?page=1&limit=10&testcase:like=x&since=2000-01-01T00:00:00,")
        );
        assert_eq!(
            j["last"],
            json!("http://h/api/v1.0/waivers/?page=3&limit=10&testcase:like=x&since=2000-01-01T00:00:00,")
        );
        assert!(j["next"].as_str().unwrap().contains("page=3"));
        let keys: Vec<String> = serde_json::to_string(&page.to_json(base, &p))
            .unwrap()
            .split("\":")
            .map(|k| k.rsplit('"').next().unwrap().to_owned())
            .take(1)
            .collect();
        assert_eq!(keys, vec!["data"]);
        // Out of range: everything null.
        for bad in ["page=0", "page=4", "limit=0", "limit=-1"] {
            let q = WaiverListQuery::parse(&pairs(bad)).unwrap();
            let j = serde_json::to_value(list_waivers(&all, &q).to_json(base, &[])).unwrap();
            assert_eq!(j, json!({"data": [], "prev": null, "next": null, "first": null, "last": null}), "{bad}");
        }
        // No rows at all: page 1 is fine and `last` is page 0.
        let j =
            serde_json::to_value(list_waivers(&[], &WaiverListQuery::parse(&[]).unwrap()).to_json(base, &[])).unwrap();
        assert_eq!(j["last"], json!("http://h/api/v1.0/waivers/?page=0"));
        assert_eq!(j["first"], json!("http://h/api/v1.0/waivers/?page=1"));
        let e = WaiverListQuery::parse(&pairs("page=x&include_obsolete=maybe")).unwrap_err();
        let WaiverError::Validation(e) = e else { panic!() };
        assert_eq!(e.iter().map(|e| e.kind).collect::<Vec<_>>(), vec!["int_parsing", "bool_parsing"]);
        assert!(matches!(
            WaiverListQuery::parse(&pairs("since=nope")),
            Err(WaiverError::BadField { field: "since", .. })
        ));
    }
}
