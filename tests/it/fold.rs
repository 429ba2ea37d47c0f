//! New postings wait in `result_data_recent` and are folded into `result_data` in pieces
//! (issue 13): every query answers the same whichever table holds a posting.

use crate::support::TestServer;
use serde_json::{Value, json};

/// Posts the same 90 results, for 9 items, 3 arches and 2 types, with a few groups.
fn post_all(s: &TestServer) {
    for n in 0..90i64 {
        let arch = ["x86_64", "aarch64", "s390x"][(n % 3) as usize];
        let r = s.post(
            "/api/v2.0/results",
            &json!({
                "uuid": format!("00000000-0000-4000-8000-{n:012}"),
                "testcase": {"name": format!("t.fold.{}", n % 4)},
                "outcome": (["PASSED", "FAILED", "INFO"][(n % 3) as usize]),
                "submit_time": 1_700_000_000_000i64 + n * 60_000,
                "groups": [format!("00000000-0000-0000-0000-00000000000{}", n % 2)],
                "data": {"item": format!("pkg-{}-1.fc40", n % 9), "type": (["koji_build", "bodhi_update"][(n % 2) as usize]),
                         "arch": arch, "scenario": format!("fedora.{arch}.default")},
            }),
        );
        assert_eq!(r.status, 201, "{}", r.json);
    }
}

/// Every posting is in one of the two tables: (in `result_data`, in `result_data_recent`).
fn postings(db: &std::path::Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let count = |t: &str| conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0)).unwrap();
    (count("result_data"), count("result_data_recent"))
}

#[test]
fn queries_answer_the_same_whichever_table_holds_the_postings() {
    let dir = tempfile::tempdir().unwrap();
    let (folded_db, plain_db) = (dir.path().join("folded.db"), dir.path().join("plain.db"));
    // Folds from 7 new postings on, 5 per transaction: rounds run all through the posts.
    let folded = TestServer::start_env(&folded_db, &[("VERDICT_FOLD_AT", "7,5")]);
    // Never folds here, even when the whole suite runs with VERDICT_FOLD_AT set.
    let plain = TestServer::start_env(&plain_db, &[("VERDICT_FOLD_AT", "")]);
    post_all(&folded);
    post_all(&plain);
    let queries = [
        "/api/v2.0/results?item=pkg-3-1.fc40",
        "/api/v2.0/results?item=pkg-3-1.fc40,pkg-5-1.fc40&limit=7&page=1",
        "/api/v2.0/results?type=koji_build&item=pkg-4-1.fc40",
        "/api/v2.0/results?type=koji_build&limit=5&page=2",
        "/api/v2.0/results?arch=s390x&outcome=FAILED",
        "/api/v2.0/results?item:like=pkg-1*&arch=x86_64",
        "/api/v2.0/results?testcases=t.fold.1&item=pkg-1-1.fc40",
        "/api/v2.0/results?groups=00000000-0000-0000-0000-000000000001&arch=aarch64",
        "/api/v2.0/results/latest?item=pkg-2-1.fc40",
        "/api/v2.0/results/latest?type=bodhi_update&_distinct_on=arch",
        "/api/v2.0/results/latest?item=pkg-6-1.fc40&arch=x86_64,s390x",
    ];
    for q in queries {
        let (a, b) = (folded.get(q), plain.get(q));
        assert_eq!(a.status, 200, "{q}: {}", a.json);
        let strip = |v: Value, base: &str| v.to_string().replace(base, "BASE");
        assert_eq!(strip(a.json, &folded.base), strip(b.json, &plain.base), "{q}");
    }
    folded.stop();
    plain.stop();
    let (main, recent) = postings(&folded_db);
    assert!(main > 0, "the folded store moved postings into result_data ({main}, {recent})");
    assert_eq!(postings(&plain_db), (0, main + recent), "the plain store keeps every posting new");
}

#[test]
fn a_bulk_submit_folds_as_fast_as_it_adds() {
    // One `submit` job adds 1,200 postings; a round is due from 50 on. The fold keeps pace
    // with the job (it moved one 10-row piece per job before, leaving 1,190 behind).
    let dir = tempfile::tempdir().unwrap();
    let (db, input) = (dir.path().join("bulk.db"), dir.path().join("bulk.jsonl"));
    let lines: Vec<String> = (0..300)
        .map(|n| {
            json!({"testcase": {"name": format!("t.bulk.{}", n % 7)}, "outcome": "PASSED",
                   "data": {"item": format!("pkg-{}-1.fc40", n % 40), "type": "koji_build",
                            "arch": "x86_64", "scenario": format!("s{}", n % 3)}})
            .to_string()
        })
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let (code, out, err) = crate::support::run_cli_env(
        &["submit", "--db", db.to_str().unwrap(), input.to_str().unwrap()],
        &[("VERDICT_FOLD_AT", "50,10")],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let (main, recent) = postings(&db);
    assert_eq!(main + recent, 1200);
    assert!(recent < 50, "the fold kept pace with the job: {main} moved, {recent} left");
}
