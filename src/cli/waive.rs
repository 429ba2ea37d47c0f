//! `verdict waive`: a WaiverDB waiver, written on the store file through the service
//! (access to the file is the right; `$USER` is recorded) or sent to a server with --url.

use anyhow::{Result, bail};
use base64::Engine;
use clap::Args;
use serde_json::{Value, json};
use std::path::Path;

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  verdict waive --subject-type koji_build --subject-identifier foo-1.0-1.fc40 \\\n    \
                        --testcase dist.rpmdeplint --product-version fedora-40 --comment 'known mirror outage'"
)]
pub struct WaiveArgs {
    /// Subject type (koji_build, bodhi_update, …).
    #[arg(long, value_name = "TYPE")]
    pub subject_type: String,
    /// Subject identifier (an NVR, an update id, …).
    #[arg(long, value_name = "ID")]
    pub subject_identifier: String,
    #[arg(long, value_name = "NAME")]
    pub testcase: String,
    /// Product version (e.g. fedora-40).
    #[arg(long, value_name = "PV")]
    pub product_version: String,
    /// Why: shown with the waiver wherever it is listed.
    #[arg(long, value_name = "TEXT")]
    pub comment: String,
    /// Only the requirement with this scenario.
    #[arg(long, value_name = "S")]
    pub scenario: Option<String>,
    /// Record that an earlier waiver no longer holds (a newer waiver with waived=false).
    #[arg(long)]
    pub revoke: bool,
    #[command(flatten)]
    pub remote: super::remote::RemoteArgs,
    /// With --url and no token: the user name for an `--auth dummy` server (default $USER).
    #[arg(long, value_name = "NAME", requires = "url")]
    pub user: Option<String>,
}

pub(super) fn waive(db: &Path, args: WaiveArgs) -> Result<i32> {
    let mut body = json!({
        "subject_type": args.subject_type,
        "subject_identifier": args.subject_identifier,
        "testcase": args.testcase,
        "product_version": args.product_version,
        "waived": !args.revoke,
        "comment": args.comment,
    });
    if let Some(s) = &args.scenario {
        body["scenario"] = Value::from(s.as_str());
    }
    let waiver = match args.remote.server()? {
        Some(remote) => send(&remote, args.user.as_deref(), &body)?,
        None => write(db, &body)?,
    };
    let text = |k: &str| waiver[k].as_str().map_or_else(|| waiver[k].to_string(), str::to_owned);
    println!(
        "waiver {}: {} on {} {} ({}), waived={}, by {}",
        text("id"),
        text("testcase"),
        text("subject_type"),
        text("subject_identifier"),
        text("product_version"),
        text("waived"),
        text("username")
    );
    Ok(0)
}

/// Writes the waiver on the store file.
fn write(db: &Path, body: &Value) -> Result<Value> {
    let (mut waivers, _) = super::write_as(db, |s, op| async move { s.create_waivers_as(body, &op).await })?;
    let Some(w) = waivers.pop() else { bail!("the store answered with no waiver") };
    Ok(serde_json::to_value(w.to_json())?)
}

/// Sends the waiver to a server; an error names the server's reason.
fn send(remote: &super::remote::Remote, user: Option<&str>, body: &Value) -> Result<Value> {
    let endpoint = format!("{}/api/v1.0/waivers/", remote.url);
    let auth = match remote.token {
        Some(t) => format!("Bearer {t}"),
        None => {
            let user = user.map_or_else(super::operator, str::to_owned);
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:")))
        }
    };
    let sent = remote
        .agent
        .post(&endpoint)
        .header("Content-Type", "application/json")
        .header("Authorization", &auth)
        .send(body.to_string());
    let answer = super::remote::Answer::of(sent, &endpoint)?;
    if answer.status != 201 {
        bail!("{endpoint} refused the waiver ({}): {}", answer.status, answer.reason());
    }
    Ok(answer.json)
}
