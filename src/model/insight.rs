//! Insight's query parameters (`/api/verdict/v1/history`, `/flaky`, `/compare` and the
//! matching commands): parsed and checked; every error names the parameter, and an
//! unknown parameter is refused rather than ignored (it is probably a typo).

use super::ModelError;
use super::time::{Timestamp, parse_iso8601};

/// Which keys (testcase, scenario, arch) a question is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySelect {
    pub testcase: Option<String>,
    /// ResultsDB's pattern syntax: `*`/`%` any text, `_` one character.
    pub testcases_like: Option<String>,
    pub scenario: Option<String>,
    pub arch: Option<String>,
}

/// `GET /api/verdict/v1/history`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryQuery {
    pub keys: KeySelect,
    pub item: Option<String>,
    pub item_type: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Rows listed per key (the statistics cover every result of the key in range).
    pub limit: usize,
    /// Answer as this node would have at that instant.
    pub when: Option<Timestamp>,
}

/// `GET /api/verdict/v1/flaky`.
#[derive(Debug, Clone, PartialEq)]
pub struct FlakyQuery {
    pub keys: KeySelect,
    pub item: Option<String>,
    pub item_type: Option<String>,
    /// Start of the window; default [`FlakyQuery::DEFAULT_WINDOW_DAYS`] days before `when`
    /// (or now).
    pub since: Option<Timestamp>,
    pub when: Option<Timestamp>,
    pub min_runs: usize,
    pub flip_rate: f64,
    pub breakage_run: usize,
    pub clear_after: usize,
}

impl FlakyQuery {
    pub const DEFAULT_WINDOW_DAYS: i64 = 14;
}

/// Rows per key a history lists unless `limit` says otherwise, and the most it may ask.
pub const HISTORY_LIMIT: usize = 100;
pub const HISTORY_MAX_LIMIT: usize = 1000;

fn bad(msg: String) -> ModelError {
    ModelError::BadRequest(msg)
}

/// The parameters, each name at most once, none outside `known`.
struct Params<'a> {
    pairs: &'a [(String, String)],
}

impl<'a> Params<'a> {
    fn new(pairs: &'a [(String, String)], known: &[&str]) -> Result<Params<'a>, ModelError> {
        for (k, _) in pairs {
            if !known.contains(&k.as_str()) {
                return Err(bad(format!("unknown parameter {k:?} (known: {})", known.join(", "))));
            }
            if pairs.iter().filter(|(other, _)| other == k).count() > 1 {
                return Err(bad(format!("parameter {k:?} is given more than once")));
            }
        }
        Ok(Params { pairs })
    }

    /// A non-empty text value.
    fn text(&self, name: &str) -> Result<Option<String>, ModelError> {
        match self.pairs.iter().find(|(k, _)| k == name) {
            None => Ok(None),
            Some((_, v)) if v.trim().is_empty() => Err(bad(format!("parameter {name:?} is empty"))),
            Some((_, v)) => Ok(Some(v.clone())),
        }
    }

    fn time(&self, name: &str) -> Result<Option<Timestamp>, ModelError> {
        self.text(name)?
            .map(|v| {
                parse_iso8601(&v).ok_or_else(|| {
                    bad(format!(
                        "parameter {name:?}: {v:?} is not an ISO 8601 time (e.g. 2026-11-20 or 2026-11-20T10:00:00Z)"
                    ))
                })
            })
            .transpose()
    }

    fn count(&self, name: &str, default: usize, min: usize, max: usize) -> Result<usize, ModelError> {
        match self.text(name)? {
            None => Ok(default),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(bad(format!("parameter {name:?} must be an integer from {min} to {max}, not {v:?}"))),
            },
        }
    }

    fn fraction(&self, name: &str, default: f64) -> Result<f64, ModelError> {
        match self.text(name)? {
            None => Ok(default),
            Some(v) => match v.trim().parse::<f64>() {
                Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
                _ => Err(bad(format!("parameter {name:?} must be a number from 0 to 1, not {v:?}"))),
            },
        }
    }

    fn keys(&self) -> Result<KeySelect, ModelError> {
        Ok(KeySelect {
            testcase: self.text("testcase")?,
            testcases_like: self.text("testcases:like")?,
            scenario: self.text("scenario")?,
            arch: self.text("arch")?,
        })
    }
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// The results of a group.
    Group(String),
    /// The results of an item (subject), of one type when given.
    Item { item: String, item_type: Option<String> },
    /// `base=last_good`: the newest earlier item of the head's type and package name whose
    /// keys all passed.
    LastGood,
}

/// `GET /api/verdict/v1/compare`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareQuery {
    pub base: Side,
    pub head: Side,
    pub keys: KeySelect,
    pub when: Option<Timestamp>,
}

impl CompareQuery {
    pub const PARAMS: &'static [&'static str] = &[
        "base",
        "head",
        "base_item",
        "base_type",
        "head_item",
        "head_type",
        "testcase",
        "testcases:like",
        "scenario",
        "arch",
        "when",
    ];

    pub fn parse(pairs: &[(String, String)]) -> Result<CompareQuery, ModelError> {
        let p = Params::new(pairs, Self::PARAMS)?;
        let base = side(&p, "base")?;
        let head = side(&p, "head")?;
        if head == Side::LastGood {
            return Err(bad("parameter \"head\": last_good is for the base side".into()));
        }
        if base == Side::LastGood && !matches!(head, Side::Item { .. }) {
            return Err(bad("parameter \"base\": last_good needs the head as an item (head_item, head_type)".into()));
        }
        Ok(CompareQuery { base, head, keys: p.keys()?, when: p.time("when")? })
    }
}

/// A side from `NAME` (a group uuid or `last_good`) or `NAME_item` (+ `NAME_type`).
fn side(p: &Params, name: &str) -> Result<Side, ModelError> {
    let (group, item, item_type) = (p.text(name)?, p.text(&format!("{name}_item"))?, p.text(&format!("{name}_type"))?);
    match (group, item) {
        (Some(_), Some(_)) => Err(bad(format!("parameters \"{name}\" and \"{name}_item\": give one of them"))),
        (Some(g), None) if item_type.is_some() => {
            Err(bad(format!("parameter \"{name}_type\" goes with \"{name}_item\", not a group ({g:?})")))
        }
        (Some(g), None) if g == "last_good" => Ok(Side::LastGood),
        (Some(g), None) => Ok(Side::Group(g)),
        (None, Some(item)) => Ok(Side::Item { item, item_type }),
        (None, None) => Err(bad(format!("parameter \"{name}\" (a group uuid) or \"{name}_item\" is required"))),
    }
}

/// `GET /api/verdict/v1/results/{id}/similar`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarQuery {
    pub limit: usize,
    pub when: Option<Timestamp>,
}

impl SimilarQuery {
    pub const PARAMS: &'static [&'static str] = &["limit", "when"];

    pub fn parse(pairs: &[(String, String)]) -> Result<SimilarQuery, ModelError> {
        let p = Params::new(pairs, Self::PARAMS)?;
        Ok(SimilarQuery { limit: p.count("limit", HISTORY_LIMIT, 1, HISTORY_MAX_LIMIT)?, when: p.time("when")? })
    }
}

impl HistoryQuery {
    pub const PARAMS: &'static [&'static str] =
        &["testcase", "testcases:like", "item", "type", "scenario", "arch", "since", "until", "limit", "when"];

    pub fn parse(pairs: &[(String, String)]) -> Result<HistoryQuery, ModelError> {
        let p = Params::new(pairs, Self::PARAMS)?;
        let keys = p.keys()?;
        if keys.testcase.is_none() && keys.testcases_like.is_none() {
            return Err(bad("parameter \"testcase\" (or \"testcases:like\") is required".into()));
        }
        let (since, until) = (p.time("since")?, p.time("until")?);
        if let (Some(s), Some(u)) = (since, until)
            && s > u
        {
            return Err(bad("parameter \"since\" is after \"until\"".into()));
        }
        Ok(HistoryQuery {
            keys,
            item: p.text("item")?,
            item_type: p.text("type")?,
            since,
            until,
            limit: p.count("limit", HISTORY_LIMIT, 1, HISTORY_MAX_LIMIT)?,
            when: p.time("when")?,
        })
    }
}

impl FlakyQuery {
    pub const PARAMS: &'static [&'static str] = &[
        "testcase",
        "testcases:like",
        "item",
        "type",
        "scenario",
        "arch",
        "since",
        "when",
        "min_runs",
        "flip_rate",
        "breakage_run",
        "clear_after",
    ];

    pub fn parse(pairs: &[(String, String)]) -> Result<FlakyQuery, ModelError> {
        let p = Params::new(pairs, Self::PARAMS)?;
        Ok(FlakyQuery {
            keys: p.keys()?,
            item: p.text("item")?,
            item_type: p.text("type")?,
            since: p.time("since")?,
            when: p.time("when")?,
            min_runs: p.count("min_runs", 5, 2, 1_000_000)?,
            flip_rate: p.fraction("flip_rate", 0.2)?,
            breakage_run: p.count("breakage_run", 3, 2, 1000)?,
            clear_after: p.count("clear_after", 5, 1, 1000)?,
        })
    }

    /// The window's start: `since`, or the default window's before `when` (or `now`).
    pub fn window_start(&self, now: Timestamp) -> Timestamp {
        self.since.unwrap_or_else(|| default_window_start(self.when.unwrap_or(now)))
    }
}

/// The start of the default flaky window ending at `end`
/// ([`FlakyQuery::DEFAULT_WINDOW_DAYS`] days before it).
pub fn default_window_start(end: Timestamp) -> Timestamp {
    Timestamp(end.0 - FlakyQuery::DEFAULT_WINDOW_DAYS * 86_400 * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        q.split('&')
            .filter(|s| !s.is_empty())
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.into(), v.into()))
            .collect()
    }

    #[test]
    fn history_parameters() {
        let q = HistoryQuery::parse(&pairs("testcase=t&item=i&limit=5&since=2026-11-01")).unwrap();
        assert_eq!((q.keys.testcase.as_deref(), q.item.as_deref(), q.limit), (Some("t"), Some("i"), 5));
        assert!(q.since.is_some());
        for (query, names) in [
            ("item=i", "testcase"),
            ("testcase=t&limit=0", "limit"),
            ("testcase=t&limit=1001", "limit"),
            ("testcase=t&since=yesterday", "since"),
            ("testcase=t&bogus=1", "bogus"),
            ("testcase=t&testcase=u", "testcase"),
            ("testcase=", "testcase"),
            ("testcase=t&since=2026-11-02&until=2026-11-01", "since"),
        ] {
            let e = HistoryQuery::parse(&pairs(query)).unwrap_err().to_string();
            assert!(e.contains(names), "{query}: {e}");
        }
    }

    #[test]
    fn compare_sides() {
        let q = CompareQuery::parse(&pairs("base=last_good&head_item=foo-1-2&head_type=koji_build")).unwrap();
        assert_eq!(q.base, Side::LastGood);
        assert_eq!(q.head, Side::Item { item: "foo-1-2".into(), item_type: Some("koji_build".into()) });
        let q = CompareQuery::parse(&pairs("base=g1&head=g2")).unwrap();
        assert_eq!((q.base, q.head), (Side::Group("g1".into()), Side::Group("g2".into())));
        for (query, name) in [
            ("head=g", "base"),
            ("base=g", "head"),
            ("base=g&base_item=i&head=h", "base_item"),
            ("base=g&base_type=t&head=h", "base_type"),
            ("base=g&head=last_good", "head"),
            ("base=last_good&head=g", "base"),
        ] {
            let e = CompareQuery::parse(&pairs(query)).unwrap_err().to_string();
            assert!(e.contains(name), "{query}: {e}");
        }
    }

    #[test]
    fn flaky_parameters_and_window() {
        let q = FlakyQuery::parse(&pairs("")).unwrap();
        assert_eq!((q.min_runs, q.flip_rate, q.breakage_run, q.clear_after), (5, 0.2, 3, 5));
        assert_eq!(q.window_start(Timestamp(15 * 86_400 * 1_000_000)), Timestamp(86_400 * 1_000_000));
        for (query, name) in [("flip_rate=2", "flip_rate"), ("min_runs=x", "min_runs"), ("when=soon", "when")] {
            let e = FlakyQuery::parse(&pairs(query)).unwrap_err().to_string();
            assert!(e.contains(name), "{query}: {e}");
        }
    }
}
