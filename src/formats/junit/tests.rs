//! Unit tests for the JUnit mapping and the XML safety rules.

use super::*;
use crate::formats::{Aggregate, Limits};
use crate::model::Outcomes;

fn run_with(xml: &[u8], opts: &ParseOptions) -> Result<Vec<ResultInput>, FormatError> {
    let mut out = Vec::new();
    parse(xml, opts, |r| {
        out.push(r);
        Ok::<(), FormatError>(())
    })?;
    Ok(out)
}

fn run(xml: &str) -> Result<Vec<ResultInput>, FormatError> {
    run_with(xml.as_bytes(), &ParseOptions::default())
}

#[test]
fn maps_a_small_document() {
    let xml = r#"<testsuites><testsuite name="outer" hostname="h"><properties><property name="item" value="x-1"/>
        <property name="a:b" value="1"/><property name="m" value="1"/><property name="m" value="2"/></properties>
        <testsuite name="inner" timestamp="t0"><properties><property name="m" value="3"/><property name="url" value="u"/></properties>
        <testcase classname="C" name="C.t1" time="0.5" status="run"><error message="boom"/><failure>f</failure></testcase>
        <testcase name="t2"><properties><property name="ref_url" value="r2"/><property name="txt">
 multi
line</property></properties><skipped>
  why
</skipped><system-out>x
[[ATTACHMENT|a.png]]</system-out></testcase>
        </testsuite></testsuite></testsuites>"#;
    let r = run(xml).unwrap();
    assert_eq!(r[0].testcase.name, "C.t1");
    assert_eq!((r[0].outcome.as_str(), r[0].note.as_deref()), ("ERROR", Some("boom")));
    assert_eq!(r[0].data["m"], vec!["3"]);
    assert_eq!(r[0].data["a_b"], vec!["1"]);
    assert_eq!(r[0].data["item"], vec!["x-1"]);
    assert_eq!(r[0].data["suite"], vec!["outer / inner"]);
    assert_eq!(r[0].data["hostname"], vec!["h"]);
    assert_eq!(r[0].data["timestamp"], vec!["t0"]);
    assert_eq!(r[0].data["junit_status"], vec!["run"]);
    assert_eq!(r[0].data["duration"], vec!["0.5"]);
    assert_eq!(r[0].ref_url.as_deref(), Some("u"));
    assert!(!r[0].data.contains_key("url"));
    assert_eq!(r[1].testcase.name, "inner.t2");
    assert_eq!((r[1].outcome.as_str(), r[1].note.as_deref()), ("INFO", Some("skipped: why")));
    assert_eq!(r[1].ref_url.as_deref(), Some("r2"));
    assert_eq!(r[1].data["txt"], vec!["\n multi\nline"]);
    assert_eq!(r[1].data["attachment"], vec!["a.png"]);
}

#[test]
fn run_level_properties_and_odd_nesting() {
    let xml = "<testsuites name='run'><properties><property name='item' value='i'/></properties>\
        <group><testcase name='t'><failure message='m'/></testcase></group></testsuites>";
    let r = run(xml).unwrap();
    assert_eq!((r[0].testcase.name.as_str(), r[0].outcome.as_str()), ("t", "FAILED"));
    assert_eq!(r[0].data["item"], vec!["i"]);
    assert!(!r[0].data.contains_key("suite"));
}

#[test]
fn error_falls_back_to_failed() {
    let opts = ParseOptions { outcomes: Outcomes::new::<&str>(&[]).unwrap(), ..ParseOptions::default() };
    let r = run_with(b"<testsuite><testcase name='a'><error message='m'/></testcase></testsuite>", &opts).unwrap();
    assert_eq!((r[0].outcome.as_str(), r[0].note.as_deref()), ("FAILED", Some("error: m")));
}

#[test]
fn refuses_unsafe_or_broken_documents() {
    let e = run("<!DOCTYPE x [<!ENTITY a 'b'>]><testsuites/>").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused);
    let e = run("<testsuites><testsuite><testcase name='&foo;'/></testsuite></testsuites>").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Syntax, "{e}");
    let e = run("<suites/>").unwrap_err();
    assert_eq!(e.to_string(), "suites (line 1): not a JUnit document: root element <suites>");
    let e = run("<testsuites><testsuite><testcase name='a'></testsuite></testsuites>").unwrap_err();
    assert!(e.to_string().contains("does not match"), "{e}");
    let e = run("<testsuites>\n<testsuite/><testsuite>\n<testcase><failure>abc").unwrap_err();
    assert_eq!(
        e.to_string(),
        "testsuites/testsuite[2]/testcase[1]/failure[1] (line 3): XML parse error: premature end of data (unclosed <failure>)"
    );
    let deep = format!("<testsuites>{}</testsuites>", "<testsuite>".repeat(300));
    assert_eq!(run(&deep).unwrap_err().kind, ErrorKind::Limit);
    let nested: String = "<testsuite name='n'>".repeat(200) + "<testcase name='t'/>" + &"</testsuite>".repeat(200);
    assert_eq!(run(&nested).unwrap()[0].testcase.name, "n.t");
    assert!(run("junk").unwrap_err().message.contains("text before the root"));
    assert!(run("<testsuites/><x/>").is_err());
    assert_eq!(run("").unwrap_err().kind, ErrorKind::Structure);
}

#[test]
fn big_tokens_are_limited() {
    let opts =
        ParseOptions { limits: Limits { xml_max_token_bytes: 1000, ..Limits::default() }, ..ParseOptions::default() };
    let big_attr = format!("<testsuites><testsuite name='{}'/></testsuites>", "x".repeat(5000));
    assert_eq!(run_with(big_attr.as_bytes(), &opts).unwrap_err().kind, ErrorKind::Limit);
    // Bodies we stream are not subject to the token limit.
    let big_out = format!(
        "<testsuites><testcase name='a'><system-out>{}</system-out></testcase></testsuites>",
        "y\n".repeat(50_000)
    );
    assert_eq!(run_with(big_out.as_bytes(), &opts).unwrap().len(), 1);
}

#[test]
fn encodings() {
    let doc = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<testsuite name=\"s\"><testcase name=\"\u{1F600} é\"/></testsuite>";
    let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain(doc.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    assert_eq!(run_with(&utf16, &ParseOptions::default()).unwrap()[0].testcase.name, "s.\u{1F600} é");
    let latin = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><testsuite name=\"s\"><testcase name=\"caf\xE9\"/></testsuite>";
    assert_eq!(run_with(latin, &ParseOptions::default()).unwrap()[0].testcase.name, "s.caf\u{e9}");
    let bad = b"<testsuite name=\"s\"><testcase name=\"caf\xE9\"/></testsuite>";
    assert_eq!(run_with(bad, &ParseOptions::default()).unwrap_err().kind, ErrorKind::Encoding);
}

#[test]
fn aggregation_and_prefix() {
    let opts = ParseOptions {
        aggregate: Aggregate::AllPass,
        testcase: Some("dist.xunit".into()),
        testcase_prefix: "rig.".into(),
        ..ParseOptions::default()
    };
    let xml = b"<testsuite><testcase name='a'/><testcase name='b'><skipped/></testcase><testcase name='c'><failure/></testcase></testsuite>";
    let r = run_with(xml, &opts).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].testcase.name.as_str(), r[0].outcome.as_str()), ("rig.dist.xunit", "FAILED"));
    assert_eq!(r[0].note.as_deref(), Some("1 PASSED, 1 INFO, 1 FAILED"));
}
