//! The HTTP client for one peer. Every request is bounded in time (silence and total) and
//! every change-stream page in bytes while it is read, so a hostile or broken peer costs
//! an error naming it and the bound, never a hang or unbounded memory. Credentials in the
//! peer's URL are sent but never shown: messages carry the redacted URL.

use super::PullError;
use crate::log::Hash;
use crate::log::stream::{StreamError, StreamReader, VersionVector, format_vv};
use crate::service::redact;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

/// Default of [`PeerLimits::timeout`], in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Default of [`PeerLimits::request_timeout`], in seconds.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 300;
/// Default of [`PeerLimits::max_page_bytes`]: the longest line a stream may have, so any
/// entry a peer can hold fits in a page.
pub const DEFAULT_MAX_PAGE_BYTES: u64 = 64 * 1024 * 1024;

/// What one peer may cost. A long poll's wait is added to both timeouts of its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLimits {
    /// Longest a peer may stay silent: connecting, before its answer, between reads.
    pub timeout: Duration,
    /// Longest one request may take in all, its body included (a trickling peer).
    pub request_timeout: Duration,
    /// Most bytes of one change-stream page after decompression: the page is refused once
    /// it passes them, so at most this much of it is ever held (asked of the peer too).
    pub max_page_bytes: u64,
}

impl Default for PeerLimits {
    fn default() -> Self {
        PeerLimits {
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS),
            max_page_bytes: DEFAULT_MAX_PAGE_BYTES,
        }
    }
}

/// TLS that checks servers against the system's trusted roots (`/etc/ssl/certs`, or the
/// bundle `SSL_CERT_FILE` names) rather than a list compiled into the binary, so a CA an
/// administrator added is trusted (what `--url` commands use too).
pub fn system_roots() -> ureq::tls::TlsConfig {
    ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::PlatformVerifier).build()
}

/// Bytes of an error answer's body shown in a message.
const ERROR_TEXT: usize = 300;

/// An HTTP client for one peer.
pub struct PeerClient {
    /// The URL root as given (with any credentials): requests go there.
    base: String,
    /// The same with credentials masked: messages show this.
    shown: String,
    token: Option<String>,
    agent: ureq::Agent,
    limits: PeerLimits,
    /// Ask for zstd-compressed change streams.
    pub zstd: bool,
}

/// A change stream being read from a peer.
pub type RemoteStream = StreamReader<Box<dyn BufRead + Send>>;

impl PeerClient {
    /// `base` is the peer's URL root (`http://host:port`, `https://…`); `tls` replaces the
    /// default trust in the system's roots (`--peer-ca-cert`).
    pub fn new(base: &str, token: Option<String>, limits: PeerLimits, tls: Option<ureq::tls::TlsConfig>) -> PeerClient {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(limits.timeout))
            .timeout_resolve(Some(limits.timeout));
        let tls = tls.unwrap_or_else(system_roots);
        let agent: ureq::Agent = config.tls_config(tls).build().into();
        let base = base.trim_end_matches('/').to_owned();
        PeerClient {
            shown: redact::url(&base),
            base,
            token: token.filter(|t| !t.is_empty()),
            agent,
            limits,
            zstd: true,
        }
    }

    /// The peer's URL with credentials masked (for messages, logs and status).
    pub fn url(&self) -> &str {
        &self.shown
    }

    fn peer_err(&self, reason: impl std::fmt::Display) -> PullError {
        PullError::Peer { url: self.shown.clone(), reason: redact::scrub(&reason.to_string(), &self.base) }
    }

    /// The peer broke a bound of the protocol.
    pub(super) fn misbehaved(&self, reason: String) -> PullError {
        PullError::Misbehaved { url: self.shown.clone(), reason }
    }

    fn timeout_err(&self, t: ureq::Timeout) -> PullError {
        let reason = match t {
            ureq::Timeout::Global | ureq::Timeout::PerCall | ureq::Timeout::RecvBody => format!(
                "timed out: a request took longer than --peer-request-timeout ({} s); the peer is stalled or trickling",
                self.limits.request_timeout.as_secs()
            ),
            ureq::Timeout::Connect | ureq::Timeout::Resolve => {
                format!("timed out: could not connect within --peer-timeout ({} s)", self.limits.timeout.as_secs())
            }
            _ => format!("timed out: the peer sent nothing for --peer-timeout ({} s)", self.limits.timeout.as_secs()),
        };
        self.peer_err(reason)
    }

    fn transport_err(&self, e: ureq::Error) -> PullError {
        match e {
            ureq::Error::Timeout(t) => self.timeout_err(t),
            ureq::Error::Io(io) => self.io_err(io),
            other => self.peer_err(other),
        }
    }

    /// An I/O error while reading from the peer, named for what it is.
    fn io_err(&self, e: std::io::Error) -> PullError {
        let inner = e.get_ref();
        if let Some(PageTooLarge(max)) = inner.and_then(|i| i.downcast_ref::<PageTooLarge>()) {
            return self.misbehaved(format!(
                "sent a page of more than {max} bytes (--peer-max-page-bytes); refused it, nothing of it was stored"
            ));
        }
        // ureq's body reader wraps its own errors (timeouts among them) in io::Error.
        if let Some(ureq::Error::Timeout(t)) = inner.and_then(|i| i.downcast_ref::<ureq::Error>()) {
            return self.timeout_err(*t);
        }
        if e.kind() == std::io::ErrorKind::TimedOut {
            return self.timeout_err(ureq::Timeout::PerRead);
        }
        self.peer_err(e)
    }

    /// An error reading a change stream of this peer: transport failures (timeouts, the
    /// byte bound, a broken connection) are the peer's; anything else is a refusal.
    pub(super) fn stream_err(&self, e: StreamError) -> PullError {
        match e {
            StreamError::Io(io) => self.io_err(io),
            other => PullError::Refused(other),
        }
    }

    /// GET with the request's timeouts; `wait` is the long poll the peer may hold it.
    fn get(&self, path_and_query: &str, zstd: bool, wait: u64) -> Result<ureq::http::Response<ureq::Body>, PullError> {
        let extra = Duration::from_secs(wait);
        let mut req = self
            .agent
            .get(format!("{}{path_and_query}", self.base))
            .config()
            .timeout_per_read(Some(self.limits.timeout + extra))
            .timeout_global(Some(self.limits.request_timeout + extra))
            .build();
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        req = req.header("Accept-Encoding", if zstd { "zstd" } else { "identity" });
        let mut resp = req.call().map_err(|e| self.transport_err(e))?;
        match resp.status().as_u16() {
            200 => Ok(resp),
            401 => Err(PullError::Unauthorized { url: self.shown.clone() }),
            s => {
                let mut text = Vec::new();
                let _ = resp.body_mut().as_reader().take(ERROR_TEXT as u64).read_to_end(&mut text);
                Err(self.peer_err(format!("answered {s}: {}", String::from_utf8_lossy(&text).trim())))
            }
        }
    }

    /// Opens the change stream of what a holder of `since` lacks: at most `limit` entries
    /// and [`PeerLimits::max_page_bytes`] bytes (both asked for and enforced while reading).
    pub fn changes(&self, since: &VersionVector, limit: u64, wait: u64) -> Result<RemoteStream, PullError> {
        let max = self.limits.max_page_bytes;
        let q = format!("/api/verdict/v1/changes?since={}&limit={limit}&wait={wait}&max_bytes={max}", format_vv(since));
        let resp = self.get(&q, self.zstd, wait)?;
        let compressed = resp.headers().get("content-encoding").and_then(|v| v.to_str().ok()) == Some("zstd");
        let body = resp.into_body().into_reader();
        let input: Box<dyn BufRead + Send> = if compressed {
            let decoder = zstd::stream::Decoder::new(body).map_err(|e| self.io_err(e))?;
            Box::new(BufReader::with_capacity(256 * 1024, Capped::new(decoder, max)))
        } else {
            Box::new(BufReader::with_capacity(256 * 1024, Capped::new(body, max)))
        };
        StreamReader::open(input).map_err(|e| self.stream_err(e))
    }

    fn get_json(&self, path_and_query: &str) -> Result<serde_json::Value, PullError> {
        let mut resp = self.get(path_and_query, false, 0)?;
        let text = resp.body_mut().read_to_string().map_err(|e| self.transport_err(e))?;
        serde_json::from_str(&text).map_err(|e| self.peer_err(e))
    }

    /// The peer's node id and chain heads (`GET /api/verdict/v1/replication`).
    pub fn heads(&self) -> Result<(String, super::Tips), PullError> {
        let v = self.get_json("/api/verdict/v1/replication")?;
        let node = v["node"].as_str().unwrap_or_default().to_owned();
        let mut heads = BTreeMap::new();
        if let Some(m) = v["heads"].as_object() {
            for (origin, p) in m {
                let seq = p["seq"].as_u64().ok_or_else(|| self.peer_err("status: a head has no seq"))?;
                let hash = p["hash"]
                    .as_str()
                    .and_then(Hash::from_hex)
                    .ok_or_else(|| self.peer_err("status: a head hash is not hex"))?;
                heads.insert(origin.clone(), (seq, hash));
            }
        }
        Ok((node, heads))
    }

    /// The peer's chain hashes of `origin` at `seqs` (held positions only).
    pub fn hashes(&self, origin: &str, seqs: &[u64]) -> Result<BTreeMap<u64, Hash>, PullError> {
        let list: Vec<String> = seqs.iter().map(u64::to_string).collect();
        let v = self.get_json(&format!("/api/verdict/v1/hashes?origin={origin}&seqs={}", list.join(",")))?;
        let mut out = BTreeMap::new();
        if let Some(m) = v["hashes"].as_object() {
            for (seq, h) in m {
                let seq: u64 = seq.parse().map_err(|_| self.peer_err("hashes: a position is not a number"))?;
                let h = h.as_str().and_then(Hash::from_hex).ok_or_else(|| self.peer_err("hashes: not hex"))?;
                out.insert(seq, h);
            }
        }
        Ok(out)
    }

    /// The stretches of `origin`'s chain the peer pruned (`[from, to]`; none from a peer
    /// that predates pruning).
    pub fn pruned(&self, origin: &str) -> Result<Vec<(u64, u64)>, PullError> {
        let v = self.get_json(&format!("/api/verdict/v1/hashes?origin={origin}&seqs="))?;
        let mut out = Vec::new();
        for pair in v["pruned"].as_array().into_iter().flatten() {
            match (pair[0].as_u64(), pair[1].as_u64()) {
                (Some(from), Some(to)) if from <= to => out.push((from, to)),
                _ => return Err(self.peer_err("hashes: a pruned stretch is not [from, to]")),
            }
        }
        Ok(out)
    }
}

/// The error a [`Capped`] reader fails with: the page passed this many bytes.
#[derive(Debug)]
struct PageTooLarge(u64);

impl std::fmt::Display for PageTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the page is larger than {} bytes", self.0)
    }
}

impl std::error::Error for PageTooLarge {}

/// A reader that fails once more than `cap` bytes come through, so a page is refused
/// while it is read, with at most `cap` bytes of it ever buffered.
struct Capped<R> {
    inner: R,
    left: u64,
    cap: u64,
}

impl<R> Capped<R> {
    fn new(inner: R, cap: u64) -> Capped<R> {
        Capped { inner, left: cap, cap }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // One byte more tells a page that ends exactly at the bound from one that goes on.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::other(PageTooLarge(self.cap))),
            };
        }
        let room = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..room])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_reader_refuses_past_its_bound() {
        let mut out = Vec::new();
        assert_eq!(Capped::new(&b"12345"[..], 5).read_to_end(&mut out).unwrap(), 5);
        let err = Capped::new(&b"123456"[..], 5).read_to_end(&mut Vec::new()).unwrap_err();
        assert!(err.get_ref().unwrap().is::<PageTooLarge>());
    }

    #[test]
    fn messages_show_no_credentials() {
        let c = PeerClient::new("http://u:pw@127.0.0.1:1/", None, PeerLimits::default(), None);
        assert_eq!(c.url(), "http://u:***@127.0.0.1:1");
        let e = c.peer_err("GET http://u:pw@127.0.0.1:1/x failed");
        assert_eq!(e.to_string(), "peer http://u:***@127.0.0.1:1: GET http://u:***@127.0.0.1:1/x failed");
    }
}
