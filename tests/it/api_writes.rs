//! Writes through HTTP: result, testcase and group creation, shapes, idempotency, concurrency.

use crate::support::TestServer;
use serde_json::json;

#[test]
fn landing_healthcheck_and_unknown_routes() {
    let s = TestServer::start_with(&["--outcomes", "AMAZING"]);
    for path in ["/api/v2.0", "/api/v2.0/"] {
        let r = s.get(path);
        assert_eq!(r.status, 300, "{path}");
        assert_eq!(r.json["outcomes"], json!(["PASSED", "INFO", "FAILED", "NEEDS_INSPECTION", "AMAZING"]));
        assert_eq!(r.json["results"], json!(format!("{}/api/v2.0/results", s.base)));
        assert_eq!(r.json["documentation"], json!("http://docs.resultsdb20.apiary.io/"));
    }
    let h = s.get("/api/v2.0/healthcheck");
    assert_eq!((h.status, h.json.clone()), (200, json!({"message": "Health check OK"})));
    let nf = s.get("/api/v2.0/nope");
    assert_eq!((nf.status, nf.json.clone()), (404, json!({"message": "Not found"})));
    assert_eq!(s.post("/api/v2.0/healthcheck", &json!({})).status, 405);
}

#[test]
fn result_shape_and_wire_format() {
    let s = TestServer::start();
    let r = s.post(
        "/api/v2.0/results",
        &json!({
            "testcase": {"name": "dist.rpmlint", "ref_url": "https://tc"},
            "outcome": " passed ",
            "note": "0 errors, 30 warnings — ünïcode 😀",
            "ref_url": "https://log",
            "data": {"item": "koschei-1.7.2-1.fc24", "type": "koji_build", "arch": ["x86_64", "noarch"],
                     "t": true, "f": false, "n": null, "one": 1.0, "big": 1e20, "int": 7, "obj": {"a": 1}, "empty": []},
            "groups": ["27f94e36-62ec-11e6-83fd-525400d7d6a4", {"description": "desc"}],
            "submit_time": "2016-08-15T13:29:06.123000",
            "_auth": null
        }),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.text.ends_with("}\n"));
    assert!(r.text.is_ascii(), "non-ASCII must be escaped");
    assert!(r.text.contains("\\u00fcn\\u00efcode \\ud83d\\ude00"));
    let v = &r.json;
    let id = v["id"].as_i64().unwrap();
    assert_eq!(v["href"], json!(format!("{}/api/v2.0/results/{id}", s.base)));
    assert_eq!(v["outcome"], "PASSED");
    assert_eq!(v["submit_time"], "2016-08-15T13:29:06.123000");
    assert_eq!(
        v["testcase"],
        json!({"href": format!("{}/api/v2.0/testcases/dist.rpmlint", s.base), "name": "dist.rpmlint", "ref_url": "https://tc"})
    );
    assert_eq!(
        v["data"],
        json!({"arch": ["x86_64", "noarch"], "big": ["1e+20"], "f": ["False"], "int": ["7"], "item": ["koschei-1.7.2-1.fc24"],
               "n": ["None"], "obj": ["{'a': 1}"], "one": ["1.0"], "t": ["True"], "type": ["koji_build"]})
    );
    assert_eq!(v["groups"][0], "27f94e36-62ec-11e6-83fd-525400d7d6a4");
    assert_eq!(v["groups"].as_array().unwrap().len(), 2);
    assert_eq!(v["ref_url"], "https://log");
    // Keys are sorted in the wire text.
    let keys: Vec<&str> = [
        "\"data\"",
        "\"groups\"",
        "\"href\"",
        "\"id\"",
        "\"note\"",
        "\"outcome\"",
        "\"ref_url\"",
        "\"submit_time\"",
        "\"testcase\"",
        "\"uuid\"",
    ]
    .into_iter()
    .collect();
    let positions: Vec<usize> = keys.iter().map(|k| r.text.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "keys not sorted: {}", r.text);
    // GET by id returns the same object.
    let g = s.get(&format!("/api/v2.0/results/{id}"));
    assert_eq!(g.status, 200);
    assert_eq!(g.json, r.json);
    assert_eq!(s.get("/api/v2.0/results/999").json, json!({"message": "Result not found"}));
    assert_eq!(s.get("/api/v2.0/results/abc").status, 404);
}

#[test]
fn submit_time_forms() {
    let s = TestServer::start();
    let cases = [
        (json!(1661324097123i64), "2022-08-24T06:54:57.123000"),
        (json!("1661324097123"), "2022-08-24T06:54:57.123000"),
        (json!("2024-05-01T12:34:56.123456"), "2024-05-01T12:34:56.123456"),
        (json!("2024-05-01T12:34:56.0Z"), "2024-05-01T12:34:56"),
        (json!("2024-05-01T12:34:56.5+00"), "2024-05-01T12:34:56.500000"),
        (json!("2024-05-01T12:00:00.0+02:00"), "2024-05-01T10:00:00"),
    ];
    for (input, want) in cases {
        let r = s.result(json!({"testcase": "t", "outcome": "PASSED", "submit_time": input}));
        assert_eq!(r["submit_time"], want, "{input}");
    }
    // Absent: server time, microsecond precision, no zone.
    let r = s.result(json!({"testcase": "t", "outcome": "PASSED"}));
    let t = r["submit_time"].as_str().unwrap();
    assert!(t.len() >= 19 && !t.ends_with('Z'), "{t}");
}

#[test]
fn testcase_ref_url_rules() {
    let s = TestServer::start();
    s.result(json!({"testcase": {"name": "tc", "ref_url": "u1"}, "outcome": "PASSED"}));
    // String form and object without ref_url leave it.
    let r = s.result(json!({"testcase": "tc", "outcome": "PASSED"}));
    assert_eq!(r["testcase"]["ref_url"], "u1");
    s.result(json!({"testcase": {"name": "tc"}, "outcome": "PASSED"}));
    assert_eq!(s.get("/api/v2.0/testcases/tc").json["ref_url"], "u1");
    // Explicit null clears it; old results render the current value.
    s.result(json!({"testcase": {"name": "tc", "ref_url": null}, "outcome": "PASSED"}));
    let all = s.get("/api/v2.0/results?testcases=tc");
    assert!(all.data().iter().all(|r| r["testcase"]["ref_url"].is_null()));
    // POST /testcases: 201 on create and on update; null ref_url does not clear.
    let c = s.post("/api/v2.0/testcases", &json!({"name": "tc", "ref_url": "u2"}));
    assert_eq!((c.status, c.json["ref_url"].clone()), (201, json!("u2")));
    let c = s.post("/api/v2.0/testcases", &json!({"name": "tc", "ref_url": null}));
    assert_eq!((c.status, c.json["ref_url"].clone()), (201, json!("u2")));
    let c = s.post("/api/v2.0/testcases", &json!({"name": "new/with/slashes"}));
    assert_eq!(c.status, 201);
    assert_eq!(c.json["href"], json!(format!("{}/api/v2.0/testcases/new/with/slashes", s.base)));
    assert_eq!(s.get("/api/v2.0/testcases/new/with/slashes").json["name"], "new/with/slashes");
    assert_eq!(s.get("/api/v2.0/testcases/missing").json, json!({"message": "Testcase not found"}));
}

#[test]
fn groups_create_update_and_embedded() {
    let s = TestServer::start();
    let g = s.post("/api/v2.0/groups", &json!({"uuid": "g1", "description": "first", "ref_url": "r1"}));
    assert_eq!(g.status, 201);
    assert_eq!(
        g.json,
        json!({"description": "first", "href": format!("{}/api/v2.0/groups/g1", s.base), "ref_url": "r1",
               "results": format!("{}/api/v2.0/results?groups=g1", s.base), "results_count": 0, "uuid": "g1"})
    );
    // Empty strings do not overwrite on POST /groups.
    let g = s.post("/api/v2.0/groups", &json!({"uuid": "g1", "description": ""}));
    assert_eq!(g.json["description"], "first");
    // A generated uuid when absent; empty object allowed.
    let g = s.post("/api/v2.0/groups", &json!({}));
    assert_eq!(g.status, 201);
    assert_eq!(g.json["uuid"].as_str().unwrap().len(), 36);
    // Result-embedded group objects overwrite with null when the key is present.
    s.result(json!({"testcase": "t", "outcome": "PASSED", "groups": [{"uuid": "g1", "description": null}]}));
    let g = s.get("/api/v2.0/groups/g1");
    assert_eq!(
        (g.json["description"].clone(), g.json["ref_url"].clone(), g.json["results_count"].clone()),
        (json!(null), json!("r1"), json!(1))
    );
    assert_eq!(s.get("/api/v2.0/groups/nope").json, json!({"message": "Group not found"}));
    assert_eq!(s.get("/api/v2.0/groups/nope/results").json, json!({"message": "Group not found: nope"}));
    let gr = s.get("/api/v2.0/groups/g1/results");
    assert_eq!(gr.data().len(), 1);
}

#[test]
fn idempotent_retries_do_not_duplicate() {
    let s = TestServer::start();
    let body = json!({"testcase": "t", "outcome": "PASSED"}).to_string();
    let a = s.post_raw("/api/v2.0/results", &body, &[("Idempotency-Key", "job-42-attempt")]);
    let b = s.post_raw("/api/v2.0/results", &body, &[("Idempotency-Key", "job-42-attempt")]);
    assert_eq!((a.status, b.status), (201, 201));
    assert_eq!(a.json, b.json);
    assert_eq!(b.header("idempotent-replayed"), Some("true"));
    assert_eq!(a.header("idempotent-replayed"), None);
    // A client-chosen uuid works the same way.
    let u = "6f0b1f52-1c9e-4a8e-9d43-6f1c2c7c9b10";
    let c = s.result(json!({"testcase": "t", "outcome": "FAILED", "uuid": u}));
    let d = s.result(json!({"testcase": "t", "outcome": "FAILED", "uuid": u.to_uppercase()}));
    assert_eq!(c, d);
    assert_eq!(c["uuid"], u);
    assert_eq!(s.count(), 2);
}

#[test]
fn concurrent_posts_are_all_stored_once() {
    let s = TestServer::start();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let base = s.base.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                (0..25)
                    .map(|i| {
                        let mut r = agent
                            .post(&format!("{base}/api/v2.0/results"))
                            .header("Content-Type", "application/json")
                            .send(json!({"testcase": format!("t{}", i % 3), "outcome": "PASSED", "data": {"item": format!("i{t}")}}).to_string())
                            .unwrap();
                        assert_eq!(r.status().as_u16(), 201);
                        let v: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                        v["id"].as_i64().unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<i64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 400);
    assert_eq!(s.count(), 400);
    assert_eq!(s.get("/api/v2.0/results?item=i3&limit=100").data().len(), 25);
}

#[test]
fn proxy_headers_shape_urls() {
    let s = TestServer::start();
    s.result(json!({"testcase": "t", "outcome": "PASSED"}));
    let r = s.get_with(
        "/api/v2.0/results?limit=1",
        &[("X-Forwarded-Host", "rdb.example.org"), ("X-Forwarded-Scheme", "https"), ("X-Script-Name", "/resultsdb")],
    );
    assert_eq!(r.data()[0]["href"], "https://rdb.example.org/resultsdb/api/v2.0/results/1");
}
