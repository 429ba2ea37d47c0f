//! Reading what a reconcile source claims: another server's results through the ResultsDB
//! API v2.0 (verdict and upstream ResultsDB answer alike), or a directory of archived bus
//! messages.

use crate::model::reconcile::Claimed;
use crate::service::consume::BusMessage;
use crate::service::reconcile::Archived;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;

/// A server's results API: its URL root and how to reach it.
pub(super) struct Server<'a> {
    /// The root (`http://host:5001`), without `/api/v2.0`.
    pub root: String,
    pub token: Option<&'a str>,
    pub agent: &'a ureq::Agent,
}

/// A source or target URL as its root: a trailing `/` or `/api/v2.0` is dropped, so
/// either form of a ResultsDB URL works.
pub(super) fn api_root(url: &str) -> String {
    let t = url.trim().trim_end_matches('/');
    t.strip_suffix("/api/v2.0").unwrap_or(t).trim_end_matches('/').to_owned()
}

/// Most pages read from one source in one run: a source that keeps answering `next`
/// (a broken proxy, a server paging in circles) ends the run with an error instead of
/// running forever. 100,000 pages of 1000 is 100M results.
const MAX_PAGES: u64 = 100_000;

impl Server<'_> {
    /// Every result matching `pairs`, a page of `page_size` at a time, oldest first (so
    /// results arriving meanwhile land after the pages read). The page number is ours:
    /// a `next` link only says another page follows — behind a proxy its host may not be
    /// the one we reach. A result listed on two pages (one shifted in meanwhile) counts
    /// once.
    pub fn results(&self, pairs: &[(String, String)], page_size: u32) -> Result<Vec<Claimed>> {
        let mut out = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for page in 0..MAX_PAGES {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
            q.append_pair("_sort", "asc:submit_time");
            q.append_pair("limit", &page_size.to_string());
            q.append_pair("page", &page.to_string());
            let endpoint = format!("{}/api/v2.0/results?{}", self.root, q.finish());
            let answer = self.get(&endpoint)?;
            let Some(data) = answer["data"].as_array() else {
                bail!("{} did not answer a ResultsDB results list (no \"data\" list)", shown(&endpoint));
            };
            for (i, v) in data.iter().enumerate() {
                let key = ["uuid", "id", "href"].iter().map(|k| &v[*k]).find(|x| !x.is_null()).map(Value::to_string);
                if let Some(key) = key
                    && !seen.insert(key)
                {
                    continue;
                }
                let c = Claimed::from_wire(v)
                    .map_err(|e| anyhow::anyhow!("{}: result {i} of page {page}: {e}", shown(&endpoint)))?;
                out.push(c);
            }
            if data.is_empty() || !answer["next"].is_string() {
                return Ok(out);
            }
        }
        bail!("{} still had more after {MAX_PAGES} pages; narrow the selection (--since, --item)", self.root)
    }

    fn get(&self, endpoint: &str) -> Result<Value> {
        let req = super::super::remote::bearer(self.agent.get(endpoint), self.token);
        let answer = super::super::remote::Answer::of(req.call(), &shown(endpoint))?;
        if answer.status != 200 {
            bail!("{} answered {}: {}", shown(endpoint), answer.status, answer.reason());
        }
        Ok(answer.json)
    }

    /// Stores one result (`POST /api/v2.0/results` with its uuid): true when it is
    /// stored now or was already (a retry, or a racing reconciler storing the same uuid).
    pub fn post(&self, record: &crate::model::ResultRecord) -> Result<()> {
        let body = serde_json::json!({
            "uuid": record.uuid,
            "testcase": {"name": record.testcase.name},
            "outcome": record.outcome,
            "submit_time": crate::model::Timestamp(record.submit_time).to_iso(),
            "note": record.note,
            "ref_url": record.ref_url,
            "data": record.data,
            "groups": record.groups.iter().map(|g| g.uuid.as_str()).collect::<Vec<_>>(),
        });
        let endpoint = format!("{}/api/v2.0/results", self.root);
        let req = super::super::remote::bearer(
            self.agent.post(&endpoint).header("Content-Type", "application/json"),
            self.token,
        );
        let answer = super::super::remote::Answer::of(req.send(body.to_string().as_bytes()), &shown(&endpoint))?;
        match answer.status {
            // 409: the uuid holds a result already (one a racing reconciler stored from
            // another source names that source): it is filled in all the same.
            200 | 201 | 409 => Ok(()),
            status => bail!("{} refused {} ({status}): {}", shown(&endpoint), record.testcase.name, answer.reason()),
        }
    }
}

/// A URL as shown in messages: credentials masked.
pub(super) fn shown(url: &str) -> String {
    crate::service::redact::url(url)
}

/// The archived messages in `dir`: every `*.json` file, in name order, each
/// `{"topic": …, "message_id": …, "body": {…}}` (`msg_id` and `msg`, as datagrepper
/// names them, work too; a string body is taken as the message's bytes). A file that
/// cannot be read as one is named with its reason in the second list.
pub(super) fn archive(dir: &Path) -> Result<(Vec<Archived>, Vec<String>)> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
        .collect();
    files.sort();
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match read_message(&path) {
            Ok(msg) => ok.push(Archived { name, msg }),
            Err(e) => bad.push(format!("{name}: {e}")),
        }
    }
    Ok((ok, bad))
}

fn read_message(path: &Path) -> Result<BusMessage, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    let topic = v["topic"].as_str().ok_or("no \"topic\" string")?.to_owned();
    let message_id = ["message_id", "msg_id"].iter().find_map(|k| v[*k].as_str()).map(str::to_owned);
    let body = match ["body", "msg"].iter().map(|k| &v[*k]).find(|b| !b.is_null()) {
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(b) => serde_json::to_vec(b).map_err(|e| e.to_string())?,
        None => return Err("no \"body\"".into()),
    };
    Ok(BusMessage { topic, message_id, body, sent_at: None })
}
