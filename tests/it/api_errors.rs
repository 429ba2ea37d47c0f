//! Bad input gets upstream's status and error body, and stores nothing.

use crate::support::TestServer;
use serde_json::{Value, json};

/// A request body and the (loc, msg, type) errors it must produce.
type Case = (Value, Vec<(Value, &'static str, &'static str)>);

/// (loc, msg, type) of every validation error in a 400 body.
fn errors(v: &Value) -> Vec<(Value, String, String)> {
    v["validation_error"]
        .as_array()
        .unwrap_or_else(|| panic!("no validation_error in {v}"))
        .iter()
        .map(|e| {
            let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["input", "loc", "msg", "type", "url"]);
            (e["loc"].clone(), e["msg"].as_str().unwrap().to_owned(), e["type"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn invalid_result_bodies() {
    let s = TestServer::start_with(&["--outcomes", "AMAZING"]);
    let must = "Value error, must be one of: PASSED, INFO, FAILED, NEEDS_INSPECTION, AMAZING";
    let cases: Vec<Case> = vec![
        (json!({"testcase": "t"}), vec![(json!(["outcome"]), "Field required", "missing")]),
        (json!({"outcome": "PASSED"}), vec![(json!(["testcase"]), "Field required", "missing")]),
        (json!({"testcase": "t", "outcome": "WEIRD"}), vec![(json!(["outcome"]), must, "value_error")]),
        (
            json!({"testcase": "t", "outcome": "  "}),
            vec![(json!(["outcome"]), "String should have at least 1 character", "string_too_short")],
        ),
        (
            json!({"testcase": "t", "outcome": 5}),
            vec![(json!(["outcome"]), "Input should be a valid string", "string_type")],
        ),
        (
            json!({"testcase": "", "outcome": "PASSED"}),
            vec![(json!(["testcase"]), "Value error, testcase name must be non-empty", "value_error")],
        ),
        (
            json!({"testcase": {}, "outcome": "PASSED"}),
            vec![(json!(["testcase"]), "Value error, testcase name must be non-empty", "value_error")],
        ),
        (
            json!({"testcase": {"name": ""}, "outcome": "PASSED"}),
            vec![(json!(["testcase"]), "Value error, testcase name must be non-empty", "value_error")],
        ),
        (
            json!({"testcase": 5, "outcome": "PASSED"}),
            vec![(json!(["testcase"]), "Input should be a valid dictionary", "dict_type")],
        ),
        (
            json!({"testcase": "t", "outcome": "PASSED", "data": [1]}),
            vec![(json!(["data"]), "Input should be a valid dictionary", "dict_type")],
        ),
        (
            json!({"testcase": "t", "outcome": "PASSED", "groups": "g"}),
            vec![(json!(["groups"]), "Input should be a valid list", "list_type")],
        ),
        (
            json!({"testcase": "t", "outcome": "PASSED", "note": 1}),
            vec![(json!(["note"]), "Input should be a valid string", "string_type")],
        ),
        (
            json!({"testcase": "t", "outcome": "PASSED", "submit_time": "2022-08-24T06:54:57"}),
            vec![(
                json!(["submit_time"]),
                "Value error, Expected timestamp in milliseconds or datetime (in format YYYY-MM-DDTHH:MM:SS.ffffff), got '2022-08-24T06:54:57'",
                "value_error",
            )],
        ),
        (
            json!({"testcase": "t", "outcome": "PASSED", "submit_time": "now"}),
            vec![(
                json!(["submit_time"]),
                "Value error, Expected timestamp in milliseconds or datetime (in format YYYY-MM-DDTHH:MM:SS.ffffff), got 'now'",
                "value_error",
            )],
        ),
        (
            json!(0),
            vec![(json!([]), "Input should be a valid dictionary or instance of CreateResultParams", "model_type")],
        ),
        (
            json!(null),
            vec![(json!([]), "Input should be a valid dictionary or instance of CreateResultParams", "model_type")],
        ),
    ];
    for (body, want) in cases {
        let r = s.post("/api/v2.0/results", &body);
        assert_eq!(r.status, 400, "{body} -> {}", r.text);
        let got = errors(&r.json);
        let want: Vec<(Value, String, String)> =
            want.into_iter().map(|(l, m, t)| (l, m.to_owned(), t.to_owned())).collect();
        assert_eq!(got, want, "{body}");
    }
    let r =
        s.post("/api/v2.0/results", &json!({"testcase": "t", "outcome": "PASSED", "data": {"scm:url": "x", "a:b": 1}}));
    assert_eq!(
        (r.status, r.json.clone()),
        (400, json!({"message": "Colon not allowed in key name: ['a:b', 'scm:url']"}))
    );
    let r = s.post_raw("/api/v2.0/results", "{\"testcase\": ", &[]);
    assert_eq!((r.status, r.json.clone()), (400, json!({"message": "Bad request"})));
    assert_eq!(s.count(), 0, "a refused write must store nothing");
    assert_eq!(s.get("/api/v2.0/testcases").data().len(), 0);
}

#[test]
fn body_over_the_limit_is_refused() {
    let s = TestServer::start_with(&["--max-body", "1000"]);
    let big = json!({"testcase": "t", "outcome": "PASSED", "note": "x".repeat(2000)});
    let r = s.post("/api/v2.0/results", &big);
    assert_eq!(r.status, 413);
    assert!(r.json["message"].as_str().unwrap().contains("1000 bytes"));
    assert_eq!(s.count(), 0);
}

#[test]
fn invalid_testcase_and_group_bodies() {
    let s = TestServer::start();
    let r = s.post("/api/v2.0/testcases", &json!({"name": ""}));
    assert_eq!(
        errors(&r.json),
        vec![(json!(["name"]), "String should have at least 1 character".into(), "string_too_short".into())]
    );
    let r = s.post("/api/v2.0/testcases", &json!({}));
    assert_eq!(errors(&r.json), vec![(json!(["name"]), "Field required".into(), "missing".into())]);
    let r = s.post("/api/v2.0/groups", &json!({"uuid": "x".repeat(65)}));
    assert_eq!(r.status, 400);
    let r = s.post("/api/v2.0/groups", &json!([1]));
    assert_eq!(errors(&r.json)[0].2, "model_type");
    assert_eq!(s.get("/api/v2.0/groups").data().len(), 0);
}

#[test]
fn invalid_query_parameters() {
    let s = TestServer::start();
    let r = s.get("/api/v2.0/results?limit=abc");
    assert_eq!(r.status, 400);
    assert_eq!(
        errors(&r.json),
        vec![(
            json!(["limit"]),
            "Input should be a valid integer, unable to parse string as an integer".into(),
            "int_parsing".into()
        )]
    );
    let r = s.get("/api/v2.0/results?page=x");
    assert_eq!(errors(&r.json)[0].0, json!(["page"]));
    let r = s.get("/api/v2.0/results?since=yesterday");
    assert_eq!(
        errors(&r.json),
        vec![(json!(["since"]), "Value error, must be in ISO8601 format".into(), "value_error".into())]
    );
    let r = s.get("/api/v2.0/results?outcome=PASSED,MEH");
    assert_eq!(errors(&r.json)[0].0, json!(["outcome"]));
    let r = s.get("/api/v2.0/results?limit=1001");
    assert_eq!(
        errors(&r.json),
        vec![(json!(["limit"]), "Input should be less than or equal to 1000".into(), "less_than_equal".into())]
    );
    let r = s.get("/api/v2.0/testcases?limit=x");
    assert_eq!(r.status, 400);
    let r = s.get("/api/v2.0/results/latest?_distinct_on=scenario");
    assert_eq!(
        (r.status, r.json.clone()),
        (400, json!({"message": "Please, provide at least one filter beside '_distinct_on'"}))
    );
}
