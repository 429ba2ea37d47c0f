//! What handlers need from a request: absolute URLs (proxy headers honoured), the
//! request URL as received (for prev/next links), decoded query pairs, the JSON body.

use super::error::ApiError;
use crate::service::auth::Credentials;
use crate::service::render::Urls;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde_json::Value;
use std::convert::Infallible;
use std::time::Duration;

/// Request context for rendering: URL root and the full URL as the client sent it.
pub struct Ctx {
    pub urls: Urls,
    /// `scheme://host[/script]/path[?query]` exactly as received.
    pub request_url: String,
    /// Decoded query parameters in order, repeats kept.
    pub pairs: Vec<(String, String)>,
    pub headers: HeaderMap,
}

impl Ctx {
    /// The request's credentials (`Authorization` header).
    pub fn credentials(&self) -> Credentials {
        Credentials::from_header(self.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()))
    }
}

/// Marks a request that came over TLS (`serve --tls-cert`): the URLs it is answered with
/// say https, unless a proxy header names the scheme.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(',').next().unwrap_or(s).trim())
        .filter(|s| !s.is_empty())
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let h = &parts.headers;
        // The reverse-proxy headers ResultsDB's middleware honours.
        let own = if parts.extensions.get::<OverTls>().is_some() { "https" } else { "http" };
        let scheme = header_str(h, "x-forwarded-scheme").or_else(|| header_str(h, "x-forwarded-proto")).unwrap_or(own);
        let host = header_str(h, "x-forwarded-host")
            .or_else(|| header_str(h, header::HOST.as_str()))
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        let script = header_str(h, "x-script-name").unwrap_or("").trim_end_matches('/');
        let root = format!("{scheme}://{host}{script}");
        let query = parts.uri.query();
        let request_url = match query {
            Some(q) => format!("{root}{}?{q}", parts.uri.path()),
            None => format!("{root}{}", parts.uri.path()),
        };
        let pairs = query.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        Ok(Ctx { urls: Urls::new(root), request_url, pairs, headers: parts.headers.clone() })
    }
}

/// Whether the request declares a JSON body (`application/json` or `application/*+json`),
/// as werkzeug's `is_json`: upstream's `get_json()` refuses anything else with 415.
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Reads a JSON request body: refused with 415 unless the request declares JSON (upstream
/// does the same; it also keeps browsers' cross-site "simple" POSTs — form and text/plain
/// bodies, which need no CORS preflight — from writing), then read within `limit` bytes and
/// `timeout` and parsed.
pub async fn read_json(headers: &HeaderMap, body: Body, limit: usize, timeout: Duration) -> Result<Value, ApiError> {
    if !is_json(headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    read_json_body(body, limit, timeout).await
}

/// Reads the whole body within `limit` bytes and `timeout`, then parses it as JSON.
async fn read_json_body(body: Body, limit: usize, timeout: Duration) -> Result<Value, ApiError> {
    let bytes = read_bytes(body, limit, timeout).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))
}

/// Reads the whole body within `limit` bytes (413 past it) and `timeout`.
pub async fn read_bytes(body: Body, limit: usize, timeout: Duration) -> Result<axum::body::Bytes, ApiError> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(ApiError::BodyTimeout),
        Ok(Err(e)) => {
            // `to_bytes` reports the limit as a length-limit error somewhere in the chain.
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(err) = source {
                if err.is::<http_body_util::LengthLimitError>() {
                    return Err(ApiError::TooLarge(limit));
                }
                source = err.source();
            }
            Err(ApiError::BodyRead(e.to_string()))
        }
        Ok(Ok(b)) => Ok(b),
    }
}

const PLACEHOLDER: &str = "\u{0}PAGE\u{0}";

/// Upstream's textual prev/next links: the request URL with `page=N±1` substituted for the
/// first `[?&]page=<digits>` (or appended), `callback=` removed, `&` runs collapsed.
pub fn prev_next(url: &str, has_next: bool) -> (Option<String>, Option<String>) {
    let (base, page) = match find_pages(url) {
        Some((matches, page)) => {
            let flag = &url[matches[0].0..matches[0].0 + 1];
            let mut s = String::with_capacity(url.len());
            let mut at = 0;
            for (start, end) in &matches {
                s.push_str(&url[at..*start]);
                s.push_str(flag);
                s.push_str("page=");
                s.push_str(PLACEHOLDER);
                at = *end;
            }
            s.push_str(&url[at..]);
            (s, page)
        }
        None if url.contains('?') => (format!("{url}&page={PLACEHOLDER}"), 0),
        None => (format!("{url}?page={PLACEHOLDER}"), 0),
    };
    let base = collapse_ampersands(&strip_callback(&base));
    let prev = (page > 0).then(|| base.replace(PLACEHOLDER, &(page - 1).to_string()));
    let next = has_next.then(|| base.replace(PLACEHOLDER, &(page + 1).to_string()));
    (prev, next)
}

/// Every `[?&]page=<digits>` span, and the first one's number.
fn find_pages(url: &str) -> Option<(Vec<(usize, usize)>, u64)> {
    let b = url.as_bytes();
    let mut spans = Vec::new();
    let mut first = None;
    let mut i = 0;
    while i + 6 < b.len() {
        if (b[i] == b'?' || b[i] == b'&') && b[i + 1..].starts_with(b"page=") {
            let digits_start = i + 6;
            let digits_end = digits_start + b[digits_start..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits_end > digits_start {
                if first.is_none() {
                    first = Some(url[digits_start..digits_end].parse::<u64>().unwrap_or(u64::MAX / 2));
                }
                spans.push((i, digits_end));
                i = digits_end;
                continue;
            }
        }
        i += 1;
    }
    first.map(|p| (spans, p))
}

/// `([?&])callback=[^&]*&?` → the leading `?`/`&`.
fn strip_callback(url: &str) -> String {
    let b = url.as_bytes();
    let mut out = String::with_capacity(url.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if (b[i] == b'?' || b[i] == b'&') && b[i + 1..].starts_with(b"callback=") {
            out.push_str(&url[copied..=i]);
            let mut j = i + 1 + "callback=".len();
            while j < b.len() && b[j] != b'&' {
                j += 1;
            }
            if j < b.len() {
                j += 1;
            }
            copied = j;
            i = j;
            continue;
        }
        i += 1;
    }
    out.push_str(&url[copied..]);
    out
}

fn collapse_ampersands(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch == '&' && out.ends_with('&') {
            continue;
        }
        out.push(ch);
    }
    out
}

/// The host a request was sent to (as the browser sees it: proxy header first).
fn request_host(headers: &HeaderMap) -> Option<&str> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(|s| s.split(',').next().unwrap_or(s).trim());
    get("x-forwarded-host").or_else(|| get(header::HOST.as_str())).filter(|h| !h.is_empty())
}

/// The `host[:port]` of an absolute URL.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(rest.split(['/', '?', '#']).next().unwrap_or(rest))
}

/// Whether a browser's write comes from our own pages: its `Origin` (or, without one, its
/// `Referer`) names the host the request was sent to. A post with neither is refused too:
/// every browser sends at least one on a form post.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = request_host(headers) else { return false };
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).filter(|o| *o != "null");
    let referer = headers.get(header::REFERER).and_then(|v| v.to_str().ok());
    match origin.or(referer).and_then(url_host) {
        Some(h) => h.eq_ignore_ascii_case(host),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_checks_origin_then_referer() {
        assert!(same_origin(&headers(&[("host", "ci:8080"), ("origin", "http://ci:8080")])));
        assert!(!same_origin(&headers(&[("host", "ci:8080"), ("origin", "http://evil.example")])));
        assert!(!same_origin(&headers(&[("host", "ci:8080"), ("origin", "http://ci:8081")])));
        assert!(same_origin(&headers(&[("host", "ci:8080"), ("referer", "http://ci:8080/items/x?y=1")])));
        assert!(!same_origin(&headers(&[("host", "ci:8080"), ("referer", "http://ci:8080.evil.example/")])));
        assert!(!same_origin(&headers(&[("host", "ci:8080")])), "neither header");
        assert!(!same_origin(&headers(&[("host", "ci"), ("origin", "null")])), "opaque origin");
    }

    #[test]
    fn links_follow_upstream() {
        let (p, n) = prev_next("http://h/api/v2.0/results?item=x", true);
        assert_eq!(p, None);
        assert_eq!(n.as_deref(), Some("http://h/api/v2.0/results?item=x&page=1"));
        let (p, n) = prev_next("http://h/api/v2.0/results?page=2&limit=1&callback=cb&x=1", true);
        assert_eq!(p.as_deref(), Some("http://h/api/v2.0/results?page=1&limit=1&x=1"));
        assert_eq!(n.as_deref(), Some("http://h/api/v2.0/results?page=3&limit=1&x=1"));
        let (p, n) = prev_next("http://h/api/v2.0/results", false);
        assert_eq!((p, n), (None, None));
        let (_, n) = prev_next("http://h/api/v2.0/results", true);
        assert_eq!(n.as_deref(), Some("http://h/api/v2.0/results?page=1"));
    }
}
