//! Test: the PostgreSQL reader answers every [`ReadStore`] query as SQLite's `Reader` does.
//! One store is written by the SQLite writer (results with tied times, multi-valued data,
//! groups, waivers, quarantines, a uuid conflict, a pruned stretch), its tables are copied
//! into a scratch PostgreSQL database, and the same questions are asked of both. Runs when
//! `VERDICT_TEST_POSTGRES_URL` names a server (skipped otherwise, failed with
//! `VERDICT_REQUIRE_POSTGRES=1`).

use super::conn::{Conn, Target};
use super::reader::PgReader;
use crate::log::{Body, Entry, Hash, Kind};
use crate::model::{
    DataFilter, GroupQuery, GroupRecord, IngestRecord, ListParams, QuarantineRecord, ResultQuery, ResultRecord,
    TestcaseQuery, TestcaseRecord, Timestamp, WaiverRecord,
};
use crate::store::api::{ReadStore, WriteStore};
use crate::store::{FailureRow, KeyFilter, RunRange, Store, WaiverKeys};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A deterministic pseudo-random sequence (an LCG is enough to spread test data).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const BASE: i64 = 1_700_000_000_000_000;
const TESTCASES: [&str; 8] = [
    "dist.rpmlint",
    "dist.depcheck",
    "dist_x%y",
    "fedora-ci.koji-build.tier0",
    "update.base",
    "compose.install",
    "Dist.upper",
    "dist.\u{fc}n\u{ef}",
];
const GROUPS: [&str; 3] =
    ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "g-not-a-uuid"];
const OUTCOMES: [&str; 5] = ["PASSED", "FAILED", "INFO", "NEEDS_INSPECTION", "FAILED"];
const FOREIGN: &str = "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0";

fn uuid(i: u64) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

/// The `i`th generated result.
fn result(rng: &mut Lcg, i: u64) -> ResultRecord {
    let mut data: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let item = |n: u64| format!("pkg{:02}-1.{}", n, n % 3);
    let mut items = vec![item(rng.below(40))];
    if rng.below(8) == 0 {
        items.push(item(rng.below(40)));
    }
    data.insert("item".into(), items);
    data.insert("type".into(), vec![if rng.below(4) == 0 { "bodhi_update" } else { "koji_build" }.into()]);
    data.insert("build".into(), vec![format!("b{i:05}")]);
    match rng.below(3) {
        0 => {}
        1 => drop(data.insert("arch".into(), vec!["x86_64".into()])),
        _ => drop(data.insert("arch".into(), vec!["aarch64".into(), "x86_64".into()])),
    }
    if rng.below(3) == 0 {
        data.insert("scenario".into(), vec![format!("sc{}", rng.below(2))]);
    }
    if rng.below(10) == 0 {
        data.insert("duration".into(), vec![format!("{}.5", rng.below(100))]);
    }
    let outcome = OUTCOMES[rng.below(5) as usize].to_owned();
    let note = (outcome == "FAILED").then(|| format!("error at line {} in /tmp/x{}", rng.below(99), rng.below(3)));
    let groups = (0..rng.below(3))
        .map(|g| GroupRecord { description: None, ref_url: None, uuid: GROUPS[g as usize].to_owned() })
        .collect();
    let name = TESTCASES[rng.below(TESTCASES.len() as u64) as usize].to_owned();
    let ref_url = (rng.below(5) == 0).then(|| Some(format!("https://tc/{name}")));
    ResultRecord {
        data,
        groups,
        note,
        outcome,
        ref_url: None,
        request: None,
        // Many results share a time: ties must come out in the same order.
        submit_time: BASE + rng.below(600) as i64 * 1_000_000,
        testcase: TestcaseRecord { name, ref_url },
        uuid: uuid(i),
    }
}

fn waiver(i: u64) -> WaiverRecord {
    WaiverRecord {
        comment: format!("c{i}"),
        expires_at: i.is_multiple_of(3).then_some(BASE + 1000),
        product_version: format!("fedora-{}", 40 + i % 2),
        proxied_by: None,
        scenario: i.is_multiple_of(2).then(|| "sc0".to_owned()),
        subject_identifier: format!("pkg{:02}-1.{}", i % 5, i % 3),
        subject_type: if i.is_multiple_of(4) { "bodhi_update" } else { "koji_build" }.into(),
        testcase: TESTCASES[(i % 4) as usize].to_owned(),
        timestamp: BASE + i as i64,
        username: format!("u{}", i % 3),
        uuid: uuid(9000 + i),
        waived: !i.is_multiple_of(5),
    }
}

fn quarantine(i: u64, revoked: bool) -> QuarantineRecord {
    QuarantineRecord {
        created_at: BASE,
        expires_at: None,
        owner: "o".into(),
        product_version: None,
        proxied_by: None,
        reason: "flaky".into(),
        release_after_passes: 3,
        revoked,
        revoked_by: revoked.then(|| "o".to_owned()),
        scenario: None,
        subject_type: None,
        testcase: "dist.*".into(),
        timestamp: BASE + i as i64,
        uuid: uuid(8000 + i),
    }
}

/// Writes the test store with SQLite's writer, several transactions (commit times).
fn fill(store: &Store) {
    let mut w = store.writer().unwrap();
    let mut rng = Lcg(7);
    let mut bodies: Vec<Body> = (0..3000).map(|i| Body::Result(result(&mut rng, i))).collect();
    bodies.push(Body::Testcase(TestcaseRecord { name: "never-run".into(), ref_url: Some(Some("u".into())) }));
    bodies.push(Body::Group(GroupRecord {
        description: Some(Some("nightly compose".into())),
        ref_url: None,
        uuid: GROUPS[0].into(),
    }));
    bodies.extend((0..12).map(|i| Body::Waiver(waiver(i))));
    bodies.extend([quarantine(0, false), quarantine(1, false), quarantine(0, true)].map(Body::Quarantine));
    bodies.push(Body::Ingest(IngestRecord {
        blake3: "ab".repeat(32),
        format: "junit".into(),
        name: "f".into(),
        results: 0,
    }));
    for chunk in bodies.chunks(400) {
        w.write_local(chunk).unwrap();
    }
    // A foreign origin: one result equal to a local one (hidden, readable by id) and one
    // different result under a local uuid (a conflict: both listed).
    let mut rng = Lcg(7);
    let first = result(&mut rng, 0);
    let second = result(&mut rng, 1);
    let conflicting = ResultRecord { outcome: "ERROR".into(), ..second };
    let mut prev = Hash::GENESIS;
    let mut entries = Vec::new();
    for (n, r) in [first, conflicting].into_iter().enumerate() {
        let e = Entry::seal(&prev, FOREIGN, n as u64 + 1, Kind::Result, BASE + 5, Body::Result(r).encode());
        prev = e.hash;
        entries.push(e);
    }
    w.import(&entries).unwrap();
    // A pruned stretch: old results of `update.*` go, their days are summed.
    w.prune_step(BASE + 60_000_000, Some("update.*"), 10_000).unwrap();
}

/// A scratch database with verdict's schema; dropped at the end.
struct Scratch {
    admin: Conn,
    name: String,
    target: Target,
}

impl Scratch {
    fn create(url: &str) -> Scratch {
        let admin = Conn::open(&Target::parse(url).unwrap()).unwrap();
        let name = format!("verdict_parity_{}", std::process::id());
        admin.batch(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
        admin.batch(&format!("CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0")).unwrap();
        let mut target = Target::parse(url).unwrap();
        target.config.dbname(&name);
        let conn = Conn::open(&target).unwrap();
        conn.batch(super::schema::MIGRATIONS[0]).unwrap();
        Scratch { admin, name, target }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.admin.batch(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

/// A value of an SQLite row as JSON for `json_populate_recordset` (blobs as bytea text).
fn json_value(v: rusqlite::types::ValueRef) -> serde_json::Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) => f.into(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => format!("\\x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()).into(),
    }
}

/// Copies `from` (SQLite table or query) into PostgreSQL's `to`; `keyed` adds the 16-byte
/// key of that text column as `<col>_key` (testcase names, data values).
fn copy(sqlite: &rusqlite::Connection, pg: &Conn, from: &str, to: &str, keyed: Option<&str>) {
    let mut stmt = sqlite.prepare(&format!("SELECT * FROM {from}")).unwrap();
    let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let mut rows = stmt.query([]).unwrap();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        let mut obj = serde_json::Map::new();
        for (i, n) in names.iter().enumerate() {
            obj.insert(n.clone(), json_value(row.get_ref(i).unwrap()));
        }
        if let Some(col) = keyed {
            let text = obj[col].as_str().unwrap().to_owned();
            let key: String = super::text_key(&text).iter().map(|x| format!("{x:02x}")).collect();
            obj.insert(format!("{col}_key"), format!("\\x{key}").into());
        }
        out.push(serde_json::Value::Object(obj));
    }
    let json = serde_json::Value::Array(out).to_string();
    pg.exec(&format!("INSERT INTO {to} SELECT * FROM json_populate_recordset(NULL::{to}, $1::text::json)"), &[&json])
        .unwrap();
}

/// Copies the log with its bodies decoded (SQLite's may be compressed; PostgreSQL's are text).
fn copy_log(store: &Store, sqlite: &rusqlite::Connection, pg: &Conn) {
    let mut stmt = sqlite.prepare("SELECT node, id FROM origins").unwrap();
    let origins: BTreeMap<String, i64> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap();
    let rows: Vec<serde_json::Value> = store
        .reader()
        .unwrap()
        .entries_after(0, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(seq, e)| {
            serde_json::json!({
                "seq": seq, "origin_id": origins[&e.origin], "origin_seq": e.origin_seq, "kind": e.kind.as_str(),
                "ts": e.ts, "body": e.body, "hash": format!("\\x{}", e.hash.to_hex()),
            })
        })
        .collect();
    let json = serde_json::Value::Array(rows).to_string();
    pg.exec("INSERT INTO log SELECT * FROM json_populate_recordset(NULL::log, $1::text::json)", &[&json]).unwrap();
}

fn copy_store(store: &Store, pg: &Conn) {
    let sqlite = rusqlite::Connection::open(store.path()).unwrap();
    copy_log(store, &sqlite, pg);
    for t in [
        "origins",
        "pruned",
        "grp",
        "results",
        "result_uuids",
        "commit_times",
        "uuid_conflicts",
        "data_keys",
        "result_data",
        "run_keys",
        "runs",
        "run_key_changes",
        "run_days",
        "failures",
        "ingests",
        "waivers",
        "quarantines",
        "result_groups",
    ] {
        copy(&sqlite, pg, t, t, None);
    }
    copy(&sqlite, pg, "result_data_recent", "result_data", None);
    copy(&sqlite, pg, "testcase", "testcase", Some("name"));
    copy(&sqlite, pg, "data_values", "data_values", Some("value"));
    pg.batch("ANALYZE").unwrap();
}

fn temp_path() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("verdict-parity-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("store.db")
}

fn query(f: impl FnOnce(&mut ResultQuery)) -> ResultQuery {
    let mut q = ResultQuery { limit: 20, ..ResultQuery::default() };
    f(&mut q);
    q
}

fn data(key: &str, like: bool, values: &[&str]) -> DataFilter {
    DataFilter { key: key.into(), like, values: values.iter().map(|v| (*v).to_owned()).collect() }
}

/// The result queries asked of both readers (as `results` and as `latest`).
fn result_queries() -> Vec<ResultQuery> {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let mut qs = vec![
        query(|_| {}),
        query(|q| q.ascending = true),
        query(|q| (q.page, q.limit) = (3, 7)),
        query(|q| (q.page, q.limit) = (0, 0)),
        query(|q| q.testcases = s(&["dist.rpmlint"])),
        query(|q| (q.testcases, q.limit, q.page) = (s(&["dist.rpmlint", "update.base"]), 50, 2)),
        query(|q| q.testcases_like = s(&["dist.*"])),
        query(|q| q.testcases_like = s(&["dist_*", "Dist%"])),
        query(|q| q.testcases_like = s(&["*%*"])),
        query(|q| q.testcases_like = s(&["dist.\u{fc}*", "nothing*"])),
        query(|q| (q.testcases, q.testcases_like) = (s(&["update.base"]), s(&["compose*"]))),
        query(|q| q.testcases_like = s(&["a\0*"])),
        query(|q| q.groups = s(&[GROUPS[0]])),
        query(|q| q.groups = s(&[GROUPS[1], GROUPS[2], "missing"])),
        query(|q| q.groups = s(&["x\0"])),
        query(|q| q.uuids = s(&[&uuid(1), &uuid(5), &uuid(99_999)])),
        query(|q| q.outcomes = s(&["FAILED"])),
        query(|q| q.outcomes = s(&["PASSED", "INFO"])),
        query(|q| (q.since, q.until) = (Some(Timestamp(BASE + 100_000_000)), Some(Timestamp(BASE + 200_000_000)))),
        query(|q| q.since = Some(Timestamp(BASE + 590_000_000))),
        query(|q| q.max_id = Some(1200)),
        query(|q| q.data = vec![data("item", false, &["pkg07-1.1"])]),
        query(|q| (q.data, q.ascending) = (vec![data("item", false, &["pkg07-1.1", "pkg08-1.2"])], true)),
        query(|q| q.data = vec![data("type", false, &["koji_build"]), data("item", false, &["pkg03-1.0"])]),
        query(|q| q.data = vec![data("type", false, &["koji_build"])]),
        query(|q| (q.data, q.page) = (vec![data("type", false, &["koji_build"])], 5)),
        query(|q| q.data = vec![data("type", false, &["koji_build", "bodhi_update"])]),
        query(|q| q.data = vec![data("arch", false, &["x86_64"]), data("type", false, &["bodhi_update"])]),
        query(|q| q.data = vec![data("item", true, &["pkg1*"])]),
        query(|q| q.data = vec![data("item", true, &["pkg_1-%", "*-1.2"])]),
        query(|q| q.data = vec![data("build", true, &["b*"])]),
        query(|q| q.data = vec![data("build", true, &["b0*"]), data("item", false, &["pkg02-1.2"])]),
        query(|q| q.data = vec![data("nokey", false, &["x"])]),
        query(|q| q.data = vec![data("item", false, &["novalue"])]),
        query(|q| q.data = vec![data("item", true, &["x\0*"])]),
        query(|q| q.data = vec![data("k\0", false, &["x"])]),
        query(|q| {
            q.testcases_like = s(&["dist*"]);
            q.outcomes = s(&["FAILED", "PASSED"]);
            q.groups = s(&[GROUPS[0]]);
            q.data = vec![data("type", false, &["koji_build"])];
            q.since = Some(Timestamp(BASE + 50_000_000));
        }),
        query(|q| (q.testcases, q.data) = (s(&["dist.rpmlint"]), vec![data("arch", false, &["aarch64"])])),
    ];
    for (distinct, base) in [(vec!["arch"], 4), (vec!["item", "arch"], 23), (vec!["scenario"], 19), (vec!["nokey"], 6)]
    {
        let mut q = qs[base].clone();
        q.distinct_on = s(&distinct);
        qs.push(q);
    }
    qs
}

fn compare_results(sqlite: &dyn ReadStore, pg: &dyn ReadStore) {
    let mut checked = 0;
    for q in result_queries() {
        let expected = sqlite.results(&q).unwrap();
        assert_eq!(expected, pg.results(&q).unwrap_or_else(|e| panic!("{q:?}: {e}")), "results {q:?}");
        assert_eq!(sqlite.latest(&q).unwrap(), pg.latest(&q).unwrap(), "latest {q:?}");
        for v in expected.iter().take(5) {
            assert_eq!(sqlite.previous_result(v).unwrap(), pg.previous_result(v).unwrap(), "previous of {}", v.id);
        }
        checked += expected.len();
    }
    assert!(checked > 300, "the queries found too little to compare ({checked} rows)");
    let last = sqlite.last_seq().unwrap();
    for id in 0..=last + 1 {
        assert_eq!(sqlite.result(id).unwrap(), pg.result(id).unwrap(), "result {id}");
    }
    for u in [uuid(0), uuid(1), uuid(2999), "zzz".into()] {
        assert_eq!(sqlite.result_by_uuid(&u).unwrap(), pg.result_by_uuid(&u).unwrap(), "uuid {u}");
    }
    assert_eq!(sqlite.conflict_count().unwrap(), 1);
    assert_eq!(sqlite.conflict_count().unwrap(), pg.conflict_count().unwrap());
    assert_eq!(sqlite.conflicts(10).unwrap(), pg.conflicts(10).unwrap());
}

fn compare_lists(sqlite: &dyn ReadStore, pg: &dyn ReadStore) {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    let list = |page, limit| ListParams { page, limit };
    for name in TESTCASES.iter().chain(&["never-run", "missing"]) {
        assert_eq!(sqlite.testcase(name).unwrap(), pg.testcase(name).unwrap());
    }
    for q in [
        TestcaseQuery { list: list(0, 20), names: vec![], name_like: vec![] },
        TestcaseQuery { list: list(1, 3), names: vec![], name_like: vec![] },
        TestcaseQuery { list: list(0, 20), names: s(&["update.base", "dist.rpmlint", "x"]), name_like: vec![] },
        TestcaseQuery { list: list(0, 20), names: vec![], name_like: s(&["dist*", "*koji*"]) },
        TestcaseQuery { list: list(0, 2), names: vec![], name_like: s(&["%"]) },
    ] {
        assert_eq!(sqlite.testcases(&q).unwrap(), pg.testcases(&q).unwrap(), "{q:?}");
    }
    for g in GROUPS.iter().chain(&["missing", "a\0"]) {
        assert_eq!(sqlite.group(g).unwrap(), pg.group(g).unwrap());
    }
    for q in [
        GroupQuery { list: list(0, 20), uuids: vec![], descriptions: vec![], description_like: vec![] },
        GroupQuery { list: list(1, 1), uuids: vec![], descriptions: vec![], description_like: vec![] },
        GroupQuery { list: list(0, 20), uuids: s(&GROUPS[..2]), descriptions: vec![], description_like: vec![] },
        GroupQuery {
            list: list(0, 20),
            uuids: vec![],
            descriptions: s(&["nightly compose"]),
            description_like: vec![],
        },
        GroupQuery { list: list(0, 20), uuids: vec![], descriptions: vec![], description_like: s(&["*comp*"]) },
    ] {
        assert_eq!(sqlite.groups(&q).unwrap(), pg.groups(&q).unwrap(), "{q:?}");
    }
    let last = sqlite.last_seq().unwrap();
    for id in (0..=last).step_by(7).chain(last - 40..=last) {
        assert_eq!(sqlite.waiver(id).unwrap(), pg.waiver(id).unwrap());
    }
    let keys = |subjects: &[&str], testcases: &[&str], scenarios: &[&str]| WaiverKeys {
        subject_identifiers: s(subjects),
        testcases: s(testcases),
        scenarios: s(scenarios),
        ..WaiverKeys::default()
    };
    for k in [
        vec![],
        vec![keys(&[], &[], &[])],
        vec![keys(&["pkg01-1.1"], &[], &[])],
        vec![keys(&["pkg01-1.1", "pkg02-1.2"], &["dist.rpmlint", "dist_x%y"], &[])],
        vec![keys(&["pkg00-1.0"], &[], &["sc0"]), keys(&["pkg03-1.0"], &[], &[]), keys(&["x\0"], &[], &[])],
        vec![WaiverKeys { usernames: s(&["u1"]), product_versions: s(&["fedora-41"]), ..WaiverKeys::default() }],
    ] {
        assert_eq!(sqlite.waivers_matching(&k).unwrap(), pg.waivers_matching(&k).unwrap(), "{k:?}");
    }
}

fn compare_log(sqlite: &dyn ReadStore, pg: &dyn ReadStore, node: &str) {
    let last = sqlite.last_seq().unwrap();
    assert_eq!(last, pg.last_seq().unwrap());
    let times = sqlite.commit_times().unwrap();
    assert!(times.len() > 5);
    assert_eq!(times, pg.commit_times().unwrap());
    for (_, at) in times.iter().step_by(3) {
        for at in [at - 1, *at, at + 1] {
            assert_eq!(sqlite.stored_by(at).unwrap(), pg.stored_by(at).unwrap());
        }
    }
    for h in ["ab".repeat(32), "cd".into()] {
        assert_eq!(sqlite.is_ingested(&h).unwrap(), pg.is_ingested(&h).unwrap());
    }
    for (after, limit) in [(0, 50), (1000, 7), (last - 3, 10), (last, 10)] {
        assert_eq!(sqlite.entries_after(after, limit).unwrap(), pg.entries_after(after, limit).unwrap());
    }
    for (origin, after, limit) in [(node, 0, 30), (node, 2500, 5), (FOREIGN, 0, 10), ("missing", 0, 5), ("a\0", 0, 5)] {
        assert_eq!(
            sqlite.origin_entries(origin, after, limit).unwrap(),
            pg.origin_entries(origin, after, limit).unwrap()
        );
    }
    let gaps = sqlite.gaps(None).unwrap();
    assert!(!gaps.is_empty(), "the prune left no gap");
    assert_eq!(gaps, pg.gaps(None).unwrap());
    assert_eq!(sqlite.gaps(Some(node)).unwrap(), pg.gaps(Some(node)).unwrap());
    let mut positions: Vec<u64> = vec![0, 1, 2, 5000, 100_000];
    positions.extend(gaps.iter().flat_map(|g| [g.from - 1, g.from, g.to, g.to + 1]));
    for at in positions {
        for origin in [node, FOREIGN] {
            assert_eq!(sqlite.hash_at(origin, at).unwrap(), pg.hash_at(origin, at).unwrap(), "{origin}#{at}");
        }
    }
    assert_eq!(sqlite.heads().unwrap(), pg.heads().unwrap());
    let (a, b) = (sqlite.stats().unwrap(), pg.stats().unwrap());
    assert_eq!(
        (a.results, a.testcases, a.groups, a.log_entries, a.origins, a.data_keys, a.data_values),
        (b.results, b.testcases, b.groups, b.log_entries, b.origins, b.data_keys, b.data_values)
    );
    assert_eq!((a.waivers, a.pruned, a.gaps), (b.waivers, b.pruned, b.gaps));
    assert_eq!((b.page_size, b.page_count > 0), (8192, true));
    assert_eq!(sqlite.outcome_counts().unwrap(), pg.outcome_counts().unwrap());
}

fn compare_insight(sqlite: &dyn ReadStore, pg: &dyn ReadStore, signatures: &[String]) {
    let all = sqlite.run_keys(&KeyFilter::default()).unwrap();
    assert!(all.len() > 5);
    assert_eq!(all, pg.run_keys(&KeyFilter::default()).unwrap());
    let some = |f: &mut dyn FnMut(&mut KeyFilter)| {
        let mut k = KeyFilter::default();
        f(&mut k);
        k
    };
    for f in [
        some(&mut |k| k.testcase = Some("dist.rpmlint".into())),
        some(&mut |k| k.testcase_like = Some("dist*".into())),
        some(&mut |k| (k.scenario, k.arch) = (Some("sc0".into()), Some("x86_64".into()))),
        some(&mut |k| k.arch = Some("a\0".into())),
    ] {
        assert_eq!(sqlite.run_keys(&f).unwrap(), pg.run_keys(&f).unwrap(), "{f:?}");
    }
    let item = sqlite.value_id("pkg07-1.1").unwrap();
    assert!(item.is_some());
    assert_eq!(item, pg.value_id("pkg07-1.1").unwrap());
    for key in &all {
        let ranges = [
            RunRange::default(),
            RunRange { newest_first: true, limit: Some(3), ..RunRange::default() },
            RunRange { since: Some(BASE + 10_000_000), until: Some(BASE + 300_000_000), ..RunRange::default() },
            RunRange { max_id: Some(1500), item_id: item, newest_first: true, ..RunRange::default() },
        ];
        for range in ranges {
            assert_eq!(sqlite.runs(key.id, &range).unwrap(), pg.runs(key.id, &range).unwrap(), "{range:?}");
        }
        for max in [None, Some(800), Some(2000)] {
            assert_eq!(sqlite.fail_streak(key.id, max).unwrap(), pg.fail_streak(key.id, max).unwrap());
        }
        for (from, to) in [(None, None), (Some(0), Some(i64::MAX / 2))] {
            assert_eq!(sqlite.run_days(key.id, from, to).unwrap(), pg.run_days(key.id, from, to).unwrap());
        }
        assert_eq!(sqlite.has_runs(key.id, BASE, BASE + 1).unwrap(), pg.has_runs(key.id, BASE, BASE + 1).unwrap());
    }
    assert!(all.iter().any(|k| !sqlite.run_days(k.id, None, None).unwrap().is_empty()), "no pruned days");
    for sig in signatures {
        let before = FailureRow { result_id: 2000, submit_time: BASE + 300_000_000 };
        for max in [None, Some(1000)] {
            assert_eq!(
                sqlite.failures_before(sig, before, max, 5).unwrap(),
                pg.failures_before(sig, before, max, 5).unwrap()
            );
            for (b, oldest) in [(None, true), (Some(before), false), (None, false)] {
                assert_eq!(
                    sqlite.failures(sig, max, b, oldest, 4).unwrap(),
                    pg.failures(sig, max, b, oldest, 4).unwrap()
                );
            }
        }
    }
    for (prefix, limit) in [("pkg1", 5), ("pkg", 100), ("", 3), ("zz", 3), ("b0299", 20)] {
        assert_eq!(sqlite.values_with_prefix(prefix, limit).unwrap(), pg.values_with_prefix(prefix, limit).unwrap());
    }
    let ids: Vec<i64> = (0..60).collect();
    assert_eq!(sqlite.value_texts(&ids).unwrap(), pg.value_texts(&ids).unwrap());
    let q = sqlite.quarantine_entries(None, None).unwrap();
    assert_eq!(q.len(), 3);
    assert_eq!(q, pg.quarantine_entries(None, None).unwrap());
    let (u, seq) = (uuid(8000), q[1].seq);
    assert_eq!(
        sqlite.quarantine_entries(Some(&u), Some(seq)).unwrap(),
        pg.quarantine_entries(Some(&u), Some(seq)).unwrap()
    );
    assert_eq!(sqlite.quarantine_mark().unwrap(), pg.quarantine_mark().unwrap());
}

#[test]
fn pg_reader_answers_as_sqlite() {
    let Ok(url) = std::env::var("VERDICT_TEST_POSTGRES_URL") else {
        assert!(std::env::var("VERDICT_REQUIRE_POSTGRES").is_err(), "VERDICT_TEST_POSTGRES_URL is not set");
        eprintln!("skipped: VERDICT_TEST_POSTGRES_URL is not set");
        return;
    };
    let path = temp_path();
    let store = Store::open(&path).unwrap();
    fill(&store);
    let scratch = Scratch::create(&url);
    let pg_conn = Conn::open(&scratch.target).unwrap();
    copy_store(&store, &pg_conn);
    let signatures: Vec<String> = {
        let c = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = c.prepare("SELECT DISTINCT signature FROM failures ORDER BY 1 LIMIT 4").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    assert!(!signatures.is_empty());
    let sqlite = store.reader().unwrap();
    let pg = PgReader::new(pg_conn, Default::default()).unwrap();
    assert!(pg.healthy());
    pg.begin_read().unwrap();
    compare_results(&sqlite, &pg);
    compare_lists(&sqlite, &pg);
    compare_log(&sqlite, &pg, store.node_id());
    compare_insight(&sqlite, &pg, &signatures);
    pg.end_read();
    drop(scratch);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
