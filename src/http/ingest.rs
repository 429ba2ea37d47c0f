//! `POST /api/verdict/v1/ingest`: one result file in any supported format, as the body or
//! as the `file` part of a multipart form (with an optional `sidecar` part), stored exactly
//! once by content like a spooled file.

use super::AppState;
use super::error::ApiError;
use super::json_response;
use super::openapi::params::IngestParams;
use super::openapi::schemas::{FileBody, IngestError, Message, UploadForm};
use super::request::{Ctx, read_bytes, same_origin};
use crate::model::ModelError;
use crate::service::ServiceError;
use crate::service::ingest::{Defaults, SMALL_FILE, Upload};
use crate::service::upload::UploadAnswer;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use std::collections::BTreeMap;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/verdict/v1/ingest", post(ingest))
}

/// Largest request: the in-memory file limit plus room for a sidecar and multipart framing.
const MAX_REQUEST: usize = SMALL_FILE as usize + (1 << 20);

#[utoipa::path(post, path = "/api/verdict/v1/ingest", tag = "resultsdb", params(IngestParams),
    request_body(description = "The file as the body, or a form with a `file` (and an optional `sidecar`) part", content(
        (FileBody = "application/octet-stream",
            example = json!("TAP version 13\n1..2\nok 1 - dist.first\nnot ok 2 - dist.second\n")),
        (UploadForm = "multipart/form-data"),
    )),
    security((), ("basic" = []), ("bearer" = [])), responses(
    (status = 201, description = "Stored", body = UploadAnswer),
    (status = 200, description = "The same content was stored before: nothing stored", body = UploadAnswer),
    (status = 400, description = "The file, a parameter or the form is invalid (what and where)", body = IngestError),
    (status = 401, description = "Credentials missing or wrong (tokens mode)", body = Message),
    (status = 403, description = "A cross-site upload, or a testcase the user may not submit", body = Message),
    (status = 503, description = "A transient store failure: retry", body = IngestError),
    (status = 507, description = "The disk is full", body = IngestError),
))]
/// Stores one result file exactly once by content.
async fn ingest(
    axum::extract::State(s): axum::extract::State<AppState>,
    ctx: Ctx,
    body: Body,
) -> Result<Response, ApiError> {
    refuse_cross_site(&ctx)?;
    let (name, format, defaults) = parameters(&ctx.pairs)?;
    let bytes = read_bytes(body, MAX_REQUEST, s.limits.body_timeout).await?;
    let upload = match multipart_boundary(&ctx) {
        Some(boundary) => from_form(bytes, boundary, name).await?,
        None => {
            Upload { name: name.unwrap_or_else(|| "upload".into()), bytes: bytes.to_vec(), sidecar: None, format: None }
        }
    };
    if upload.bytes.len() as u64 > SMALL_FILE {
        return Err(bad(format!(
            "the file is {} bytes; files over {SMALL_FILE} bytes go through the spool or `verdict ingest`",
            upload.bytes.len()
        )));
    }
    let upload = Upload { format, ..upload };
    let answer = s.service.ingest_upload(upload, defaults, &ctx.credentials()).await?;
    let status = if answer.stored { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json_response(status, &answer))
}

fn bad(message: String) -> ApiError {
    ApiError::from(ModelError::BadRequest(message))
}

/// A browser may post a form or plain text to any site without asking first; a write that
/// a browser sent from another origin is refused. Command-line clients send no Origin.
fn refuse_cross_site(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.headers.contains_key(header::ORIGIN) && !same_origin(&ctx.headers) {
        return Err(ApiError::Service(ServiceError::Forbidden("a cross-site upload is refused".into())));
    }
    Ok(())
}

/// `name` (the file name, for format detection), `format` (a format name instead of
/// detection), and the context the file's results get when they name none: `item`,
/// `type`, `arch`, `scenario` and `data.KEY` (repeatable).
fn parameters(pairs: &[(String, String)]) -> Result<(Option<String>, Option<String>, Defaults), ApiError> {
    let (mut name, mut format) = (None, None);
    let mut defaults = Defaults::default();
    let mut data: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in pairs {
        match k.as_str() {
            "name" => name = Some(v.clone()),
            "format" => format = Some(v.clone()),
            "item" => defaults.item = Some(v.clone()),
            "type" => defaults.item_type = Some(v.clone()),
            "arch" | "scenario" => data.entry(k.clone()).or_default().push(v.clone()),
            other => match other.strip_prefix("data.") {
                Some(key) if !key.is_empty() => data.entry(key.to_owned()).or_default().push(v.clone()),
                _ => {
                    return Err(bad(format!(
                        "parameter {other:?} is not known (name, format, item, type, arch, scenario, data.KEY)"
                    )));
                }
            },
        }
    }
    defaults.data = data;
    Ok((name, format, defaults))
}

fn multipart_boundary(ctx: &Ctx) -> Option<String> {
    let ct = ctx.headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    multer::parse_boundary(ct).ok()
}

/// The `file` part (its file name unless `name` was given) and the optional `sidecar` part.
async fn from_form(bytes: Bytes, boundary: String, name: Option<String>) -> Result<Upload, ApiError> {
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(bytes) });
    let mut form = multer::Multipart::new(stream, boundary);
    let (mut file, mut sidecar) = (None, None);
    let broken = |e: multer::Error| bad(format!("the multipart form cannot be read: {e}"));
    while let Some(field) = form.next_field().await.map_err(broken)? {
        match field.name() {
            Some("file") => {
                let filename = field.file_name().map(str::to_owned);
                file = Some((filename, field.bytes().await.map_err(broken)?));
            }
            Some("sidecar") => sidecar = Some(field.bytes().await.map_err(broken)?.to_vec()),
            other => return Err(bad(format!("form part {other:?} is not known (file, sidecar)"))),
        }
    }
    let Some((filename, bytes)) = file else { return Err(bad("the form has no \"file\" part".into())) };
    let name = name.or(filename).unwrap_or_else(|| "upload".into());
    Ok(Upload { name, bytes: bytes.to_vec(), sidecar, format: None })
}
