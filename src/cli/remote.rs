//! Commands that talk to a running server instead of a local store (`--url`): result
//! files sent to `POST /api/verdict/v1/ingest`, each as a multipart form with its sidecar.

use crate::service::ingest::Defaults;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// `verdict ingest --url`: sends every file; prints the same summary as a local ingest.
pub(super) fn ingest(url: &str, token: Option<&str>, files: &[PathBuf], defaults: &Defaults) -> Result<i32> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let endpoint = format!("{}/api/verdict/v1/ingest?{}", url.trim_end_matches('/'), query(defaults));
    let (mut stored, mut duplicates, mut results) = (0usize, 0usize, 0usize);
    let mut failures: Vec<(String, String)> = Vec::new();
    let bar = super::progress(Some(files.len() as u64), "sending");
    for path in files {
        let name = path.to_string_lossy().into_owned();
        match send(&agent, &endpoint, token, path) {
            Ok(answer) if answer["stored"] == true => {
                stored += 1;
                results += answer["results"].as_u64().unwrap_or(0) as usize;
            }
            Ok(_) => duplicates += 1,
            Err(e) => failures.push((name, format!("{e:#}"))),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(super::ingest::summary(files.len(), stored, results, duplicates, &failures))
}

/// The defaults as the endpoint's parameters.
fn query(d: &Defaults) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(item) = &d.item {
        q.append_pair("item", item);
    }
    if let Some(t) = &d.item_type {
        q.append_pair("type", t);
    }
    for (k, values) in &d.data {
        for v in values {
            q.append_pair(&format!("data.{k}"), v);
        }
    }
    q.finish()
}

/// Sends one file (and its sidecar) and returns the server's answer; an error names the
/// server's reason.
fn send(agent: &ureq::Agent, endpoint: &str, token: Option<&str>, path: &Path) -> Result<serde_json::Value> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let sidecar = match super::ingest::sidecar_path(path) {
        Some(p) => Some(std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?),
        None => None,
    };
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "upload".into());
    let boundary = format!("verdict-{}", uuid::Uuid::new_v4().simple());
    let body = form(&boundary, &file_name, &bytes, sidecar.as_deref());
    let mut req = agent.post(endpoint).header("Content-Type", &format!("multipart/form-data; boundary={boundary}"));
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.send(&body[..]).with_context(|| format!("cannot reach {endpoint}"))?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    match status {
        200 | 201 => Ok(answer),
        _ => {
            let why = answer["message"].as_str().map_or(text.clone(), str::to_owned);
            let at = answer["line"].as_u64().map(|l| format!(" (line {l})")).unwrap_or_default();
            anyhow::bail!("the server refused it ({status}): {why}{at}")
        }
    }
}

/// A multipart form with the `file` part and, when given, the `sidecar` part.
fn form(boundary: &str, file_name: &str, file: &[u8], sidecar: Option<&[u8]>) -> Vec<u8> {
    let quoted = file_name.replace(['"', '\r', '\n'], "_");
    let mut body = Vec::with_capacity(file.len() + 512);
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{quoted}\"\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(file);
    if let Some(side) = sidecar {
        body.extend_from_slice(
            format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"sidecar\"\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(side);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}
