//! Query parameters of the list endpoints, parsed with ResultsDB's exact rules.
//!
//! Input is the decoded query string as ordered (name, value) pairs; repeats matter.

use super::Outcomes;
use super::error::{FieldError, ModelError};
use super::time::{Timestamp, parse_iso8601};
use serde_json::Value;

/// Default page size, as upstream.
pub const DEFAULT_LIMIT: i64 = 20;

/// `page` (zero-based) and `limit` of a list request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListParams {
    pub page: i64,
    pub limit: i64,
}

impl ListParams {
    /// Rows to skip: `page * limit` for a positive page, else none.
    pub fn offset(&self) -> i64 {
        if self.page > 0 { self.page.saturating_mul(self.limit) } else { 0 }
    }

    fn parse(pairs: &[(String, String)], max_limit: i64) -> Result<Self, ModelError> {
        let mut errs = Vec::new();
        let page = int_param(pairs, "page", 0, &mut errs);
        let limit = int_param(pairs, "limit", DEFAULT_LIMIT, &mut errs);
        // Upstream has no maximum; an unbounded page is a denial of service, so we refuse
        // (not clamp: clamping would make the textual `next` link skip rows).
        if limit > max_limit {
            errs.push(FieldError::new(
                vec!["limit".into()],
                "less_than_equal",
                format!("Input should be less than or equal to {max_limit}"),
                &Value::from(limit),
            ));
        } else if limit < 0 {
            errs.push(FieldError::new(
                vec!["limit".into()],
                "greater_than_equal",
                "Input should be greater than or equal to 0",
                &Value::from(limit),
            ));
        }
        if errs.is_empty() { Ok(ListParams { page, limit }) } else { Err(ModelError::Validation(errs)) }
    }
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn int_param(pairs: &[(String, String)], name: &str, default: i64, errs: &mut Vec<FieldError>) -> i64 {
    let Some(raw) = first(pairs, name) else {
        return default;
    };
    match raw.trim().parse::<i64>() {
        Ok(v) => v,
        Err(_) => {
            errs.push(FieldError::new(
                vec![name.into()],
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
                &Value::String(raw.to_owned()),
            ));
            default
        }
    }
}

/// Comma-list parameter: its first occurrence split on `,`, items trimmed, empty items
/// dropped. Upstream reads reserved parameters with `args.get`, so a repeat
/// (`?outcome=A&outcome=B`) is ignored; only data filters merge repeats.
fn comma_list(pairs: &[(String, String)], name: &str) -> Vec<String> {
    first(pairs, name)
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One extra-data constraint: the result has `key` with a value equal to (or, with `like`,
/// matching) any of `values`. Different filters are ANDed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFilter {
    pub key: String,
    pub like: bool,
    pub values: Vec<String>,
}

/// Filters of `GET /results`, `/results/latest` and the nested `…/results` lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResultQuery {
    pub page: i64,
    pub limit: i64,
    /// Only `_sort=asc:submit_time` sorts ascending; everything else is newest first.
    pub ascending: bool,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub outcomes: Vec<String>,
    pub groups: Vec<String>,
    pub testcases: Vec<String>,
    pub testcases_like: Vec<String>,
    pub distinct_on: Vec<String>,
    pub data: Vec<DataFilter>,
    /// `_uuid=`: results with these global uuids (verdict extension; a reserved name, so
    /// a data key `uuid` stays filterable as upstream).
    pub uuids: Vec<String>,
    /// Only results stored here at or before this log position (internal: decisions
    /// `when` something was decided; never parsed from a request).
    pub max_id: Option<i64>,
}

const RESERVED: [&str; 10] =
    ["page", "limit", "_sort", "since", "outcome", "groups", "testcases", "testcases:like", "_distinct_on", "_uuid"];

impl ResultQuery {
    /// Parses the query pairs; every non-reserved parameter is a data filter (upstream).
    pub fn parse(pairs: &[(String, String)], outcomes: &Outcomes, max_limit: i64) -> Result<Self, ModelError> {
        let list = ListParams::parse(pairs, max_limit);
        let mut errs = match &list {
            Err(ModelError::Validation(e)) => e.clone(),
            _ => Vec::new(),
        };
        let (since, until) = parse_since(first(pairs, "since"), &mut errs);
        let outcome_list: Vec<String> = comma_list(pairs, "outcome").iter().map(|o| o.to_uppercase()).collect();
        if outcome_list.iter().any(|o| !outcomes.contains(o)) {
            errs.push(FieldError::value_error(
                vec!["outcome".into()],
                &outcomes.must_be_one_of(),
                &Value::Array(outcome_list.iter().cloned().map(Value::String).collect()),
            ));
        }
        if !errs.is_empty() {
            return Err(ModelError::Validation(errs));
        }
        let list = list?;
        Ok(ResultQuery {
            page: list.page,
            limit: list.limit,
            ascending: first(pairs, "_sort") == Some("asc:submit_time"),
            since,
            until,
            outcomes: outcome_list,
            groups: comma_list(pairs, "groups"),
            testcases: comma_list(pairs, "testcases"),
            testcases_like: comma_list(pairs, "testcases:like"),
            distinct_on: comma_list(pairs, "_distinct_on"),
            data: data_filters(pairs),
            uuids: comma_list(pairs, "_uuid"),
            max_id: None,
        })
    }

    /// Rows to skip for this page.
    pub fn offset(&self) -> i64 {
        ListParams { page: self.page, limit: self.limit }.offset()
    }

    /// Whether an exact filter (a data value, testcases, a group) narrows the query, so
    /// the store answers from small index ranges. (Testcase patterns resolve against the
    /// small testcase table first, so they count.)
    pub fn is_anchored(&self) -> bool {
        !self.testcases.is_empty()
            || !self.testcases_like.is_empty()
            || !self.groups.is_empty()
            || self.data.iter().any(|f| !f.like)
            || !self.uuids.is_empty()
    }

    /// `_distinct_on` needs at least one other filter (upstream refuses a full-table scan).
    pub fn has_filter_besides_distinct(&self) -> bool {
        !self.testcases.is_empty()
            || !self.testcases_like.is_empty()
            || self.since.is_some()
            || self.until.is_some()
            || !self.groups.is_empty()
            || !self.data.is_empty()
            || !self.uuids.is_empty()
    }
}

/// `since=START[,END]` in the iso8601 grammar; zones are discarded (upstream quirk).
fn parse_since(raw: Option<&str>, errs: &mut Vec<FieldError>) -> (Option<Timestamp>, Option<Timestamp>) {
    let Some(raw) = raw else { return (None, None) };
    let mut parts = raw.split(',');
    let start = parts.next().and_then(parse_iso8601);
    let end = parts.next().map(parse_iso8601);
    match (start, end) {
        (Some(s), None) => (Some(s), None),
        (Some(s), Some(Some(e))) => (Some(s), Some(e)),
        _ => {
            errs.push(FieldError::value_error(
                vec!["since".into()],
                "must be in ISO8601 format",
                &Value::String(raw.to_owned()),
            ));
            (None, None)
        }
    }
}

/// Data filters from the non-reserved parameters, merged per parameter name in order of
/// first appearance: `k=a&k=b` is `k=a,b`. `key:like` matches patterns; any other
/// modifier is ignored and a name with two or more `:` is taken literally.
fn data_filters(pairs: &[(String, String)]) -> Vec<DataFilter> {
    let mut names: Vec<&str> = Vec::new();
    for (k, _) in pairs {
        if !RESERVED.contains(&k.as_str()) && !names.contains(&k.as_str()) {
            names.push(k);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let values: Vec<String> =
                pairs.iter().filter(|(k, _)| k == name).flat_map(|(_, v)| v.split(',')).map(str::to_owned).collect();
            let mut parts = name.split(':');
            let (key, like) = match (parts.next(), parts.next(), parts.next()) {
                (Some(k), Some(modifier), None) => (k.to_owned(), modifier == "like"),
                _ => (name.to_owned(), false),
            };
            DataFilter { key, like, values }
        })
        .collect()
}

/// Filters of `GET /testcases`: `name` (exact, OR) wins over `name:like`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestcaseQuery {
    pub list: ListParams,
    pub names: Vec<String>,
    pub name_like: Vec<String>,
}

impl TestcaseQuery {
    pub fn parse(pairs: &[(String, String)], max_limit: i64) -> Result<Self, ModelError> {
        let list = ListParams::parse(pairs, max_limit)?;
        let names = comma_list(pairs, "name");
        let name_like = if first(pairs, "name").is_some_and(|s| !s.is_empty()) {
            Vec::new()
        } else {
            comma_list(pairs, "name:like")
        };
        Ok(TestcaseQuery { list, names, name_like })
    }
}

/// Filters of `GET /groups`: `description` (exact) wins over `description:like`; `uuid`
/// (exact list) is ANDed with them. Newest group first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupQuery {
    pub list: ListParams,
    pub uuids: Vec<String>,
    pub descriptions: Vec<String>,
    pub description_like: Vec<String>,
}

impl GroupQuery {
    pub fn parse(pairs: &[(String, String)], max_limit: i64) -> Result<Self, ModelError> {
        let list = ListParams::parse(pairs, max_limit)?;
        // Upstream skips blank items but compares the untrimmed text.
        let split_keep = |name: &str| -> Vec<String> {
            first(pairs, name)
                .map(|v| v.split(',').filter(|s| !s.trim().is_empty()).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let descriptions = split_keep("description");
        let description_like = if first(pairs, "description").is_some_and(|s| !s.is_empty()) {
            Vec::new()
        } else {
            split_keep("description:like")
        };
        let uuids = first(pairs, "uuid")
            .filter(|s| !s.is_empty())
            .map(|v| v.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        Ok(GroupQuery { list, uuids, descriptions, description_like })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }

    #[test]
    fn data_filters_follow_upstream() {
        let q = ResultQuery::parse(
            &pairs("item=a&k:like=x*&item=b,c&a:b:c=1&key:foo=z&callback=f"),
            &Outcomes::default_set(),
            1000,
        )
        .unwrap();
        let got: Vec<(&str, bool, Vec<&str>)> =
            q.data.iter().map(|f| (f.key.as_str(), f.like, f.values.iter().map(String::as_str).collect())).collect();
        assert_eq!(
            got,
            vec![
                ("item", false, vec!["a", "b", "c"]),
                ("k", true, vec!["x*"]),
                ("a:b:c", false, vec!["1"]),
                ("key", false, vec!["z"]),
                ("callback", false, vec!["f"]),
            ]
        );
    }

    #[test]
    fn reserved_lists_and_errors() {
        let q = ResultQuery::parse(
            &pairs("outcome=passed,%20failed,&testcases=a,,b&since=2016-08-15,2016-08-16T00:00"),
            &Outcomes::default_set(),
            1000,
        )
        .unwrap();
        assert_eq!(q.outcomes, vec!["PASSED", "FAILED"]);
        assert_eq!(q.testcases, vec!["a", "b"]);
        assert!(q.since.is_some() && q.until.is_some());
        let Err(ModelError::Validation(e)) =
            ResultQuery::parse(&pairs("limit=x&since=bad&outcome=nope"), &Outcomes::default_set(), 1000)
        else {
            panic!()
        };
        let kinds: Vec<&str> = e.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec!["int_parsing", "value_error", "value_error"]);
        assert!(ResultQuery::parse(&pairs("limit=1001"), &Outcomes::default_set(), 1000).is_err());
    }

    #[test]
    fn repeated_reserved_parameters_use_the_first_occurrence() {
        let q = ResultQuery::parse(
            &pairs("testcases=a&testcases=b&outcome=passed&outcome=nope&item=x&item=y"),
            &Outcomes::default_set(),
            1000,
        )
        .unwrap();
        assert_eq!(q.testcases, vec!["a"]);
        assert_eq!(q.outcomes, vec!["PASSED"]);
        assert_eq!(q.data[0].values, vec!["x", "y"]);
    }
}
