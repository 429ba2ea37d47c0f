//! The web pages (issue 11) on a small seeded store: every page renders what matters, a
//! `<script>` testcase name is text, form posts from other sites are refused, the waive
//! and quarantine forms change the gate and the board, tokens work in forms, and
//! `verdict report` writes one self-contained file. `browser_drives_the_pages` runs
//! tests/browser/pages.mjs in Debian's chromium (skipped only when no browser is
//! installed and `VERDICT_REQUIRE_BROWSER` is unset) and saves screenshots under
//! target/screenshots/.

use crate::support::{Resp, TestServer, agent, into_resp, run_cli};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The item the tests look at (its rpmlint x86_64 run fails, depcheck fails everywhere).
pub const ITEM: &str = "bash-5.2.11-1.fc40";
/// Its predecessor (rpmlint passed there: a new failure in the comparison).
pub const BASE_ITEM: &str = "bash-5.2.10-1.fc40";
pub const FLAKY: &str = "dist.rpmlint";
pub const SCRIPT: &str = "<script>alert('x')</script>";

/// Seed results, in submission order: 12 builds × 2 arches; rpmlint flips on x86_64
/// (flaky), depcheck fails from the 7th build on (broken), and a testcase named `<script>`.
pub fn seed_lines() -> String {
    let mut out = String::new();
    let mut push = |tc: &str, item: &str, outcome: &str, arch: &str, note: Option<&str>, duration: Option<u32>| {
        let mut data =
            json!({"item": item, "type": "koji_build", "arch": arch, "scenario": format!("fedora.{arch}.default")});
        if let Some(d) = duration {
            data["duration"] = json!(d.to_string());
        }
        let mut r = json!({"testcase": {"name": tc}, "outcome": outcome, "data": data,
            "ref_url": format!("https://ci.example.org/jobs/{}", out.len())});
        if let Some(n) = note {
            r["note"] = json!(n);
        }
        out.push_str(&r.to_string());
        out.push('\n');
    };
    for i in 0..12u32 {
        let item = format!("bash-5.2.{i}-1.fc40");
        for arch in ["x86_64", "aarch64"] {
            let flips = i % 2 == 1 && arch == "x86_64";
            let (o, n) = if flips { ("FAILED", Some("rpmlint: timeout talking to mirror")) } else { ("PASSED", None) };
            push(FLAKY, &item, o, arch, n, Some(30 + i * 2));
            let (o, n) =
                if i >= 6 { ("FAILED", Some("depcheck: nothing provides libfoo.so.2")) } else { ("PASSED", None) };
            push("dist.depcheck", &item, o, arch, n, Some(12 + i));
            push(
                SCRIPT,
                &item,
                if i % 3 == 0 { "FAILED" } else { "PASSED" },
                arch,
                Some("<b>bold</b> & <i>note</i>"),
                None,
            );
        }
        push("dist.abicheck", &item, "PASSED", "x86_64", None, Some(100 + i * 3));
    }
    out
}

pub fn policies() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/policies/web")
}

/// A seeded store in a temp dir (kept by the returned guard).
pub fn seeded_store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("verdict.db");
    let jsonl = dir.path().join("seed.jsonl");
    std::fs::write(&jsonl, seed_lines()).unwrap();
    let (code, _, err) = run_cli(&["submit", "--db", db.to_str().unwrap(), jsonl.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    (dir, db)
}

/// A server on a fresh seeded store with the web policies and `--auth dummy`.
fn server(extra: &[&str]) -> (tempfile::TempDir, TestServer) {
    let (dir, db) = seeded_store();
    let pol = policies();
    let mut args = vec!["--policies", pol.to_str().unwrap()];
    args.extend_from_slice(extra);
    let s = TestServer::start_on(&db, &args);
    (dir, s)
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

/// Posts a form as a browser on our own page would (Origin: the server).
fn post_form(s: &TestServer, path: &str, fields: &[(&str, &str)], origin: Option<&str>) -> Resp {
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let mut req = agent().post(&s.url(path)).header("Content-Type", "application/x-www-form-urlencoded");
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    into_resp(req.send(body))
}

fn html(s: &TestServer, path: &str) -> String {
    let r = s.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/html")), "{path}");
    r.text
}

fn decision(s: &TestServer) -> Value {
    let body = json!({"decision_context": "bodhi_update_push_stable", "product_version": "fedora-40",
        "subject_type": "koji_build", "subject_identifier": ITEM});
    let r = s.post("/api/v1.0/decision", &body);
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

#[test]
fn every_page_renders_from_a_seeded_store() {
    let (_dir, s) = server(&["--auth", "dummy"]);
    let home = html(&s, "/");
    assert!(home.contains("Flaky keys") && home.contains("Latest failures") && home.contains("No peers"), "{home}");
    let results = html(&s, &format!("/results?outcome=FAILED&item={ITEM}"));
    assert!(results.contains("<option value=\"FAILED\" selected>"), "the filter is reflected");
    assert!(results.contains("o-fail") && !results.contains("badge o-pass"), "only failures, coloured");
    let grid = html(&s, &format!("/testcases/{FLAKY}"));
    assert!(grid.contains("data-outcome=\"FAILED\"") && grid.contains("class=\"cell o-fail\""), "coloured cells");
    assert!(grid.contains("state-flaky") && grid.contains("flip rate"), "the flaky state and reason");
    assert!(grid.contains("<svg class=\"spark\""), "inline SVG trends");
    let item = html(&s, &format!("/items/{ITEM}"));
    assert!(item.contains("data-satisfied=\"false\"") && item.contains("aria-valuenow=\"2\""), "{item}");
    assert!(item.contains("dist.depcheck failed") && item.contains("action=\"/waivers\""), "reasons and waive forms");
    let flaky = html(&s, "/flaky");
    assert!(flaky.contains("data-state=\"flaky\"") && flaky.contains("data-state=\"broken\""), "{flaky}");
    let cmp = html(&s, &format!("/compare?base_item={BASE_ITEM}&head_item={ITEM}&head_type=koji_build"));
    let bucket =
        |id: &str| cmp.split(&format!("id=\"{id}\"")).nth(1).unwrap().split("</section>").next().unwrap().to_owned();
    assert!(bucket("still-failing").contains("dist.depcheck"), "{cmp}");
    assert!(bucket("flaky").contains(FLAKY), "{cmp}");
    html(&s, "/waivers");
    html(&s, "/quarantines");
    let one = html(&s, "/results/1");
    assert!(one.contains("data-verified=\"true\"") && one.contains("Log position"), "{one}");
    // Bad input is a page naming the field, with the API's status.
    let bad = s.get("/results?since=yesterday");
    assert_eq!(bad.status, 400);
    assert!(bad.text.contains("since") && bad.text.contains("<html"), "{}", bad.text);
    assert_eq!(s.get("/results/99999").status, 404);
    // The API keeps its JSON 404 for unknown paths.
    assert_eq!(s.get("/nope").json["message"], "Not found");
}

#[test]
fn a_script_testcase_name_renders_as_text() {
    let (_dir, s) = server(&[]);
    for path in [format!("/testcases/{}", enc(SCRIPT)), format!("/results?testcases:like={}", enc(SCRIPT)), "/".into()]
    {
        let page = html(&s, &path);
        assert!(!page.contains("<script"), "{path}: {page}");
        assert!(page.contains("&lt;script&gt;alert('x')&lt;/script&gt;"), "{path}");
        assert!(!page.contains("<b>bold</b>"), "{path}: notes are text too");
    }
    let r = s.get("/");
    assert!(r.header("content-security-policy").is_some_and(|c| c.contains("default-src 'none'")));
}

#[test]
fn an_empty_store_and_auth_none() {
    let s = TestServer::start();
    for path in ["/", "/results", "/flaky", "/compare", "/waivers", "/quarantines", "/items/x-1-1.fc40"] {
        html(&s, path);
    }
    assert_eq!(s.get("/testcases/none").status, 404);
    // Without --auth there is nobody to record as waiver: no waive buttons.
    let (_dir, s) = server(&[]);
    let item = html(&s, &format!("/items/{ITEM}"));
    assert!(item.contains("data-satisfied=\"false\"") && !item.contains("action=\"/waivers\""), "{item}");
}

#[test]
fn forms_from_other_sites_are_refused() {
    let (_dir, s) = server(&["--auth", "dummy"]);
    let fields = [
        ("subject_type", "koji_build"),
        ("subject_identifier", ITEM),
        ("testcase", "dist.depcheck"),
        ("product_version", "fedora-40"),
        ("comment", "x"),
        ("username", "mallory"),
    ];
    for origin in [None, Some("http://evil.example")] {
        let r = post_form(&s, "/waivers", &fields, origin);
        assert_eq!(r.status, 403, "{origin:?}: {}", r.text);
        assert!(r.text.contains("another site"), "{}", r.text);
    }
    let r = post_form(&s, "/quarantines", &[("testcase", FLAKY), ("reason", "x"), ("username", "m")], None);
    assert_eq!(r.status, 403);
    assert_eq!(s.get("/api/v1.0/waivers/").json["data"].as_array().unwrap().len(), 0);
    // The JSON API itself still refuses form bodies (415), as before.
    let r = s.post_raw_typed("/api/v1.0/waivers/", "testcase=x", Some("application/x-www-form-urlencoded"));
    assert_eq!(r.status, 415);
}

#[test]
fn waive_forms_open_the_gate() {
    let (_dir, s) = server(&["--auth", "dummy"]);
    let unmet = decision(&s)["unsatisfied_requirements"].as_array().unwrap().clone();
    assert_eq!(unmet.len(), 3);
    let back = format!("/items/{}", enc(ITEM));
    for req in &unmet {
        let r = post_form(
            &s,
            "/waivers",
            &[
                ("subject_type", "koji_build"),
                ("subject_identifier", ITEM),
                ("testcase", req["testcase"].as_str().unwrap()),
                ("scenario", req["scenario"].as_str().unwrap()),
                ("product_version", "fedora-40"),
                ("comment", "known <issue>"),
                ("username", "alice"),
                ("back", &back),
            ],
            Some(&s.base),
        );
        assert_eq!(r.status, 303, "{}", r.text);
        assert_eq!(r.header("location"), Some(back.as_str()));
    }
    assert_eq!(decision(&s)["policies_satisfied"], true);
    let item = html(&s, &back);
    assert!(item.contains("data-satisfied=\"true\""), "{item}");
    assert!(item.contains("failed, waived") && item.contains("5 met requirement(s)"), "{item}");
    let waivers = html(&s, "/waivers");
    assert!(waivers.contains("known &lt;issue&gt;") && waivers.contains("alice"), "{waivers}");
    // Without an identity the API's 401 is shown as a page.
    let r = post_form(
        &s,
        "/waivers",
        &[
            ("subject_type", "koji_build"),
            ("subject_identifier", ITEM),
            ("testcase", FLAKY),
            ("product_version", "fedora-40"),
            ("comment", "c"),
        ],
        Some(&s.base),
    );
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.text.contains("<html") && r.text.contains("Authentication required"), "{}", r.text);
}

#[test]
fn quarantine_forms_add_and_revoke() {
    let (_dir, s) = server(&["--auth", "dummy"]);
    assert_eq!(decision(&s)["progress"]["satisfied"], 2);
    let r = post_form(
        &s,
        "/quarantines",
        &[
            ("testcase", FLAKY),
            ("scenario", "fedora.x86_64.default"),
            ("reason", "flaky: mirror"),
            ("username", "alice"),
            ("back", "/flaky"),
        ],
        Some(&s.base),
    );
    assert_eq!(r.status, 303, "{}", r.text);
    let board = html(&s, "/flaky");
    assert!(board.contains("quarantined"), "{board}");
    // The rule covers the item's failed rpmlint run: one more requirement met.
    let d = decision(&s);
    assert_eq!(d["progress"]["satisfied"], 3, "{d}");
    let covered = d["satisfied_requirements"].as_array().unwrap().iter().any(|r| {
        r["testcase"] == FLAKY && r["scenario"] == "fedora.x86_64.default" && r["type"] == "test-result-failed-waived"
    });
    assert!(covered, "{d}");
    let rules = s.get("/api/verdict/v1/quarantines").json["data"].as_array().unwrap().clone();
    assert_eq!(rules.len(), 1);
    let id = rules[0]["id"].as_str().unwrap();
    let bad = post_form(&s, "/quarantines", &[("testcase", FLAKY), ("username", "alice")], Some(&s.base));
    assert_eq!(bad.status, 400);
    assert!(bad.text.contains("reason"), "the refusal names the field: {}", bad.text);
    let r = post_form(&s, "/quarantines/revoke", &[("id", id), ("username", "alice")], Some(&s.base));
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(s.get(&format!("/api/verdict/v1/quarantines/{id}")).json["revoked"], true);
    assert!(!html(&s, "/flaky").contains("quarantined"));
}

#[test]
fn forms_take_a_token_in_tokens_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (code, toml, err) = run_cli(&["token", "--user", "alice", "--testcases", "*", "--waive"], None);
    assert_eq!(code, 0);
    let token = err.trim().rsplit(' ').next().unwrap().to_owned();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(&tokens, toml).unwrap();
    let (_d, s) = server(&["--auth", "tokens", "--tokens", tokens.to_str().unwrap()]);
    let item = html(&s, &format!("/items/{ITEM}"));
    assert!(item.contains("name=\"token\"") && item.contains("type=\"password\""), "a token field");
    let wrong =
        post_form(&s, "/quarantines", &[("testcase", FLAKY), ("reason", "r"), ("token", "nope")], Some(&s.base));
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    let ok = post_form(&s, "/quarantines", &[("testcase", FLAKY), ("reason", "r"), ("token", &token)], Some(&s.base));
    assert_eq!(ok.status, 303, "{}", ok.text);
}

/// The browser, node and playwright-core, or why they are missing.
fn browser_setup() -> Result<(PathBuf, PathBuf), String> {
    let chromium = PathBuf::from(std::env::var("VERDICT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if !chromium.exists() {
        return Err(format!("no browser at {} (apt-get install chromium)", chromium.display()));
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        return Err("tests/browser/node_modules is missing (cd tests/browser && npm ci)".into());
    }
    Ok((chromium, dir))
}

#[test]
fn browser_drives_the_pages() {
    let (chromium, dir) = match browser_setup() {
        Ok(found) => found,
        Err(why) if std::env::var_os("VERDICT_REQUIRE_BROWSER").is_none() => {
            eprintln!("skipping the browser test: {why}");
            return;
        }
        Err(why) => panic!("VERDICT_REQUIRE_BROWSER is set but {why}"),
    };
    let (_d, s) = server(&["--auth", "dummy"]);
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    let out = std::process::Command::new("node")
        .arg(dir.join("pages.mjs"))
        .args([s.base.as_str(), shots.to_str().unwrap(), ITEM, FLAKY, SCRIPT])
        .env("VERDICT_CHROMIUM", &chromium)
        .env("BASE_ITEM", BASE_ITEM)
        .env("GATED_ITEM", "bash-5.2.9-1.fc40")
        .output()
        .expect("run node");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser checks failed:\n{text}");
    assert!(shots.join("grid.png").exists() && shots.join("item.png").exists());
}

#[test]
fn the_report_is_one_self_contained_file() {
    let (dir, db) = seeded_store();
    let out = dir.path().join("report.html");
    let (code, stdout, err) =
        run_cli(&["report", "--db", db.to_str().unwrap(), "--item", ITEM, "-o", out.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("store verified"), "{stdout}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains(" src="), "no script, no fetch");
    assert!(html.contains("<style>") && html.contains("prefers-color-scheme"), "CSS inline");
    assert!(html.contains("default-src 'none'"), "a CSP forbids scripts");
    assert!(html.contains("data-verified=\"true\"") && html.contains("Chain heads"), "verify and heads");
    assert!(html.contains("class=\"cell o-fail\"") && html.contains("state-flaky"), "grids and the flaky board");
    assert!(html.contains("id=\"new-failures\""), "the comparison with the last good build");
    assert!(html.contains("&lt;script&gt;"), "names escaped");
    assert!(!html.contains("<base"), "links stay relative unless asked");
    let args = ["report", "--db", db.to_str().unwrap(), "--testcase-like", "dist.*", "--since", "2026-01-01"];
    let (code, _, err) = run_cli(
        &[&args[..], &["--link-base", "https://verdict.example.org", "-o", out.to_str().unwrap()]].concat(),
        None,
    );
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("<base href=\"https://verdict.example.org\">") && html.contains("dist.depcheck"));
    assert!(!html.contains("<h3>&lt;script"), "only the testcases matched get a grid");
    let (code, _, err) = run_cli(&["report", "--db", db.to_str().unwrap(), "-o", out.to_str().unwrap()], None);
    assert_ne!(code, 0);
    assert!(err.contains("--item"), "{err}");
}
