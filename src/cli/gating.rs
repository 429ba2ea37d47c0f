//! `verdict policy check DIR` and `verdict decide`: policies and decisions offline.

use super::{DecideArgs, PolicyCommand};
use crate::gating::{Gate, load_policies};
use crate::model::Timestamp;
use crate::service::local::ReadOnly;
use crate::service::render::Urls;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::Path;

/// Loads `DIR/*.yaml` (in name order) into a gate; a file that does not parse is an error
/// naming the file, line and reason.
pub(super) fn load_gate(dir: &Path) -> Result<Gate> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("policies directory {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    names.sort();
    let mut files = Vec::with_capacity(names.len());
    for p in names {
        let text = std::fs::read_to_string(&p).with_context(|| format!("{}", p.display()))?;
        files.push((p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), text));
    }
    let policies = load_policies(&files).map_err(|e| anyhow::anyhow!("invalid policies in {}:\n{e}", dir.display()))?;
    Ok(Gate::new(policies))
}

pub(super) fn policy(cmd: PolicyCommand) -> Result<i32> {
    match cmd {
        PolicyCommand::Check { dir } => match load_gate(&dir) {
            Ok(gate) => {
                println!("OK: {} polic(ies) in {}", gate.policies.len(), dir.display());
                for p in &gate.policies {
                    println!("  {}", p.id.as_deref().unwrap_or("(no id)"));
                }
                Ok(0)
            }
            Err(e) => {
                println!("{e}");
                Ok(1)
            }
        },
    }
}

pub(super) fn decide_cmd(db: &Path, args: DecideArgs) -> Result<i32> {
    let gate = load_gate(&args.policies)?;
    let store = ReadOnly::open(db)?;
    let mut body = json!({
        "subject_type": args.subject_type,
        "subject_identifier": args.subject,
        "decision_context": args.context,
        "product_version": args.product_version,
        "verbose": false,
    });
    if let Some(when) = &args.when {
        body["when"] = json!(when);
    }
    let urls = Urls::new("http://127.0.0.1:5001");
    let decision = store.decide(&gate, &body, &urls, Timestamp::now());
    let decision = match decision {
        Ok(d) => d,
        Err(e) => bail!("{e}"),
    };
    if args.json {
        println!("{}", String::from_utf8_lossy(crate::service::render::to_wire(&decision).trim_ascii_end()));
        return Ok(if decision["policies_satisfied"] == Value::Bool(true) { 0 } else { 2 });
    }
    println!("{}", decision["summary"].as_str().unwrap_or(""));
    for (status, key) in [("ok  ", "satisfied_requirements"), ("FAIL", "unsatisfied_requirements")] {
        for r in decision[key].as_array().into_iter().flatten() {
            println!("{status} {}", describe(r));
        }
    }
    Ok(if decision["policies_satisfied"] == Value::Bool(true) { 0 } else { 2 })
}

/// One requirement, for people: testcase, scenario, what was found.
fn describe(r: &Value) -> String {
    let s = |k: &str| r[k].as_str().unwrap_or("").to_owned();
    let mut line = format!("{:<45} {}", s("testcase"), s("type"));
    if let Some(sc) = r["scenario"].as_str() {
        line.push_str(&format!(" (scenario {sc})"));
    }
    if let Some(id) = r["result_id"].as_i64() {
        line.push_str(&format!(" result {id}"));
    }
    if let Some(id) = r["waiver_id"].as_i64() {
        line.push_str(&format!(" waiver {id}"));
    }
    line
}
