//! Every query parameter of GET /results, /results/latest, /testcases and /groups.

use crate::support::TestServer;
use serde_json::json;

/// Six results with fixed times (ids 1..=6 in this order).
fn seeded() -> TestServer {
    let s = TestServer::start();
    let rows = [
        ("dist.rpmlint", "PASSED", "foo-1.0-1.fc30", "koji_build", "x86_64", "2016-08-15T10:00:00.000000", "g1"),
        ("dist.rpmlint", "FAILED", "foo-1.0-1.fc30", "koji_build", "aarch64", "2016-08-15T11:00:00.000000", "g1"),
        ("dist.depcheck", "PASSED", "foo-1.0-1.fc30", "koji_build", "x86_64", "2016-08-15T12:00:00.000000", "g2"),
        ("dist.depcheck", "INFO", "bar-2.0-1.fc30", "koji_build", "x86_64", "2016-08-15T13:00:00.000000", "g2"),
        (
            "update.boot",
            "NEEDS_INSPECTION",
            "FEDORA-2016-1",
            "bodhi_update",
            "x86_64",
            "2016-08-16T09:00:00.000000",
            "g3",
        ),
        ("dist.rpmlint", "PASSED", "bar-2.0-1.fc30", "koji_build", "x86_64", "2016-08-16T10:00:00.000000", "g3"),
    ];
    for (tc, outcome, item, ty, arch, time, group) in rows {
        s.result(json!({"testcase": tc, "outcome": outcome, "submit_time": time, "groups": [group],
            "data": {"item": item, "type": ty, "arch": arch, "scenario": format!("s-{arch}")}}));
    }
    s
}

#[test]
fn filters_on_results() {
    let s = seeded();
    let ids = |q: &str| s.get(&format!("/api/v2.0/results{q}")).ids();
    assert_eq!(ids(""), vec![6, 5, 4, 3, 2, 1], "newest first");
    assert_eq!(ids("?_sort=asc:submit_time"), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(ids("?_sort=desc:id"), vec![6, 5, 4, 3, 2, 1], "unknown sort falls back");
    assert_eq!(ids("?outcome=passed"), vec![6, 3, 1]);
    assert_eq!(ids("?outcome=PASSED,FAILED"), vec![6, 3, 2, 1]);
    assert_eq!(ids("?outcome=PASSED&outcome=INFO"), vec![6, 3, 1], "a repeated reserved parameter: the first counts");
    assert_eq!(ids("?testcases=update.boot&testcases=dist.depcheck"), vec![5], "as upstream's args.get");
    assert_eq!(ids("?testcases=dist.depcheck,update.boot"), vec![5, 4, 3]);
    assert_eq!(ids("?testcases:like=dist.*"), vec![6, 4, 3, 2, 1]);
    assert_eq!(ids("?testcases=update.boot&testcases:like=dist.dep*"), vec![5, 4, 3], "testcases OR like");
    assert_eq!(ids("?testcases:like=DIST.*"), Vec::<i64>::new(), "like is case-sensitive");
    assert_eq!(ids("?testcases:like=dist.rpmlin_"), vec![6, 2, 1], "_ is one character");
    assert_eq!(ids("?item=foo-1.0-1.fc30"), vec![3, 2, 1]);
    assert_eq!(ids("?item=foo-1.0-1.fc30&arch=x86_64"), vec![3, 1], "keys AND");
    assert_eq!(ids("?item=foo-1.0-1.fc30,bar-2.0-1.fc30&arch=aarch64"), vec![2]);
    assert_eq!(ids("?item=foo-1.0-1.fc30&item=FEDORA-2016-1"), vec![5, 3, 2, 1], "k=a&k=b is k=a,b");
    assert_eq!(ids("?item:like=*fc30"), vec![6, 4, 3, 2, 1]);
    assert_eq!(ids("?item:like=foo*,FEDORA*"), vec![5, 3, 2, 1]);
    assert_eq!(ids("?item:like=foo*&item=foo-1.0-1.fc30&arch=aarch64"), vec![2], "k and k:like both hold");
    assert_eq!(ids("?type=koji_build&testcases=dist.rpmlint&outcome=PASSED"), vec![6, 1]);
    assert_eq!(ids("?itme=foo-1.0-1.fc30"), Vec::<i64>::new(), "a typo is a data filter");
    assert_eq!(ids("?callback=x"), Vec::<i64>::new(), "stray params are data filters");
    assert_eq!(ids("?a:b:c=1"), Vec::<i64>::new());
    assert_eq!(ids("?arch:foo=aarch64"), vec![2], "unknown modifier: exact on the key");
    assert_eq!(ids("?groups=g1,g3"), vec![6, 5, 2, 1]);
    assert_eq!(ids("?groups=nope"), Vec::<i64>::new());
    assert_eq!(ids("?since=2016-08-16"), vec![6, 5]);
    assert_eq!(ids("?since=2016-08-15T11:00:00,2016-08-15T13:00:00"), vec![4, 3, 2], "both bounds inclusive");
    assert_eq!(ids("?since=2016-08-15T11:00:00%2B05:00,2016-08-15T12:00:00Z"), vec![3, 2], "zones are discarded");
    assert_eq!(ids("?since=2016-08-15%2011:00"), vec![6, 5, 4, 3, 2]);
}

#[test]
fn pagination_links() {
    let s = seeded();
    let r = s.get("/api/v2.0/results?limit=2&outcome=PASSED,FAILED,INFO");
    assert_eq!(r.ids(), vec![6, 4]);
    assert_eq!(r.json["prev"], json!(null));
    assert_eq!(r.json["next"], json!(format!("{}/api/v2.0/results?limit=2&outcome=PASSED,FAILED,INFO&page=1", s.base)));
    let r = s.get("/api/v2.0/results?limit=2&page=1&outcome=PASSED,FAILED,INFO");
    assert_eq!(r.ids(), vec![3, 2]);
    assert_eq!(r.json["prev"], json!(format!("{}/api/v2.0/results?limit=2&page=0&outcome=PASSED,FAILED,INFO", s.base)));
    let r = s.get("/api/v2.0/results?limit=2&page=2&outcome=PASSED,FAILED,INFO");
    assert_eq!(r.ids(), vec![1]);
    assert_eq!(r.json["next"], json!(null));
    let r = s.get("/api/v2.0/results?page=-1&limit=5");
    assert_eq!(r.ids(), vec![6, 5, 4, 3, 2], "a negative page is page 0");
    let r = s.get("/api/v2.0/results?limit=0");
    assert_eq!((r.ids(), r.json["next"].is_string()), (vec![], true));
    let keys: Vec<&String> = r.json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["data", "next", "prev"]);
}

#[test]
fn latest_per_testcase() {
    let s = seeded();
    let ids = |q: &str| s.get(&format!("/api/v2.0/results/latest{q}")).ids();
    assert_eq!(ids(""), vec![6, 5, 4]);
    assert_eq!(ids("?item=foo-1.0-1.fc30"), vec![3, 2]);
    assert_eq!(ids("?item=foo-1.0-1.fc30&outcome=PASSED&limit=1&page=3"), vec![3, 2], "outcome/limit/page ignored");
    assert_eq!(ids("?testcases:like=dist.*&type=koji_build"), vec![6, 4]);
    assert_eq!(ids("?since=2016-08-15T00:00:00,2016-08-15T11:30:00"), vec![2]);
    assert_eq!(ids("?groups=g1,g2"), vec![4, 2]);
    let r = s.get("/api/v2.0/results/latest");
    let keys: Vec<&String> = r.json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["data"], "no prev/next on latest");
    // Two results of one testcase at the same newest time: both are returned (upstream).
    s.result(json!({"testcase": "tie", "outcome": "PASSED", "submit_time": "2017-01-01T00:00:00.000000", "data": {"item": "z"}}));
    s.result(json!({"testcase": "tie", "outcome": "FAILED", "submit_time": "2017-01-01T00:00:00.000000", "data": {"item": "z"}}));
    assert_eq!(ids("?item=z"), vec![8, 7]);
    assert_eq!(ids("?testcases=tie"), vec![8, 7]);
}

#[test]
fn latest_distinct_on_really_deduplicates() {
    let s = seeded();
    let ids = |q: &str| s.get(&format!("/api/v2.0/results/latest{q}")).ids();
    // Per (testcase, scenario): rpmlint has s-x86_64 (1, 6) and s-aarch64 (2).
    assert_eq!(ids("?type=koji_build&_distinct_on=scenario"), vec![6, 4, 2]);
    assert_eq!(ids("?item=foo-1.0-1.fc30&_distinct_on=scenario"), vec![3, 2, 1]);
    assert_eq!(ids("?item=foo-1.0-1.fc30&_distinct_on=scenario,arch"), vec![3, 2, 1]);
    // Further exact filters next to the driving one (checked against packed facets).
    assert_eq!(ids("?item=foo-1.0-1.fc30&type=koji_build&_distinct_on=scenario"), vec![3, 2, 1]);
    assert_eq!(ids("?item=foo-1.0-1.fc30&arch=aarch64,ppc64le&_distinct_on=scenario"), vec![2]);
    assert_eq!(ids("?type=koji_build&arch=x86_64&testcases=dist.rpmlint&_distinct_on=scenario"), vec![6]);
    assert_eq!(ids("?item=foo-1.0-1.fc30&type=bodhi_update&_distinct_on=scenario"), Vec::<i64>::new());
    assert_eq!(ids("?item=foo-1.0-1.fc30&arch:like=aarch*&_distinct_on=scenario"), vec![2]);
    // A missing key is its own group.
    assert_eq!(ids("?testcases=dist.rpmlint&_distinct_on=nokey"), vec![6]);
    // Several results for the same group: only the newest.
    for i in 0..3 {
        s.result(
            json!({"testcase": "gate", "outcome": "FAILED", "submit_time": format!("2018-01-0{}T00:00:00.0", i + 1),
            "data": {"item": "q", "scenario": "a"}}),
        );
    }
    assert_eq!(ids("?item=q&_distinct_on=scenario"), vec![9]);
}

#[test]
fn nested_result_lists() {
    let s = seeded();
    assert_eq!(s.get("/api/v2.0/testcases/dist.depcheck/results").ids(), vec![4, 3]);
    assert_eq!(
        s.get("/api/v2.0/testcases/dist.depcheck/results?testcases=update.boot").ids(),
        vec![4, 3],
        "testcases overridden"
    );
    assert_eq!(
        s.get("/api/v2.0/testcases/dist.depcheck/results?testcases:like=update.*").ids(),
        vec![5, 4, 3],
        "like still ORed"
    );
    assert_eq!(s.get("/api/v2.0/testcases/nope/results").json, json!({"message": "Testcase not found"}));
    assert_eq!(s.get("/api/v2.0/groups/g2/results?outcome=INFO").ids(), vec![4]);
    assert_eq!(s.get("/api/v2.0/groups/g2/results?groups=g1").ids(), vec![4, 3], "groups overridden");
    // A testcase whose name ends in /results: the results route wins, as upstream.
    s.result(json!({"testcase": "a/results", "outcome": "PASSED"}));
    s.result(json!({"testcase": "a", "outcome": "FAILED"}));
    let r = s.get("/api/v2.0/testcases/a/results");
    assert_eq!(r.data()[0]["testcase"]["name"], "a");
}

#[test]
fn testcase_and_group_lists() {
    let s = seeded();
    let names = |q: &str| -> Vec<String> {
        s.get(&format!("/api/v2.0/testcases{q}"))
            .data()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(""), ["dist.depcheck", "dist.rpmlint", "update.boot"]);
    assert_eq!(names("?name=update.boot,%20dist.rpmlint"), ["dist.rpmlint", "update.boot"]);
    assert_eq!(names("?name:like=dist.*"), ["dist.depcheck", "dist.rpmlint"]);
    assert_eq!(names("?name=update.boot&name:like=dist.*"), ["update.boot"], "name wins over name:like");
    let r = s.get("/api/v2.0/testcases?limit=1&page=1");
    assert_eq!(r.data()[0]["name"], "dist.rpmlint");
    assert!(r.json["prev"].is_string() && r.json["next"].is_string());

    s.post("/api/v2.0/groups", &json!({"uuid": "g2", "description": "second"}));
    s.post("/api/v2.0/groups", &json!({"uuid": "g3", "description": "third one"}));
    let uuids = |q: &str| -> Vec<String> {
        s.get(&format!("/api/v2.0/groups{q}")).data().iter().map(|g| g["uuid"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(uuids(""), ["g3", "g2", "g1"], "newest group first");
    assert_eq!(uuids("?description=second"), ["g2"]);
    assert_eq!(uuids("?description:like=*one"), ["g3"]);
    assert_eq!(uuids("?uuid=g1,g3"), ["g3", "g1"]);
    assert_eq!(uuids("?uuid=g1&description=second"), Vec::<String>::new());
    assert_eq!(s.get("/api/v2.0/groups/g3").json["results_count"], 2);
}
