//! The one place where errors become HTTP statuses and ResultsDB-shaped JSON bodies.

use super::json_response;
use crate::gating::DecisionError;
use crate::model::{FieldError, Loc, ModelError, WaiverError};
use crate::service::{ServiceError, log_limit};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Everything a handler can answer with besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The body is not JSON (upstream: `{"message": "Bad request"}`).
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("request body not received in time")]
    BodyTimeout,
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    /// A JSON endpoint received another content type (415, as upstream's `get_json()`).
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// A replication request without the peer token the server requires.
    #[error("peer token missing or wrong")]
    Unauthorized,
    /// The response memory budget is spent by large responses clients have not read yet.
    #[error("too many large responses waiting to be read")]
    Busy,
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        ApiError::Service(ServiceError::Invalid(e))
    }
}

fn message(status: StatusCode, msg: &str) -> Response {
    json_response(status, &json!({ "message": msg }))
}

fn pydantic_item(e: &FieldError) -> Value {
    let loc: Vec<Value> = e
        .loc
        .iter()
        .map(|l| match l {
            Loc::Field(f) => Value::String(f.clone()),
            Loc::Index(i) => Value::from(*i),
        })
        .collect();
    json!({
        "input": e.input,
        "loc": loc,
        "msg": e.msg,
        "type": e.kind,
        "url": format!("https://errors.pydantic.dev/2.10/v/{}", e.kind),
    })
}

/// WaiverDB's error bodies.
fn waiver_error(e: WaiverError) -> Response {
    match e {
        WaiverError::Validation(errs) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({ "validation_error": errs.iter().map(pydantic_item).collect::<Vec<_>>() }),
        ),
        WaiverError::BadRequest(m) => message(StatusCode::BAD_REQUEST, &m),
        WaiverError::BadField { field, message: m } => {
            json_response(StatusCode::BAD_REQUEST, &json!({"message": {field: m}}))
        }
        WaiverError::Forbidden(m) => message(StatusCode::FORBIDDEN, &m),
    }
}

/// A refused upload says what and where, like the spool's `.error` note; a store failure
/// says to retry.
fn ingest_error(e: crate::service::ingest::IngestError) -> Response {
    let status = match (e.transient, e.disk_full) {
        (_, true) => StatusCode::INSUFFICIENT_STORAGE,
        (true, false) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    json_response(status, &json!({"message": e.message, "format": e.format, "line": e.line, "record": e.record}))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Service(ServiceError::Invalid(ModelError::Validation(errs))) => json_response(
                StatusCode::BAD_REQUEST,
                &json!({ "validation_error": errs.iter().map(pydantic_item).collect::<Vec<_>>() }),
            ),
            ApiError::Service(ServiceError::Invalid(ModelError::BadRequest(msg))) => {
                message(StatusCode::BAD_REQUEST, &msg)
            }
            ApiError::Service(ServiceError::NotFound(msg)) => message(StatusCode::NOT_FOUND, &msg),
            // Not logged per request: the writer logs it, rate-limited.
            ApiError::Service(ServiceError::Store(e)) if e.is_disk_full() => {
                message(StatusCode::INSUFFICIENT_STORAGE, &format!("Insufficient storage: {e}"))
            }
            ApiError::Service(ServiceError::Store(e)) => {
                if let Some(r) = log_limit::allow("store error") {
                    tracing::error!(error = %e, "store error{r}");
                }
                message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            ApiError::Service(ServiceError::Unavailable(reason)) => {
                if let Some(r) = log_limit::allow("service unavailable") {
                    tracing::error!(%reason, "service unavailable{r}");
                }
                message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
            }
            ApiError::Service(ServiceError::Waiver(e)) => waiver_error(e),
            ApiError::Service(ServiceError::Quarantine(crate::model::QuarantineError::Invalid {
                field,
                message: m,
            })) => json_response(StatusCode::BAD_REQUEST, &json!({"message": format!("{field}: {m}"), "field": field})),
            ApiError::Service(ServiceError::Decision(e)) => {
                let status = match e {
                    DecisionError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    DecisionError::BadRequest(_) => StatusCode::BAD_REQUEST,
                    DecisionError::NotFound(_) => StatusCode::NOT_FOUND,
                    DecisionError::BadGateway(_) => StatusCode::BAD_GATEWAY,
                };
                message(status, e.message())
            }
            ApiError::Service(ServiceError::Unauthorized(msg)) => {
                let mut r = message(StatusCode::UNAUTHORIZED, &format!("401 Unauthorized: {msg}"));
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"verdict\""));
                r
            }
            ApiError::Service(ServiceError::Conflict(msg)) => message(StatusCode::CONFLICT, &msg),
            ApiError::Service(ServiceError::KeyReused(msg)) => message(StatusCode::UNPROCESSABLE_ENTITY, &msg),
            ApiError::Service(ServiceError::Ingest(e)) => ingest_error(e),
            ApiError::Service(ServiceError::Stream(e)) => message(StatusCode::BAD_REQUEST, &e.to_string()),
            ApiError::Service(ServiceError::Forbidden(msg)) => {
                message(StatusCode::FORBIDDEN, &format!("403 Forbidden: {msg}"))
            }
            ApiError::MalformedJson(detail) => {
                tracing::debug!(%detail, "malformed JSON body");
                message(StatusCode::BAD_REQUEST, "Bad request")
            }
            ApiError::TooLarge(limit) => message(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("Request body is larger than the limit of {limit} bytes"),
            ),
            ApiError::UnsupportedMediaType => message(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type: the request body must be JSON, sent with Content-Type: application/json",
            ),
            ApiError::BodyTimeout => message(StatusCode::REQUEST_TIMEOUT, "Request body not received in time"),
            ApiError::BodyRead(e) => message(StatusCode::BAD_REQUEST, &format!("Could not read the request body: {e}")),
            ApiError::Busy => {
                let mut resp = message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many large responses are waiting to be read; retry shortly or ask for a smaller page",
                );
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                resp
            }
            ApiError::Unauthorized => {
                let mut resp = message(
                    StatusCode::UNAUTHORIZED,
                    "This server requires the peer token (Authorization: Bearer <token>)",
                );
                resp.headers_mut()
                    .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
                resp
            }
        }
    }
}
