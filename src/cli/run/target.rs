//! Where a run's results go and what it asks first: the store file (through the service)
//! or a server (`--url`, over its API). Both answer which testcases the store has seen for
//! a type, whether a standing quarantine covers a testcase, and store the run's results
//! file exactly once by its content.

use super::super::remote::{Answer, Remote};
use crate::service::QuarantineFilter;
use crate::service::ingest::{DirContext, FileRef, IngestConfig, Ingested, ingest_file};
use crate::service::{Config, Service};
use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// Testcase names per question about which ones the store has seen (URL length).
const NAMES_PER_QUERY: usize = 50;

/// Largest request body sent: well under the server's 8 MiB per upload (as `submit --url`).
const PART_BYTES: usize = 4 << 20;

/// Tries per upload part: a network error or a 5xx/429 answer is retried after 0.5, 1, 2,
/// 4 and 8 seconds. A retry sends the same bytes, which the server stores once.
const TRIES: u32 = 6;

/// The store file (through the service) or a server.
pub enum Target<'a> {
    Local { service: Service, writer: std::thread::JoinHandle<()> },
    Remote(Remote<'a>),
}

/// What storing the results file did.
pub struct Stored {
    pub stored: usize,
    pub before: usize,
}

impl<'a> Target<'a> {
    /// Opens the store file (creating it) or takes the server.
    pub fn open(db: &Path, remote: Option<Remote<'a>>, cfg: &IngestConfig) -> Result<Target<'a>> {
        if let Some(r) = remote {
            return Ok(Target::Remote(r));
        }
        let config = Config { outcomes: cfg.outcomes.clone(), input_limits: cfg.limits.clone(), ..Config::default() };
        let (service, writer) = Service::open_batch(db, config)?;
        Ok(Target::Local { service, writer })
    }

    /// Which of `testcases` have any result of type `item_type` in the store.
    pub fn seen(&self, testcases: &[String], item_type: &str) -> Result<BTreeSet<String>> {
        let mut seen = BTreeSet::new();
        for names in testcases.chunks(NAMES_PER_QUERY) {
            let pairs = vec![("testcases".to_owned(), names.join(",")), ("type".to_owned(), item_type.to_owned())];
            match self {
                Target::Local { service, .. } => {
                    let q = crate::model::ResultQuery::parse(&pairs, &service.config().outcomes, i64::MAX)?;
                    seen.extend(service.reads().latest(&q)?.into_iter().map(|r| r.record.testcase.name));
                }
                Target::Remote(r) => {
                    let answer = r.get("/api/v2.0/results/latest", &pairs)?;
                    for row in answer.json["data"].as_array().into_iter().flatten() {
                        if let Some(name) = row["testcase"]["name"].as_str() {
                            seen.insert(name.to_owned());
                        }
                    }
                }
            }
        }
        Ok(seen)
    }

    /// Whether a standing quarantine rule covers failures of `testcase` (a rule naming a
    /// scenario does not: a run has none; one naming a subject type must name `item_type`).
    pub fn quarantined(&self, testcase: &str, item_type: &str) -> Result<bool> {
        let rules = match self {
            Target::Local { service, .. } => {
                let f = QuarantineFilter { testcase: Some(testcase.to_owned()), active: Some(true), when: None };
                service.reads().quarantines(&f)?
            }
            Target::Remote(r) => {
                let pairs = [("testcase".to_owned(), testcase.to_owned()), ("active".to_owned(), "true".to_owned())];
                let answer = r.get("/api/verdict/v1/quarantines", &pairs)?;
                answer.json.as_array().cloned().unwrap_or_default()
            }
        };
        Ok(rules.iter().any(|rule| {
            rule["active"] == true
                && rule["scenario"].is_null()
                && (rule["subject_type"].is_null() || rule["subject_type"] == item_type)
        }))
    }

    /// Stores the results file at `path` (JSON Lines) exactly once by its content.
    pub fn store(&self, path: &Path, cfg: &IngestConfig) -> Result<Stored> {
        let name = path.file_name().map_or_else(|| "run.jsonl".to_owned(), |n| n.to_string_lossy().into_owned());
        match self {
            Target::Local { service, .. } => {
                let file = FileRef { path, name: &name, dir: DirContext::default(), sidecar: None };
                match ingest_file(&service.queue(), &file, cfg) {
                    Ok(Ingested::Stored { results, .. }) => Ok(Stored { stored: results, before: 0 }),
                    Ok(Ingested::AlreadyIngested) => Ok(Stored { stored: 0, before: 0 }),
                    Err(e) => bail!("{e}"),
                }
            }
            Target::Remote(r) => {
                let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
                let parts = split_lines(&bytes, PART_BYTES);
                let numbered = parts.len() > 1;
                let mut done = Stored { stored: 0, before: 0 };
                for (i, part) in parts.iter().enumerate() {
                    let part_name = if numbered { format!("{name}.part{}", i + 1) } else { name.clone() };
                    let (created, results) = r.upload_retrying(&part_name, part)?;
                    if created { done.stored += results } else { done.before += results }
                }
                Ok(done)
            }
        }
    }

    /// Closes the store file (a checkpoint); nothing for a server.
    pub fn finish(self) {
        if let Target::Local { service, writer } = self
            && let Err(e) = service.finish(writer)
        {
            tracing::warn!(error = %e, "WAL checkpoint after the run failed");
        }
    }
}

/// `bytes` in parts of whole lines of about `max` bytes (one part when it fits).
fn split_lines(bytes: &[u8], max: usize) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let rest = bytes.get(start..).unwrap_or_default();
        if rest.len() <= max {
            parts.push(rest);
            break;
        }
        // Cut after the last newline within `max` bytes (or the first one after it).
        let window = rest.get(..max).unwrap_or(rest);
        let cut = match window.iter().rposition(|b| *b == b'\n') {
            Some(p) => p + 1,
            None => rest.iter().position(|b| *b == b'\n').map_or(rest.len(), |p| p + 1),
        };
        parts.push(rest.get(..cut).unwrap_or(rest));
        start += cut;
    }
    parts
}

impl Remote<'_> {
    /// `GET path?pairs`, refused unless the server answers 200.
    fn get(&self, path: &str, pairs: &[(String, String)]) -> Result<Answer> {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        let endpoint = format!("{}{path}?{}", self.url, q.finish());
        let req = super::super::remote::bearer(self.agent.get(&endpoint), self.token);
        let answer = Answer::of(req.call(), &endpoint)?;
        if answer.status != 200 {
            bail!("{endpoint} answered {}: {}", answer.status, answer.reason());
        }
        Ok(answer)
    }

    /// Sends one part of a results file (JSON Lines) to the ingest endpoint, retrying on
    /// network errors and 5xx/429 answers; whether it was stored now, and its results.
    fn upload_retrying(&self, name: &str, part: &[u8]) -> Result<(bool, usize)> {
        let name_q: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
        let endpoint = format!("{}/api/verdict/v1/ingest?format=jsonl&name={name_q}", self.url);
        let mut wait = Duration::from_millis(500);
        for attempt in 1..=TRIES {
            let req = super::super::remote::bearer(self.agent.post(&endpoint), self.token);
            let why = match Answer::of(req.send(part), &endpoint) {
                Ok(a) if a.status == 201 || a.status == 200 => {
                    return Ok((a.status == 201, a.json["results"].as_u64().unwrap_or(0) as usize));
                }
                Ok(a) if a.status >= 500 || a.status == 429 => {
                    format!("{} answered {}: {}", endpoint, a.status, a.reason())
                }
                Ok(a) => bail!("{endpoint} refused the results ({}): {}", a.status, a.reason()),
                Err(e) => format!("{e:#}"),
            };
            if attempt == TRIES {
                bail!("{why} (tried {TRIES} times)");
            }
            eprintln!("verdict run: {why}; sending again in {:.1}s (it is stored once)", wait.as_secs_f64());
            std::thread::sleep(wait);
            wait *= 2;
        }
        bail!("{endpoint}: not sent")
    }
}

#[cfg(test)]
mod tests {
    use super::split_lines;

    #[test]
    fn parts_are_whole_lines() {
        assert_eq!(split_lines(b"a\nb\n", 10), vec![&b"a\nb\n"[..]]);
        assert_eq!(split_lines(b"aa\nbb\ncc\n", 6), vec![&b"aa\nbb\n"[..], &b"cc\n"[..]]);
        assert_eq!(split_lines(b"aaaaaa\nb\n", 3), vec![&b"aaaaaa\n"[..], &b"b\n"[..]]);
        assert!(split_lines(b"", 3).is_empty());
    }
}
