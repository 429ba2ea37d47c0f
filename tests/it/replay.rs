//! Replay equals live: a store rebuilt from its log answers every query identically.

use crate::support::{TestServer, run_cli};
use proptest::prelude::*;
use serde_json::{Value, json};
use verdict::log::Body;
use verdict::model::{
    GroupQuery, GroupRecord, Outcomes, ResultQuery, TestcaseQuery, TestcaseRecord, Timestamp, parse_create_result,
};
use verdict::service::resolve_result;
use verdict::store::{ReadStore, Store, WriteStore};

/// Queries compared between the live and the replayed store.
const QUERIES: &[&str] = &[
    "/api/v2.0/results?limit=1000",
    "/api/v2.0/results?item=i1&limit=5",
    "/api/v2.0/results?item=i1&limit=5&page=1",
    "/api/v2.0/results?testcases:like=t*&outcome=PASSED,FAILED",
    "/api/v2.0/results?arch=x86_64&_sort=asc:submit_time",
    "/api/v2.0/results?groups=g1",
    "/api/v2.0/results?since=2020-01-01T00:00:05,2020-01-01T00:00:10",
    "/api/v2.0/results/latest",
    "/api/v2.0/results/latest?item=i2",
    "/api/v2.0/results/latest?type=koji_build&_distinct_on=arch",
    "/api/v2.0/testcases",
    "/api/v2.0/testcases/t1",
    "/api/v2.0/testcases/t0/results",
    "/api/v2.0/groups",
    "/api/v2.0/groups/g1",
    "/api/v2.0/groups/g2/results",
    "/api/v2.0/results/3",
];

#[test]
fn replayed_store_serves_identical_answers() {
    let dir = tempfile::tempdir().unwrap();
    let live_db = dir.path().join("live.db");
    let s = TestServer::start_on(&live_db, &[]);
    for i in 0..60 {
        s.result(json!({
            "testcase": if i % 7 == 0 { json!({"name": format!("t{}", i % 3), "ref_url": format!("u{i}")}) } else { json!(format!("t{}", i % 3)) },
            "outcome": (["PASSED", "FAILED", "INFO"][i % 3]),
            "submit_time": format!("2020-01-01T00:00:{:02}.0", i % 20),
            "groups": if i % 5 == 0 { json!(["g1", {"uuid": "g2", "description": format!("d{i}")}]) } else { json!([]) },
            "data": {"item": format!("i{}", i % 4), "type": "koji_build", "arch": (["x86_64", "aarch64"][i % 2])},
        }));
        if i % 11 == 0 {
            s.post("/api/v2.0/testcases", &json!({"name": "t1", "ref_url": format!("tc{i}")}));
            s.post("/api/v2.0/groups", &json!({"uuid": "g1", "ref_url": format!("g{i}")}));
        }
    }
    let live: Vec<(u16, String)> = QUERIES
        .iter()
        .map(|q| {
            let r = s.get(q);
            (r.status, r.text.replace(&s.base, "BASE"))
        })
        .collect();
    s.stop();

    let rebuilt_db = dir.path().join("rebuilt.db");
    let (code, out, err) =
        run_cli(&["replay", "--db", live_db.to_str().unwrap(), "--into", rebuilt_db.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("replayed"), "{out}");
    assert_eq!(run_cli(&["verify", "--db", rebuilt_db.to_str().unwrap()], None).0, 0);
    let r = TestServer::start_on(&rebuilt_db, &[]);
    for (q, (status, text)) in QUERIES.iter().zip(live) {
        let got = r.get(q);
        assert_eq!((got.status, got.text.replace(&r.base, "BASE")), (status, text), "{q}");
    }
    // Replaying into a store that already holds entries is refused.
    let (code, _, _) =
        run_cli(&["replay", "--db", live_db.to_str().unwrap(), "--into", rebuilt_db.to_str().unwrap()], None);
    assert_ne!(code, 0);
}

/// One random write.
#[derive(Debug, Clone)]
enum Op {
    Result { tc: u8, tc_ref: Option<Option<u8>>, outcome: u8, item: u8, arch: u8, time: u8, groups: Vec<u8> },
    Testcase { tc: u8, ref_url: Option<u8> },
    Group { g: u8, description: Option<u8> },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..4, prop::option::of(prop::option::of(0u8..3)), 0u8..4, 0u8..5, 0u8..2, 0u8..12, prop::collection::vec(0u8..3, 0..3))
            .prop_map(|(tc, tc_ref, outcome, item, arch, time, groups)| Op::Result { tc, tc_ref, outcome, item, arch, time, groups }),
        1 => (0u8..4, prop::option::of(0u8..3)).prop_map(|(tc, ref_url)| Op::Testcase { tc, ref_url }),
        1 => (0u8..3, prop::option::of(0u8..3)).prop_map(|(g, description)| Op::Group { g, description }),
    ]
}

fn body(op: &Op, outcomes: &Outcomes) -> Body {
    match op {
        Op::Result { tc, tc_ref, outcome, item, arch, time, groups } => {
            let testcase = match tc_ref {
                None => json!(format!("t{tc}")),
                Some(r) => json!({"name": format!("t{tc}"), "ref_url": r.map(|r| format!("r{r}"))}),
            };
            let v = json!({
                "testcase": testcase,
                "outcome": (["PASSED", "FAILED", "INFO", "NEEDS_INSPECTION"][*outcome as usize]),
                "submit_time": 1_600_000_000_000i64 + i64::from(*time) * 1000,
                "groups": groups.iter().map(|g| format!("g{g}")).collect::<Vec<_>>(),
                "data": {"item": format!("i{item}"), "arch": (["x86_64", "s390x"][*arch as usize]), "type": "koji_build"},
            });
            let input = parse_create_result(&v, outcomes, &verdict::model::InputLimits::default()).unwrap();
            Body::Result(resolve_result(input, None, Timestamp::now()))
        }
        Op::Testcase { tc, ref_url } => {
            Body::Testcase(TestcaseRecord { name: format!("t{tc}"), ref_url: ref_url.map(|r| Some(format!("r{r}"))) })
        }
        Op::Group { g, description } => Body::Group(GroupRecord {
            description: description.map(|d| Some(format!("d{d}"))),
            ref_url: None,
            uuid: format!("g{g}"),
        }),
    }
}

fn pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// Everything the read API can answer, as comparable values.
fn answers(store: &Store) -> Vec<String> {
    let r = store.reader().unwrap();
    let outcomes = Outcomes::default_set();
    let mut out = Vec::new();
    for q in [
        "limit=1000",
        "item=i1",
        "testcases:like=t1*&outcome=FAILED",
        "arch=s390x&_sort=asc:submit_time",
        "groups=g0,g2",
        "since=2020-09-13T12:26:45,2020-09-13T12:26:47",
        "limit=3&page=1",
    ] {
        out.push(format!("{:?}", r.results(&ResultQuery::parse(&pairs(q), &outcomes, 1000).unwrap()).unwrap()));
    }
    for q in ["", "item=i0", "type=koji_build&_distinct_on=arch", "item=i3&_distinct_on=arch,nokey", "groups=g1"] {
        out.push(format!("{:?}", r.latest(&ResultQuery::parse(&pairs(q), &outcomes, 1000).unwrap()).unwrap()));
    }
    out.push(format!("{:?}", r.testcases(&TestcaseQuery::parse(&pairs("limit=100"), 1000).unwrap()).unwrap()));
    out.push(format!("{:?}", r.groups(&GroupQuery::parse(&pairs("limit=100"), 1000).unwrap()).unwrap()));
    out.push(format!("{:?}", r.heads().unwrap()));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random write sequences (in random group-commit batches), then replay: identical answers.
    #[test]
    fn replay_equals_live(ops in prop::collection::vec(op(), 1..60), batch in 1usize..8) {
        let dir = tempfile::tempdir().unwrap();
        let live = Store::open(&dir.path().join("live.db")).unwrap();
        let outcomes = Outcomes::default_set();
        let bodies: Vec<Body> = ops.iter().map(|o| body(o, &outcomes)).collect();
        let mut w = live.writer().unwrap();
        for chunk in bodies.chunks(batch) {
            w.write_local(chunk).unwrap();
        }
        let replayed = Store::create_with_node_id(&dir.path().join("replayed.db"), live.node_id()).unwrap();
        let mut rw = replayed.writer().unwrap();
        let reader = live.reader().unwrap();
        let entries: Vec<_> = reader.entries_after(0, 100_000).unwrap().into_iter().map(|(_, e)| e).collect();
        for chunk in entries.chunks(7) {
            rw.import(chunk).unwrap();
        }
        // Importing again changes nothing.
        rw.import(&entries).unwrap();
        prop_assert_eq!(answers(&live), answers(&replayed));
    }
}

#[test]
fn import_refuses_tampered_and_gapped_entries() {
    let dir = tempfile::tempdir().unwrap();
    let live = Store::open(&dir.path().join("a.db")).unwrap();
    let outcomes = Outcomes::default_set();
    let ops: Vec<Body> = (0..5)
        .map(|i| {
            body(&Op::Result { tc: i, tc_ref: None, outcome: 0, item: 0, arch: 0, time: i, groups: vec![] }, &outcomes)
        })
        .collect();
    live.writer().unwrap().write_local(&ops).unwrap();
    let entries: Vec<_> = live.reader().unwrap().entries_after(0, 100).unwrap().into_iter().map(|(_, e)| e).collect();
    let other = Store::open(&dir.path().join("b.db")).unwrap();
    let mut w = other.writer().unwrap();
    let mut tampered = entries.clone();
    tampered[2].body = tampered[2].body.replace("PASSED", "FAILED");
    let err = w.import(&tampered).unwrap_err().to_string();
    assert!(err.contains("#3") && err.contains("tampered"), "{err}");
    let err = w.import(&entries[1..]).unwrap_err().to_string();
    assert!(err.contains("gap"), "{err}");
    assert_eq!(other.reader().unwrap().stats().unwrap().log_entries, 0, "a refused batch leaves nothing");
    w.import(&entries).unwrap();
    let mut forked = entries[4].clone();
    forked.body = forked.body.replace("PASSED", "INFO");
    let err = w.import(&[forked]).unwrap_err().to_string();
    assert!(err.contains("diverged"), "{err}");
    let v: Value = serde_json::from_str(&entries[0].body).unwrap();
    assert_eq!(v["outcome"], "PASSED");
}

/// Past the dictionary threshold bodies are stored compressed; verify, replay and the
/// API must not notice.
#[test]
fn compressed_bodies_verify_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("big.db");
    let db = db.to_str().unwrap();
    let lines: String = (0..3000)
        .map(|i| {
            format!(
                "{{\"testcase\":\"t{}\",\"outcome\":\"PASSED\",\"note\":\"run {i} é\",\"data\":{{\"item\":\"pkg{}\",\"arch\":\"x86_64\",\"n\":{i}}}}}\n",
                i % 5,
                i % 40
            )
        })
        .collect();
    assert_eq!(run_cli(&["submit", "--db", db, "-"], Some(&lines)).0, 0);
    let conn = rusqlite::Connection::open(db).unwrap();
    let compressed: i64 = conn.query_row("SELECT count(*) FROM log WHERE enc > 0", [], |r| r.get(0)).unwrap();
    assert!(compressed > 0, "bodies past the threshold are compressed");
    drop(conn);
    assert_eq!(run_cli(&["verify", "--db", db], None).0, 0);
    let rebuilt = dir.path().join("rebuilt.db");
    assert_eq!(run_cli(&["replay", "--db", db, "--into", rebuilt.to_str().unwrap()], None).0, 0);
    for args in [&["--item", "pkg7", "--limit", "500"][..], &["--latest"], &["--testcase", "t3", "--page", "20"]] {
        let q = |db: &str| run_cli(&[&["query", "--json", "--db", db], args].concat(), None).1;
        let live = q(db);
        assert!(live.contains("run "), "{live}");
        assert_eq!(live, q(rebuilt.to_str().unwrap()), "{args:?}");
    }
    // A flipped byte inside a compressed body is caught by verify too.
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("DROP TRIGGER log_no_update").unwrap();
    conn.execute("UPDATE log SET body = substr(body, 1, 20) || x'00' || substr(body, 22) WHERE seq = 2500", [])
        .unwrap();
    drop(conn);
    let (code, out, _) = run_cli(&["verify", "--db", db], None);
    assert_eq!(code, 1);
    assert!(out.contains("BROKEN at log entry 2500"), "{out}");
}

/// Past its limit the WAL is restarted (written again from its start), so the file stops
/// growing under a steady load; without restarts it grows with every transaction.
#[test]
fn the_wal_is_reused_once_past_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = Store::open(&path).unwrap();
    let mut w = store.writer().unwrap();
    let limit = 256 * 1024;
    w.set_wal_limit(limit);
    let outcomes = Outcomes::default_set();
    let mut sizes = Vec::new();
    for _ in 0..40 {
        let ops: Vec<Body> = (0..50)
            .map(|i| {
                let op = Op::Result { tc: i % 9, tc_ref: None, outcome: 0, item: i, arch: 0, time: i, groups: vec![] };
                body(&op, &outcomes)
            })
            .collect();
        w.write_local(&ops).unwrap();
        w.tend_wal().unwrap();
        sizes.push(std::fs::metadata(dir.path().join("s.db-wal")).unwrap().len());
    }
    let max = *sizes.iter().max().unwrap();
    assert!(max < 4 * limit as u64, "the WAL kept growing: {sizes:?}");
    assert_eq!(store.reader().unwrap().stats().unwrap().log_entries, 2000);
}
