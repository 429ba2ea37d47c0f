//! Commands that talk to a running server instead of a local store (`--url`): result
//! files sent to `POST /api/verdict/v1/ingest`, each as a multipart form with its sidecar.

use crate::service::ingest::Defaults;
use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// `--url`, `--token` and `--ca-cert`, shared by every command that can talk to a running
/// server.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// Talk to this server (`http://host:5001`, `https://…`) instead of the store file;
    /// --db is then not used.
    #[arg(long, env = "VERDICT_URL", value_name = "URL")]
    pub url: Option<String>,
    /// API token for --url (better from the environment: a flag shows in `ps`).
    #[arg(long, env = "VERDICT_TOKEN", hide_env_values = true, requires = "url")]
    pub token: Option<String>,
    /// For an https --url: trust the CA (or self-signed) certificates in this PEM file
    /// instead of the system's roots.
    #[arg(long, env = "VERDICT_CA_CERT", value_name = "PEM", requires = "url")]
    pub ca_cert: Option<PathBuf>,
}

impl RemoteArgs {
    /// The server of --url, or `None` when the command works on the store file.
    pub(super) fn server(&self) -> Result<Option<Remote<'_>>> {
        let Some(url) = &self.url else { return Ok(None) };
        let agent = agent(self.ca_cert.as_deref(), None)?;
        Ok(Some(Remote { url: url.trim_end_matches('/'), token: self.token.as_deref(), agent }))
    }
}

/// A running server to talk to: its URL root, the token sent, and the HTTP agent (one
/// for the whole command; it hands every status back as an answer, so the caller reads
/// the server's reason).
pub(super) struct Remote<'a> {
    pub url: &'a str,
    pub token: Option<&'a str>,
    pub agent: ureq::Agent,
}

/// The HTTP agent of `--url` commands: every status handed back as an answer, the server
/// trusted by the system's roots or `--ca-cert`, each request limited to `timeout` if given.
pub(super) fn agent(ca_cert: Option<&Path>, timeout: Option<std::time::Duration>) -> Result<ureq::Agent> {
    let tls = match ca_cert {
        Some(path) => trusting(path)?,
        None => crate::replicate::system_roots(),
    };
    Ok(ureq::Agent::config_builder().http_status_as_error(false).timeout_global(timeout).tls_config(tls).build().into())
}

/// `req` with `Authorization: Bearer TOKEN` when a token is given.
pub(super) fn bearer<B>(req: ureq::RequestBuilder<B>, token: Option<&str>) -> ureq::RequestBuilder<B> {
    match token {
        Some(t) => req.header("Authorization", &format!("Bearer {t}")),
        None => req,
    }
}

/// TLS that trusts exactly the certificates in the PEM file at `path` (a private CA, or a
/// self-signed server certificate), as curl's --cacert; for `--ca-cert` and `--peer-ca-cert`.
pub(super) fn trusting(path: &Path) -> Result<ureq::tls::TlsConfig> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig, parse_pem};
    let pem = std::fs::read(path).with_context(|| format!("cannot read the CA certificate file {}", path.display()))?;
    let mut certs = Vec::new();
    for item in parse_pem(&pem) {
        if let PemItem::Certificate(c) = item.with_context(|| format!("{} is not valid PEM", path.display()))? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        anyhow::bail!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display());
    }
    Ok(TlsConfig::builder().root_certs(RootCerts::new_with_certs(&certs)).build())
}

/// `verdict ingest --url`: sends every file; prints the same summary as a local ingest.
pub(super) fn ingest(remote: &Remote, files: &[PathBuf], defaults: &Defaults) -> Result<i32> {
    let (agent, token) = (&remote.agent, remote.token);
    let endpoint = format!("{}/api/verdict/v1/ingest?{}", remote.url, defaults_query(defaults));
    let (mut stored, mut duplicates, mut results) = (0usize, 0usize, 0usize);
    let mut failures: Vec<(String, String)> = Vec::new();
    let bar = super::progress_count(files.len() as u64, "sending", "files");
    for path in files {
        let name = path.to_string_lossy().into_owned();
        match send(agent, &endpoint, token, path) {
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

/// Largest request body `submit --url` sends: well under the server's 8 MiB per upload.
const SUBMIT_CHUNK: usize = 4 << 20;

/// `verdict submit --url`: the checked input sent as ResultsDB JSON to the ingest
/// endpoint — whole when it fits one upload, else (JSON Lines only) in parts of whole
/// lines, read and sent one at a time. Each part is stored exactly once by its content,
/// and a rerun splits the same input the same way, so rerunning after a failure stores
/// only what is missing.
pub(super) fn submit(remote: &Remote, name: &str, input: std::fs::File, records: usize) -> Result<i32> {
    use std::io::{BufRead, Read};
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    let endpoint = format!("{}/api/verdict/v1/ingest", remote.url);
    let base = Path::new(name).file_name().map_or_else(|| "input".to_owned(), |n| n.to_string_lossy().into_owned());
    let (mut parts, mut stored, mut again) = (0usize, 0usize, 0usize);
    // Parts are named `NAME.partN`; a whole input keeps its name.
    let mut send = |part: &[u8], numbered: bool| -> Result<()> {
        parts += 1;
        let part_name = if numbered { format!("{base}.part{parts}") } else { base.clone() };
        let req = bearer(
            remote.agent.post(&format!("{endpoint}?format=resultsdb-json&name={}", urlencode(&part_name))),
            remote.token,
        );
        let answer = Answer::of(req.send(part), &endpoint)?;
        let results = answer.json["results"].as_u64().unwrap_or(0) as usize;
        match answer.status {
            201 => stored += results,
            200 => again += results,
            status => anyhow::bail!(
                "{endpoint} refused part {parts} ({status}): {}; parts before it are stored, and a rerun stores \
                 only what is missing",
                answer.reason()
            ),
        }
        Ok(())
    };
    let bar = super::progress(Some(size), "sending");
    let mut reader = std::io::BufReader::with_capacity(1 << 20, bar.wrap_read(input));
    if size <= SUBMIT_CHUNK as u64 {
        // Whole, byte for byte: the same content as `verdict ingest` of the file.
        let mut all = Vec::with_capacity(size as usize);
        reader.read_to_end(&mut all).with_context(|| format!("cannot read {name}"))?;
        send(&all, false)?;
    } else {
        let mut part = Vec::with_capacity(SUBMIT_CHUNK + (64 << 10));
        for line in reader.split(b'\n') {
            let line = line.with_context(|| format!("cannot read {name}"))?;
            if part.is_empty() && line.trim_ascii_start().starts_with(b"[") {
                anyhow::bail!(
                    "{name} is a JSON array of {size} bytes: over {SUBMIT_CHUNK} bytes only JSON Lines (one result \
                     per line) can be sent in parts; rewrite it as JSON Lines or submit it on the server's machine"
                );
            }
            part.extend_from_slice(&line);
            part.push(b'\n');
            if part.len() >= SUBMIT_CHUNK {
                send(&part, true)?;
                part.clear();
            }
        }
        if !part.is_empty() {
            send(&part, true)?;
        }
    }
    bar.finish_and_clear();
    println!("sent {records} results from {name} in {parts} part(s): {stored} stored now, {again} were stored before");
    Ok(0)
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `verdict query --url`: the same filters as query parameters of `GET /api/v2.0/results`
/// (or `/results/latest`); prints the server's JSON with --json, else the same table as a
/// local query.
pub(super) fn query(remote: &Remote, pairs: &[(String, String)], latest: bool, json: bool, page: i64) -> Result<i32> {
    let path = if latest { "/api/v2.0/results/latest" } else { "/api/v2.0/results" };
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    let endpoint = format!("{}{path}?{}", remote.url, q.finish());
    let req = bearer(remote.agent.get(&endpoint), remote.token);
    let answer = Answer::of(req.call(), &endpoint)?;
    if answer.status != 200 {
        anyhow::bail!("{endpoint} answered {}: {}", answer.status, answer.reason());
    }
    if json {
        println!("{}", answer.text);
        return Ok(0);
    }
    let answer = answer.json;
    let data = answer["data"].as_array().cloned().unwrap_or_default();
    let text_of = |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let rows = data.iter().map(|r| super::commands::Row {
        id: r["id"].as_i64().unwrap_or(0),
        time: text_of(&r["submit_time"]),
        outcome: text_of(&r["outcome"]),
        testcase: text_of(&r["testcase"]["name"]),
        item: r["data"]["item"]
            .as_array()
            .map(|v| v.iter().map(text_of).collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
        note: r["note"].as_str().unwrap_or_default().to_owned(),
    });
    super::commands::print_rows(rows, answer["next"].is_string().then_some(page + 1))?;
    Ok(0)
}

/// A server's answer: its status, body text, and the body as JSON (Null when it is not).
pub(super) struct Answer {
    pub status: u16,
    pub text: String,
    pub json: serde_json::Value,
}

impl Answer {
    /// Reads the answer to a request sent to `endpoint`.
    pub(super) fn of(sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>, endpoint: &str) -> Result<Answer> {
        let mut resp = sent.with_context(|| format!("cannot reach {endpoint}"))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().with_context(|| format!("reading the answer of {endpoint}"))?;
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Ok(Answer { status, text, json })
    }

    /// The server's reason for a refusal: its `message`, else the whole body.
    pub(super) fn reason(&self) -> String {
        self.json["message"].as_str().map_or_else(|| self.text.clone(), str::to_owned)
    }
}

/// The defaults as the endpoint's parameters.
fn defaults_query(d: &Defaults) -> String {
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
    let sidecar = match super::ingest::sidecar_of(path) {
        Some(p) => Some(std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?),
        None => None,
    };
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "upload".into());
    let boundary = format!("verdict-{}", uuid::Uuid::new_v4().simple());
    let body = form(&boundary, &file_name, &bytes, sidecar.as_deref());
    let req = bearer(
        agent.post(endpoint).header("Content-Type", &format!("multipart/form-data; boundary={boundary}")),
        token,
    );
    let answer = Answer::of(req.send(&body[..]), endpoint)?;
    match answer.status {
        200 | 201 => Ok(answer.json),
        status => {
            let at = answer.json["line"].as_u64().map(|l| format!(" (line {l})")).unwrap_or_default();
            anyhow::bail!("the server refused it ({status}): {}{at}", answer.reason())
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
