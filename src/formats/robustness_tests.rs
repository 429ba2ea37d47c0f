//! Property tests: arbitrary and mutated bytes never panic any parser or `detect`; each
//! input either parses or yields an error with a non-empty message.

use super::*;
use proptest::prelude::*;
use std::sync::OnceLock;

const ALL: [Format; 7] = [
    Format::ResultsdbJson,
    Format::JsonLines,
    Format::Ctrf,
    Format::Tap,
    Format::ResultYaml,
    Format::Junit,
    Format::Subunit,
];

/// Runs every parser (and detection) on `bytes`; panics only if one of them does.
fn exercise(name: &str, bytes: &[u8]) {
    let _ = detect(name, bytes);
    let opts = ParseOptions { file_stem: "fuzz".into(), ..ParseOptions::default() };
    for f in ALL {
        if let Err(e) = parse_to_vec(f, bytes, &opts) {
            assert!(!e.to_string().is_empty());
        }
    }
}

fn fixtures() -> &'static Vec<(String, Vec<u8>)> {
    static CACHE: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    CACHE.get_or_init(|| {
        let root = format!("{}/fixtures", env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        for dir in ["resultsdb-json", "tap", "resultyaml", "junit", "ctrf", "subunit", "bad"] {
            for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().into_string().unwrap();
                out.push((name, std::fs::read(entry.path()).unwrap()));
            }
        }
        out.sort();
        out
    })
}

#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = bytes.len().max(1);
        match e {
            Edit::Flip(i, x) => {
                if let Some(b) = bytes.get_mut(i % len) {
                    *b ^= *x;
                }
            }
            Edit::Insert(i, ins) => {
                let at = (i % len).min(bytes.len());
                bytes.splice(at..at, ins.iter().copied());
            }
            Edit::Delete(i, n) => {
                let at = (i % len).min(bytes.len());
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
            Edit::Truncate(i) => bytes.truncate(i % len),
        }
    }
    bytes
}

/// Fragments that reach deep into the text grammars when spliced in.
const TOKENS: &[&str] = &[
    "<testsuite>",
    "</testsuite>",
    "<testcase name='a'>",
    "</testcase>",
    "<failure>",
    "<![CDATA[",
    "]]>",
    "&amp;",
    "&#x1F600;",
    "<!--",
    "-->",
    "<system-out>",
    "</system-out>",
    "\n",
    "\r\n",
    "  ---\n",
    "  ...\n",
    "    ",
    "\t",
    "ok 1 - x # SKIP y\n",
    "not ok\n",
    "1..3\n",
    "Bail out!\n",
    "TAP version 13\n",
    "{\"a\":",
    "[",
    "]",
    "}",
    "results:\n- ",
    "checkname: x\n",
    "<<: *a\n",
    "&a ",
    "\u{feff}",
    "\\#",
    "\u{0}",
    "\u{FFFD}",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Edit::Flip(i, x)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 0..16)).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), proptest::sample::select(TOKENS)).prop_map(|(i, t)| Edit::Insert(i, t.as_bytes().to_vec())),
        (any::<usize>(), 0usize..64).prop_map(|(i, n)| Edit::Delete(i, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise("fuzz.bin", &bytes);
    }

    #[test]
    fn token_soup_never_panics(parts in proptest::collection::vec(proptest::sample::select(TOKENS), 0..64)) {
        exercise("soup", parts.concat().as_bytes());
    }

    #[test]
    fn mutated_fixtures_never_panic(pick in any::<usize>(), edits in proptest::collection::vec(edit(), 1..8)) {
        let all = fixtures();
        let (name, bytes) = &all[pick % all.len()];
        exercise(name, &apply(bytes.clone(), &edits));
    }
}

#[test]
fn deep_and_wide_inputs_are_refused_not_crashing() {
    exercise("deep.json", "[".repeat(100_000).as_bytes());
    exercise("deep.yaml", format!("results:\n{}", "- ".repeat(50_000)).as_bytes());
    exercise("deep.xml", "<a>".repeat(100_000).as_bytes());
    let tap: String = (0..200).map(|i| format!("{}ok {i}\n", " ".repeat(4 * i))).collect();
    exercise("deep.tap", tap.as_bytes());
    exercise("plan.tap", b"1..18446744073709551615\nok\n");
    exercise("plan.tap", b"1..99999999999999999999999\n");
    let laughs = "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nresults:\n- {checkname: x, n: *f}\n";
    exercise("laughs.yaml", laughs.as_bytes());
}
