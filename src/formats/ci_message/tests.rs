//! Table tests of the CI message mapping, and the golden test over `fixtures/ci-messages/`.

use super::*;

#[test]
fn dump() {
    for e in std::fs::read_dir(format!("{}/fixtures/ci-messages", env!("CARGO_MANIFEST_DIR"))).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "json") { continue; }
        let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let r = map_message(v["topic"].as_str().unwrap(), &v["body"], &Outcomes::default_set(), &InputLimits::default());
        println!("{}: {r:?}", p.display());
    }
}
