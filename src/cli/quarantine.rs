//! `verdict quarantine add|list|revoke`: standing rules that keep a flaky test from
//! blocking decisions, written on the store file through the service (access to the file
//! is the right; `--owner` names whom a rule is for, the operator being recorded as proxy).

use crate::service::QuarantineFilter;
use crate::service::local::ReadOnly;
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Create a rule; prints its id.
    Add(AddArgs),
    /// List the rules (standing and not), oldest first.
    List {
        /// Print the rules as a JSON array.
        #[arg(long)]
        json: bool,
        /// Only standing (true) or only revoked/expired (false) rules.
        #[arg(long, value_name = "BOOL")]
        active: Option<bool>,
    },
    /// Revoke a rule by its id (a newer log entry; the rule is never deleted).
    Revoke { id: String },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Testcase glob (fnmatch: *, ?, [set]).
    #[arg(long, value_name = "GLOB")]
    pub testcase: String,
    /// Exact scenario the requirement must have.
    #[arg(long, value_name = "S")]
    pub scenario: Option<String>,
    /// Product version glob (e.g. 'fedora-*').
    #[arg(long, value_name = "GLOB")]
    pub product_version: Option<String>,
    /// Subject type (e.g. koji_build).
    #[arg(long, value_name = "T")]
    pub subject_type: Option<String>,
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Whom the rule is for (default: $USER).
    #[arg(long, value_name = "NAME")]
    pub owner: Option<String>,
    /// When the rule stops applying (ISO 8601, UTC when no zone is given).
    #[arg(long, value_name = "TIME")]
    pub expires_at: Option<String>,
    /// Consecutive passes of a key that release it (default 5).
    #[arg(long, value_name = "N")]
    pub release_after_passes: Option<u32>,
}

pub(super) fn quarantine(db: &Path, cmd: QuarantineCommand) -> Result<i32> {
    match cmd {
        QuarantineCommand::List { json, active } => list(db, json, active),
        QuarantineCommand::Add(args) => {
            let mut body = json!({"testcase": args.testcase, "reason": args.reason});
            let fields = [
                ("scenario", args.scenario.map(Value::from)),
                ("product_version", args.product_version.map(Value::from)),
                ("subject_type", args.subject_type.map(Value::from)),
                ("owner", args.owner.map(Value::from)),
                ("expires_at", args.expires_at.map(Value::from)),
                ("release_after_passes", args.release_after_passes.map(Value::from)),
            ];
            for (k, v) in fields {
                if let Some(v) = v {
                    body[k] = v;
                }
            }
            let rule =
                super::write_as(db, |s, op| async move { s.post_quarantine_as(&body, &op).await.map(|(v, _)| v) })?;
            println!("{} {}", rule["id"].as_str().unwrap_or_default(), rule["testcase"].as_str().unwrap_or_default());
            Ok(0)
        }
        QuarantineCommand::Revoke { id } => {
            let rule = super::write_as(db, |s, op| async move { s.revoke_quarantine_as(&id, &op).await })?;
            println!("revoked {}", rule["id"].as_str().unwrap_or_default());
            Ok(0)
        }
    }
}

fn list(db: &Path, as_json: bool, active: Option<bool>) -> Result<i32> {
    let store = ReadOnly::open(db)?;
    let rules = store.quarantines(&QuarantineFilter { active, ..QuarantineFilter::default() })?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&rules)?);
        return Ok(0);
    }
    for r in &rules {
        let text = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
        let state = if r["active"] == true {
            "active"
        } else if r["revoked"] == true {
            "revoked"
        } else {
            "inactive"
        };
        println!(
            "{}  {:<8} {}  scenario={} product_version={} subject_type={} owner={} expires={} release_after={}  {}",
            text("id"),
            state,
            text("testcase"),
            text("scenario"),
            text("product_version"),
            text("subject_type"),
            text("owner"),
            text("expires_at"),
            r["release_after_passes"],
            text("reason"),
        );
    }
    Ok(0)
}
