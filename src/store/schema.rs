//! The store's SQL schema: the log (source of truth) and the derived index tables.

/// Bumped when the layout changes; stored in `meta.schema_version`.
pub const SCHEMA_VERSION: &str = "6";

/// Creates every table, index and trigger (idempotent).
///
/// Layout choices (they keep the store under 2x the JSON it came from):
/// * `log.body` holds the canonical JSON of each write (zstd-compressed with a dictionary
///   from `dicts` when `enc` names one, see `codec.rs`); result rows are rendered from it,
///   so `results` stores only what queries filter and sort on.
/// * extra data is interned (`data_keys`, `data_values`) and indexed as `(key, value,
///   submit_time, result) → testcase` postings in a WITHOUT ROWID table: an item's newest
///   results, or its newest per testcase, come off one index range in time order without
///   touching `results`.
/// * a result's id is the log seq of its entry: rendering reads one log row.
/// * LWW fields (testcase `ref_url`, group `description`/`ref_url`) carry the stamp
///   `(ts, origin, origin_seq)` of the entry that set them, so merges are order-independent.
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS origins(
    id INTEGER PRIMARY KEY,
    node TEXT NOT NULL UNIQUE,
    head_seq INTEGER NOT NULL DEFAULT 0,
    head_hash BLOB NOT NULL DEFAULT (zeroblob(32)),
    head_ts INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS log(
    seq INTEGER PRIMARY KEY,
    origin_id INTEGER NOT NULL,
    origin_seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ts INTEGER NOT NULL,
    enc INTEGER NOT NULL DEFAULT 0,
    body BLOB NOT NULL,
    hash BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS dicts(
    id INTEGER PRIMARY KEY,
    dict BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS log_origin ON log(origin_id, origin_seq);

CREATE TRIGGER IF NOT EXISTS log_no_update BEFORE UPDATE ON log
BEGIN SELECT RAISE(ABORT, 'the log is append-only: UPDATE refused'); END;
-- Pruned stretches of origins' chains (new in schema 5; `verdict prune`, `model::horizon`):
-- positions from_seq..=to_seq of the origin are gone, `hash` is the chain hash at to_seq.
-- `horizon` is the log position of the horizon entry that declared the stretch (NULL while
-- only a peer's stream or a replayed store announced it: its horizon entry comes later).
CREATE TABLE IF NOT EXISTS pruned(
    origin_id INTEGER NOT NULL,
    from_seq INTEGER NOT NULL,
    to_seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    horizon INTEGER,
    PRIMARY KEY(origin_id, from_seq)
) WITHOUT ROWID;

-- Entries are never deleted, but for those a horizon pruned.
DROP TRIGGER IF EXISTS log_no_delete;
CREATE TRIGGER IF NOT EXISTS log_delete_only_pruned BEFORE DELETE ON log
WHEN coalesce((SELECT to_seq FROM pruned WHERE origin_id = OLD.origin_id AND from_seq <= OLD.origin_seq
               ORDER BY from_seq DESC LIMIT 1), 0) < OLD.origin_seq
BEGIN SELECT RAISE(ABORT, 'the log is append-only: DELETE refused (only entries a horizon pruned go)'); END;

CREATE TABLE IF NOT EXISTS testcase(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    ref_url TEXT,
    ref_url_ts INTEGER NOT NULL DEFAULT -9223372036854775808,
    ref_url_origin TEXT NOT NULL DEFAULT '',
    ref_url_oseq INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS grp(
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    description TEXT,
    description_ts INTEGER NOT NULL DEFAULT -9223372036854775808,
    description_origin TEXT NOT NULL DEFAULT '',
    description_oseq INTEGER NOT NULL DEFAULT 0,
    ref_url TEXT,
    ref_url_ts INTEGER NOT NULL DEFAULT -9223372036854775808,
    ref_url_origin TEXT NOT NULL DEFAULT '',
    ref_url_oseq INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS results(
    id INTEGER PRIMARY KEY, -- the log seq of the result's entry
    testcase_id INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    submit_time INTEGER NOT NULL,
    -- The result's (key id, value id) pairs as varints: `_distinct_on` groups by them
    -- without decoding the log body.
    facets BLOB NOT NULL DEFAULT x''
);
CREATE INDEX IF NOT EXISTS results_time ON results(submit_time);
CREATE INDEX IF NOT EXISTS results_testcase_time ON results(testcase_id, submit_time);

-- A uuid names one result, except when two origins stored different results under it:
-- then both are listed (and the uuid is in `uuid_conflicts`).
CREATE TABLE IF NOT EXISTS result_uuids(
    uuid BLOB NOT NULL,
    result_id INTEGER NOT NULL,
    PRIMARY KEY(uuid, result_id)
) WITHOUT ROWID;
-- When each transaction committed here (its last log position): what this node had
-- stored by an instant, for decisions `when` (replicated entries count from their arrival).
-- Local knowledge, not derived from the log (`replay` copies it).
CREATE TABLE IF NOT EXISTS commit_times(
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS commit_times_at ON commit_times(at);
CREATE TABLE IF NOT EXISTS uuid_conflicts(
    uuid BLOB PRIMARY KEY
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS data_keys(
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS data_values(
    id INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS result_data(
    key_id INTEGER NOT NULL,
    value_id INTEGER NOT NULL,
    submit_time INTEGER NOT NULL,
    result_id INTEGER NOT NULL,
    testcase_id INTEGER NOT NULL,
    PRIMARY KEY(key_id, value_id, submit_time, result_id)
) WITHOUT ROWID;
-- New postings land here first (new in schema 6) and are folded into `result_data` in key
-- order once there are `FOLD_AT` of them (`writer/fold.rs`): a result of a random item
-- dirties a page of this small table, which stays in the writer's cache, instead of a
-- random page of the item section of `result_data` (at 10M results ~90k pages, ~1 page
-- written per result); a fold then writes each page of that section once per ~400k
-- results. Readers take the union of both tables; a posting is in exactly one of them.
CREATE TABLE IF NOT EXISTS result_data_recent(
    key_id INTEGER NOT NULL,
    value_id INTEGER NOT NULL,
    submit_time INTEGER NOT NULL,
    result_id INTEGER NOT NULL,
    testcase_id INTEGER NOT NULL,
    PRIMARY KEY(key_id, value_id, submit_time, result_id)
) WITHOUT ROWID;

-- Insight (history, flaky, compare): every result with a pass or fail outcome by key
-- (testcase, scenario, arch) and submit time, so a key's runs are one range scan.
CREATE TABLE IF NOT EXISTS run_keys(
    id INTEGER PRIMARY KEY,
    testcase_id INTEGER NOT NULL,
    scenario TEXT NOT NULL,
    arch TEXT NOT NULL,
    UNIQUE(testcase_id, scenario, arch)
);
CREATE TABLE IF NOT EXISTS runs(
    key_id INTEGER NOT NULL,
    submit_time INTEGER NOT NULL,
    result_id INTEGER NOT NULL,
    fail INTEGER NOT NULL,    -- 0: a pass, 1: a fail
    item_id INTEGER NOT NULL, -- data_values id of the first data.item (0: none)
    type_id INTEGER NOT NULL, -- and of the first data.type
    duration REAL,            -- data.duration in seconds, when it is a number
    PRIMARY KEY(key_id, submit_time, result_id)
) WITHOUT ROWID;
-- The newest log position that added or removed a run of each key (new in schema 4):
-- a classification of a key stays valid while this does not move (`service::classified`).
-- A key without a row counts as changed at every position (never cached).
CREATE TABLE IF NOT EXISTS run_key_changes(
    key_id INTEGER PRIMARY KEY,
    changed INTEGER NOT NULL
);
-- What pruned results said (new in schema 5): per insight key and UTC day, from the
-- horizon entries that pruned them, so history over a pruned range still answers.
CREATE TABLE IF NOT EXISTS run_days(
    key_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    passes INTEGER NOT NULL,
    fails INTEGER NOT NULL,
    others INTEGER NOT NULL,
    duration_n INTEGER NOT NULL,
    duration_sum_ms INTEGER NOT NULL,
    duration_min_ms INTEGER,
    duration_max_ms INTEGER,
    PRIMARY KEY(key_id, day)
) WITHOUT ROWID;
-- Known failures: every failing result with a failure signature (its note or
-- data.error_reason with numbers, paths, uuids, times masked, hashed; `insight::signature`).
CREATE TABLE IF NOT EXISTS failures(
    signature TEXT NOT NULL,
    submit_time INTEGER NOT NULL,
    result_id INTEGER NOT NULL,
    PRIMARY KEY(signature, submit_time, result_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS ingests(
    blake3 TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    results INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS waivers(
    id INTEGER PRIMARY KEY, -- the log seq of the waiver's entry
    uuid TEXT NOT NULL UNIQUE,
    subject_type TEXT NOT NULL,
    subject_identifier TEXT NOT NULL,
    testcase TEXT NOT NULL,
    scenario TEXT,
    product_version TEXT NOT NULL,
    username TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    -- The rest of the record, so waivers are read without decoding log bodies.
    waived INTEGER NOT NULL,
    comment TEXT NOT NULL,
    proxied_by TEXT,
    expires_at INTEGER
);
-- Covering: a decision reads all of a subject's waivers, scattered through the table by
-- id, so every column is in the index (half the cost of a subject's waivers, measured).
DROP INDEX IF EXISTS waivers_subject;
CREATE INDEX IF NOT EXISTS waivers_by_subject ON waivers(subject_identifier, subject_type, testcase, scenario,
    product_version, username, id, uuid, timestamp, waived, comment, proxied_by, expires_at);
CREATE INDEX IF NOT EXISTS waivers_testcase ON waivers(testcase);

-- Quarantine entries (creations and revocations; few), each under its log position with
-- its canonical record: decisions resolve which rules stood at their instant from them.
-- New in schema 3 stores without a version bump: no older store can hold such an entry,
-- so creating the empty table on open is the whole upgrade.
CREATE TABLE IF NOT EXISTS quarantines(
    seq INTEGER PRIMARY KEY, -- the log seq of the entry
    uuid TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantines_uuid ON quarantines(uuid);

CREATE TABLE IF NOT EXISTS result_groups(
    group_id INTEGER NOT NULL,
    result_id INTEGER NOT NULL,
    PRIMARY KEY(group_id, result_id)
) WITHOUT ROWID;
"#;

/// Upgrades a version-1 store (run in the writer's transaction, see `Writer::upgrade`):
/// `result_uuids` held one result per uuid, so of two different results that two origins
/// stored under one uuid only the earlier was listed. The table gets the two-column key;
/// the hidden results are then applied again by the writer (see `Writer::upgrade`).
pub const UPGRADE_FROM_1: &str = r#"
CREATE TABLE result_uuids_v2(
    uuid BLOB NOT NULL,
    result_id INTEGER NOT NULL,
    PRIMARY KEY(uuid, result_id)
) WITHOUT ROWID;
INSERT INTO result_uuids_v2(uuid, result_id) SELECT uuid, result_id FROM result_uuids;
DROP TABLE result_uuids;
ALTER TABLE result_uuids_v2 RENAME TO result_uuids;
-- Version 1 recorded no commit times: approximate each entry's arrival by the newest
-- timestamp of the entries up to it (local writes are stamped on arrival), per second.
INSERT OR REPLACE INTO commit_times(seq, at)
    SELECT max(seq), max(at) FROM (SELECT seq, max(ts) OVER (ORDER BY seq) AS at FROM log) GROUP BY at / 1000000;
"#;
