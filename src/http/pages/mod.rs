//! The web pages (issue 11): server-rendered HTML from the same binary and port as the API,
//! built with maud (templates compiled in) from the service layer's use cases — never the
//! store. The stylesheet is inlined; no script is needed to read any page. Forms post
//! `application/x-www-form-urlencoded` to page routes that run the same use cases as the
//! API (`Service::create_waivers`, `post_quarantine`, `revoke_quarantine`), only after a
//! same-origin check (Origin, else Referer, must name this server's host), with the
//! credentials of the form's user/token fields or else the request's `Authorization`.

mod compare;
mod flaky;
mod item;
pub mod layout;
mod lists;
mod overview;
pub mod report;
mod result;
mod results;
pub mod svg;
mod testcase;

use super::AppState;
use super::error::ApiError;
use crate::service::auth::{AuthMode, Credentials};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use layout::{Nav, page};
use maud::{Markup, html};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::overview))
        .route("/results", get(results::list))
        .route("/results/{id}", get(result::one))
        .route("/items/{*item}", get(item::item))
        .route("/testcases/{*name}", get(testcase::testcase))
        .route("/flaky", get(flaky::board))
        .route("/compare", get(compare::compare))
        .route("/waivers", get(lists::waivers).post(lists::waive))
        .route("/quarantines", get(lists::quarantines).post(lists::quarantine))
        .route("/quarantines/revoke", post(lists::revoke))
}

/// What a page handler answers: a page, or an error page.
pub type PageResult = Result<Response, PageError>;

/// A page that could not be made: the API's error, shown as HTML with the API's status and
/// message (one mapping, in `error.rs`), or a refused form post.
#[derive(Debug)]
pub enum PageError {
    Api(ApiError),
    /// A form post from another site (403).
    CrossSite,
    /// A form that could not be read (400), naming the field.
    BadForm(String),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::Api(e)
    }
}

impl From<crate::service::ServiceError> for PageError {
    fn from(e: crate::service::ServiceError) -> Self {
        PageError::Api(e.into())
    }
}

impl From<crate::model::ModelError> for PageError {
    fn from(e: crate::model::ModelError) -> Self {
        PageError::Api(e.into())
    }
}

/// A 200 HTML response.
pub fn html_response(m: Markup) -> Response {
    html_status(StatusCode::OK, m)
}

fn html_status(status: StatusCode, m: Markup) -> Response {
    let mut r = (status, m.into_string()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // Pages need no script at all: forbid any, and framing (clickjacking the forms).
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// The error page for `status` with `message`.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    html_status(
        status,
        page(
            title,
            Nav::None,
            html! {
                h1 { (status.as_u16()) " " (title) }
                p.notice.error role="alert" { (message) }
                p { a href="/" { "Back to the overview" } }
            },
        ),
    )
}

/// The message of an API error body (`{"message": …}` or a validation list), as text.
fn api_message(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::from_utf8_lossy(body).into_owned();
    };
    if let Some(m) = v.get("message") {
        return match m {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
    }
    if let Some(list) = v.get("validation_error").and_then(|l| l.as_array()) {
        let msgs: Vec<String> = list
            .iter()
            .map(|e| {
                let loc: Vec<String> = e["loc"]
                    .as_array()
                    .map(|l| l.iter().map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned)).collect())
                    .unwrap_or_default();
                format!("{}: {}", loc.join("."), e["msg"].as_str().unwrap_or(""))
            })
            .collect();
        return msgs.join("; ");
    }
    v.to_string()
}

impl PageError {
    /// The error page (async: the API's answer body is read back for its message).
    pub async fn render(self) -> Response {
        match self {
            PageError::CrossSite => error_page(
                StatusCode::FORBIDDEN,
                "This form was posted from another site (the Origin or Referer header does not name this server), \
                 so it was refused.",
            ),
            PageError::BadForm(m) => error_page(StatusCode::BAD_REQUEST, &m),
            PageError::Api(e) => {
                let resp = e.into_response();
                let status = resp.status();
                let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap_or_default();
                error_page(status, &api_message(&body))
            }
        }
    }
}

/// Runs a page handler's body, turning an error into its page.
pub async fn respond(f: impl Future<Output = PageResult>) -> Response {
    match f.await {
        Ok(r) => r,
        Err(e) => e.render().await,
    }
}

/// A posted form: checked for same origin, read within `limit` bytes, decoded.
pub async fn read_form(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<(String, String)>, PageError> {
    if !crate::http::request::same_origin(headers) {
        return Err(PageError::CrossSite);
    }
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(PageError::BadForm("the form must be posted as application/x-www-form-urlencoded".into()));
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| PageError::BadForm(e.to_string()))?;
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
}

/// A form field's value, trimmed; `None` when absent or blank.
pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

/// The credentials of a form post: its `token` field (tokens mode, sent as a Bearer
/// token), its `username` field (dummy mode), else the request's `Authorization` header.
pub fn form_credentials(form: &[(String, String)], headers: &HeaderMap) -> Credentials {
    if let Some(token) = field(form, "token") {
        return Credentials::Bearer(token.to_owned());
    }
    if let Some(user) = field(form, "username") {
        return Credentials::Basic { user: user.to_owned(), password: String::new() };
    }
    Credentials::from_header(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()))
}

/// The identity fields a write form shows for the server's `--auth` mode.
pub fn auth_fields(mode: &AuthMode) -> Markup {
    match mode {
        AuthMode::None => html! {},
        AuthMode::Dummy => html! {
            label { "Your user name" input name="username" autocomplete="username" required; }
        },
        AuthMode::Tokens(_) => html! {
            label { "Your API token" input type="password" name="token" autocomplete="current-password"; }
        },
    }
}

/// Where a form goes back to: a local path from its `back` field, else `default`.
pub fn back_to(form: &[(String, String)], default: &str) -> String {
    match field(form, "back") {
        Some(b) if b.starts_with('/') && !b.starts_with("//") && !b.contains('\\') => b.to_owned(),
        _ => default.to_owned(),
    }
}

/// 303 to `location` (after a successful post).
pub fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_stays_local() {
        let f = |b: &str| vec![("back".to_owned(), b.to_owned())];
        assert_eq!(back_to(&f("/items/x"), "/"), "/items/x");
        assert_eq!(back_to(&f("//evil.example/"), "/"), "/");
        assert_eq!(back_to(&f("https://evil.example/"), "/"), "/");
    }

    #[test]
    fn api_messages_become_text() {
        assert_eq!(api_message(br#"{"message":"Result 9 not found"}"#), "Result 9 not found");
        assert_eq!(
            api_message(br#"{"validation_error":[{"loc":["query","outcome"],"msg":"bad"}]}"#),
            "query.outcome: bad"
        );
    }
}
