//! Query parameters of the documented operations, as the parsers in `model` (and the
//! handlers that read their own) accept them. Like `schemas`, these types exist only for
//! the document; the parsers stay the one place that reads a query.
#![allow(dead_code)] // never constructed: only their derived parameter lists are used

use serde::Deserialize;
use utoipa::IntoParams;

/// `GET` results lists (`/results`, `/results/latest`, a testcase's and a group's
/// results). Every other parameter is an extra-data filter, as upstream: `KEY=v1,v2`
/// (equal to one of them), `KEY:like=pat*` (a pattern); repeats are merged.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultParams {
    /// Page number, from 0.
    pub page: Option<i64>,
    /// Results per page (default 20; at most the server's `--max-limit`).
    #[param(minimum = 0)]
    pub limit: Option<i64>,
    /// `asc:submit_time` for oldest first (default newest first).
    pub _sort: Option<String>,
    /// `START` or `START,END`, ISO 8601.
    pub since: Option<String>,
    /// Comma list of outcomes.
    pub outcome: Option<String>,
    /// Comma list of group uuids.
    pub groups: Option<String>,
    /// Comma list of testcase names.
    pub testcases: Option<String>,
    /// Comma list of testcase name patterns (`*` any text).
    #[serde(rename = "testcases:like")]
    pub testcases_like: Option<String>,
    /// Comma list of fields (`testcase`, `data.KEY`) to keep only the newest result of
    /// each distinct value (`/results/latest`; needs another filter).
    pub _distinct_on: Option<String>,
    /// Comma list of result uuids.
    pub _uuid: Option<String>,
}

/// `GET /api/v2.0/testcases`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TestcaseParams {
    pub page: Option<i64>,
    #[param(minimum = 0)]
    pub limit: Option<i64>,
    /// Comma list of exact names (wins over `name:like`).
    pub name: Option<String>,
    /// Comma list of name patterns.
    #[serde(rename = "name:like")]
    pub name_like: Option<String>,
}

/// `GET /api/v2.0/groups`, newest first.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupParams {
    pub page: Option<i64>,
    #[param(minimum = 0)]
    pub limit: Option<i64>,
    /// Comma list of uuids.
    pub uuid: Option<String>,
    /// Exact description (wins over `description:like`).
    pub description: Option<String>,
    #[serde(rename = "description:like")]
    pub description_like: Option<String>,
}

/// `GET /api/v2.0/events`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Comma list of testcase names.
    pub testcases: Option<String>,
    /// Comma list of items.
    pub item: Option<String>,
    /// Comma list of outcomes.
    pub outcome: Option<String>,
    /// `1` or `true`: only results that change their key's outcome.
    pub changes_only: Option<String>,
    /// Resume after this log position (as the `Last-Event-ID` header; not an integer:
    /// from now).
    pub last_event_id: Option<String>,
}

/// `GET /api/v1.0/waivers/`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaiverParams {
    /// Page number, from 1.
    pub page: Option<i64>,
    pub limit: Option<i64>,
    pub subject_type: Option<String>,
    pub subject_identifier: Option<String>,
    pub testcase: Option<String>,
    pub scenario: Option<String>,
    pub product_version: Option<String>,
    pub username: Option<String>,
    pub proxied_by: Option<String>,
    /// `START[,END]`, Python's `fromisoformat`.
    pub since: Option<String>,
    /// `true` lists waivers a newer one replaced.
    pub include_obsolete: Option<bool>,
}

/// `GET /api/verdict/v1/quarantines`; any other parameter is refused.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuarantineParams {
    /// Rules whose glob matches this testcase (or is this glob).
    pub testcase: Option<String>,
    /// Only standing (`true`) or only revoked or expired (`false`) rules.
    pub active: Option<bool>,
    /// Judge at this instant, with the rules known then (ISO 8601).
    pub when: Option<String>,
}

/// `GET /api/verdict/v1/history`; unknown or repeated parameters are refused.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// The testcase (this or `testcases:like` is required).
    #[param(example = "dist.rpmdeplint", min_length = 1)]
    pub testcase: Option<String>,
    #[serde(rename = "testcases:like")]
    #[param(min_length = 1)]
    pub testcases_like: Option<String>,
    #[param(min_length = 1)]
    pub item: Option<String>,
    #[serde(rename = "type")]
    #[param(min_length = 1)]
    pub item_type: Option<String>,
    #[param(min_length = 1)]
    pub scenario: Option<String>,
    #[param(min_length = 1)]
    pub arch: Option<String>,
    /// ISO 8601.
    #[param(min_length = 1)]
    pub since: Option<String>,
    #[param(min_length = 1)]
    pub until: Option<String>,
    /// Results listed per key, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Answer as this node would have at that instant.
    #[param(min_length = 1)]
    pub when: Option<String>,
}

/// `GET /api/verdict/v1/flaky`; unknown or repeated parameters are refused.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FlakyParams {
    #[param(min_length = 1)]
    pub testcase: Option<String>,
    #[serde(rename = "testcases:like")]
    #[param(min_length = 1)]
    pub testcases_like: Option<String>,
    #[param(min_length = 1)]
    pub item: Option<String>,
    #[serde(rename = "type")]
    #[param(min_length = 1)]
    pub item_type: Option<String>,
    #[param(min_length = 1)]
    pub scenario: Option<String>,
    #[param(min_length = 1)]
    pub arch: Option<String>,
    /// Window start (default 14 days before `when`).
    #[param(min_length = 1)]
    pub since: Option<String>,
    #[param(min_length = 1)]
    pub when: Option<String>,
    #[param(minimum = 2, maximum = 1000000)]
    pub min_runs: Option<u32>,
    /// 0 to 1.
    #[param(minimum = 0, maximum = 1)]
    pub flip_rate: Option<f64>,
    #[param(minimum = 2, maximum = 1000)]
    pub breakage_run: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub clear_after: Option<u32>,
}

/// `GET /api/verdict/v1/compare`: each side is a group (`base`, `head`) or an item
/// (`base_item` + `base_type`, ...); `base=last_good` finds the newest earlier good item.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompareParams {
    #[param(example = "last_good", min_length = 1)]
    pub base: Option<String>,
    #[param(min_length = 1)]
    pub head: Option<String>,
    #[param(min_length = 1)]
    pub base_item: Option<String>,
    #[param(min_length = 1)]
    pub base_type: Option<String>,
    #[param(example = "pkg-1.4-1.fc40", min_length = 1)]
    pub head_item: Option<String>,
    #[param(example = "koji_build", min_length = 1)]
    pub head_type: Option<String>,
    #[param(min_length = 1)]
    pub testcase: Option<String>,
    #[serde(rename = "testcases:like")]
    #[param(min_length = 1)]
    pub testcases_like: Option<String>,
    #[param(min_length = 1)]
    pub scenario: Option<String>,
    #[param(min_length = 1)]
    pub arch: Option<String>,
    #[param(min_length = 1)]
    pub when: Option<String>,
}

/// `GET /api/verdict/v1/results/{id}/similar`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SimilarParams {
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    #[param(min_length = 1)]
    pub when: Option<String>,
}

/// `GET /api/verdict/v1/changes`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesParams {
    /// The caller's version vector: `ORIGIN:SEQ,...`.
    pub since: Option<String>,
    /// Entries at most, 0 to 200000 (default 10000; 0 is read as 1).
    #[param(minimum = 0, maximum = 200000)]
    pub limit: Option<u64>,
    /// Seconds to wait for news when the caller lacks nothing, 0 to 30.
    #[param(minimum = 0, maximum = 30)]
    pub wait: Option<u64>,
    /// Bytes at most before compression (at least one entry is sent).
    pub max_bytes: Option<u64>,
}

/// `GET /api/verdict/v1/hashes`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HashesParams {
    /// A node id.
    pub origin: String,
    /// Comma list of sequence numbers, at most 1000.
    pub seqs: Option<String>,
}

/// `POST /api/verdict/v1/ingest`: how to read the file, and the context its results get
/// when they name none (`data.KEY=VALUE`, repeatable, adds extra data).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestParams {
    /// The file name, for format detection.
    #[param(example = "results.tap")]
    pub name: Option<String>,
    /// A format name instead of detection.
    pub format: Option<String>,
    pub item: Option<String>,
    #[serde(rename = "type")]
    pub item_type: Option<String>,
    pub arch: Option<String>,
    pub scenario: Option<String>,
}
