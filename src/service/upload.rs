//! Result files sent over HTTP (`POST /api/verdict/v1/ingest`): parsed like a spooled
//! file, every result's testcase checked against the caller's rights, then written through
//! the write queue with the file's ingest record, so the same content is stored once
//! whether it came by HTTP, the spool or `verdict ingest`.

use super::ingest::{Defaults, IngestConfig, Upload, prepare_upload};
use super::{Service, ServiceError, auth};
use crate::log::Body;
use crate::store::Written;
use serde::Serialize;

/// What became of an uploaded file.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UploadAnswer {
    pub name: String,
    /// The detected (or given) format.
    pub format: String,
    /// Results in the file.
    pub results: usize,
    /// False when the same content (file + sidecar) was ingested before: nothing stored.
    pub stored: bool,
    /// The idempotency key: blake3 of the file (and its sidecar).
    pub blake3: String,
}

impl Service {
    /// Ingests one uploaded file with `defaults` as the lowest-precedence context (after
    /// the file's own records and its sidecar). All or nothing: a bad record, or a
    /// testcase the caller may not submit, refuses the whole file and stores nothing.
    pub async fn ingest_upload(
        &self,
        upload: Upload,
        defaults: Defaults,
        creds: &auth::Credentials,
    ) -> Result<UploadAnswer, ServiceError> {
        let config = self.config();
        let auth = &config.auth;
        let who = auth.authenticate(creds)?;
        let cfg = IngestConfig {
            outcomes: config.outcomes.clone(),
            defaults,
            require_item: false,
            limits: config.input_limits.clone(),
        };
        let name = upload.name.clone();
        // Parsing a file of up to 8 MiB is CPU work: off the async workers.
        let (bodies, format) = tokio::task::spawn_blocking(move || prepare_upload(&upload, &cfg))
            .await
            .map_err(|e| ServiceError::Unavailable(format!("ingest worker failed: {e}")))?
            .map_err(ServiceError::Ingest)?;
        for body in &bodies {
            if let Body::Result(r) = body {
                auth.may_submit(who.as_ref(), &r.testcase.name)?;
            }
        }
        let blake3 = match bodies.first() {
            Some(Body::Ingest(i)) => i.blake3.clone(),
            _ => String::new(),
        };
        let results = bodies.len().saturating_sub(1);
        let written = self.write(bodies).await?;
        let stored = !matches!(written.first(), Some(Written::Ingest { created: false }));
        Ok(UploadAnswer { name, format: format.name().to_owned(), results, stored, blake3 })
    }
}
