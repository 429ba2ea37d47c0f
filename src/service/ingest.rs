//! Result files into stored results: detection, parsing, the sidecar / directory /
//! default context, and exactly-once bookkeeping (a file is one unit with its hash).
//!
//! Both the spool (server) and `verdict ingest` use this. A file is all or nothing: it is
//! parsed completely before anything is written (small files), or streamed into one
//! transaction on the writer thread that is rolled back on the first error (large files).
//! The transaction also records the file's content hash; a file whose hash is recorded
//! is never ingested again.

use super::{PendingWrite, QueueError, WriteQueue};
use crate::formats::{self, Aggregate, Format, FormatError, ParseOptions, json_data_values};
use crate::log::Body;
use crate::model::{
    GroupInput, IngestRecord, InputLimits, ModelError, MonotonicClock, Outcomes, ResultInput, ResultRecord, Timestamp,
    check_data_keys, check_result,
};
use crate::store::{StoreError, WriteStore, Written, transaction};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Files up to this size are parsed in memory and group-committed with others; larger
/// ones are streamed into their own transaction.
pub const SMALL_FILE: u64 = 8 << 20;

/// Largest file accepted (spec: 256 MiB).
pub const MAX_FILE: u64 = 256 << 20;

/// Lowest-precedence values, from the spool's configuration or `ingest` flags.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub item: Option<String>,
    pub item_type: Option<String>,
    pub data: BTreeMap<String, Vec<String>>,
}

/// Settings of an ingest.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub outcomes: Outcomes,
    pub defaults: Defaults,
    /// Refuse files whose results end up without `data.item`.
    pub require_item: bool,
    /// Size caps every result must fit in once its context is merged.
    pub limits: InputLimits,
}

/// A sidecar `<file>.meta.json`: context for the results of one file. All keys optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    pub item: Option<String>,
    #[serde(rename = "type")]
    pub item_type: Option<String>,
    pub testcase_prefix: Option<String>,
    pub testcase: Option<String>,
    pub ref_url: Option<String>,
    pub artifacts_base_url: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    pub format: Option<String>,
    pub aggregate: Option<String>,
    #[serde(default)]
    pub data: Map<String, Value>,
}

/// What the directory a file sits in says: `<spool>/<type>/<item>/<file>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirContext {
    pub item_type: Option<String>,
    pub item: Option<String>,
}

/// One file to ingest.
#[derive(Debug, Clone)]
pub struct FileRef<'a> {
    pub path: &'a Path,
    /// The name recorded with the results (path relative to the spool, or as given).
    pub name: &'a str,
    pub dir: DirContext,
    pub sidecar: Option<&'a Path>,
}

/// Why a file was refused: a message saying what and where, for the `.error` record.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct IngestError {
    pub message: String,
    pub format: Option<String>,
    pub line: Option<usize>,
    pub record: Option<usize>,
    /// The store or writer failed (the file itself may be fine; retry later).
    pub transient: bool,
    /// Transient because the disk holding the store is full (retry once space is freed).
    pub disk_full: bool,
}

impl IngestError {
    fn new(message: impl Into<String>) -> Self {
        IngestError {
            message: message.into(),
            format: None,
            line: None,
            record: None,
            transient: false,
            disk_full: false,
        }
    }

    fn transient(message: impl Into<String>) -> Self {
        IngestError { transient: true, ..Self::new(message) }
    }

    fn with_format(mut self, f: Format) -> Self {
        self.format = Some(f.name().to_owned());
        self
    }
}

impl From<FormatError> for IngestError {
    fn from(e: FormatError) -> Self {
        IngestError { line: e.line(), record: e.record(), ..IngestError::new(e.to_string()) }
    }
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        IngestError { disk_full: e.is_disk_full(), ..IngestError::transient(e.to_string()) }
    }
}

impl From<QueueError> for IngestError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Store(e) => e.into(),
            e => IngestError::transient(e.to_string()),
        }
    }
}

/// What happened to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Stored now, with this many results.
    Stored { results: usize, format: String },
    /// Its content hash was already recorded: nothing stored again.
    AlreadyIngested,
}

/// Ingests one file through the write queue. Blocking: call from a plain thread.
pub fn ingest_file(queue: &WriteQueue, file: &FileRef, cfg: &IngestConfig) -> Result<Ingested, IngestError> {
    start_ingest(queue, file, cfg)?.wait()
}

/// A file handed to the writer: a small file's results are queued (committed with other
/// writes), a large file's are already stored in their own transaction.
pub enum StartedIngest {
    Queued { write: PendingWrite, results: usize, format: Format },
    Finished(Ingested),
}

impl StartedIngest {
    /// Waits until the file's results are durably committed.
    pub fn wait(self) -> Result<Ingested, IngestError> {
        match self {
            StartedIngest::Finished(done) => Ok(done),
            StartedIngest::Queued { write, results, format } => match write.wait()?.first() {
                Some(Written::Ingest { created: false }) => Ok(Ingested::AlreadyIngested),
                _ => Ok(Ingested::Stored { results, format: format.name().to_owned() }),
            },
        }
    }
}

/// Reads and parses one file and queues its results without waiting for the commit (see
/// [`StartedIngest::wait`]); a large file is streamed and stored before this returns.
/// Blocking: call from a plain thread.
pub fn start_ingest(queue: &WriteQueue, file: &FileRef, cfg: &IngestConfig) -> Result<StartedIngest, IngestError> {
    let sidecar_bytes = match file.sidecar {
        Some(p) => {
            Some(std::fs::read(p).map_err(|e| IngestError::new(format!("cannot read sidecar {}: {e}", p.display())))?)
        }
        None => None,
    };
    let sidecar = match &sidecar_bytes {
        Some(b) => serde_json::from_slice::<Sidecar>(b).map_err(|e| IngestError::new(format!("sidecar: {e}")))?,
        None => Sidecar::default(),
    };
    let size = std::fs::metadata(file.path).map_err(|e| IngestError::new(format!("cannot read file: {e}")))?.len();
    if size > MAX_FILE {
        return Err(IngestError::new(format!("file is {size} bytes, larger than the limit of {MAX_FILE}")));
    }
    let ctx = Context::new(file, &sidecar, sidecar_bytes.as_deref(), cfg)?;
    if size <= SMALL_FILE {
        let bytes = std::fs::read(file.path).map_err(|e| IngestError::new(format!("cannot read file: {e}")))?;
        let ctx = ctx.hashed(&bytes);
        let format = ctx.format(&bytes)?;
        let bodies = prepare(&ctx, format, &bytes[..], cfg)?;
        let results = bodies.len() - 1;
        return Ok(StartedIngest::Queued { write: queue.submit_blocking(bodies)?, results, format });
    }
    let ctx = ctx.hashed_file(file.path)?;
    let path = file.path.to_owned();
    let cfg = cfg.clone();
    queue.exclusive_blocking(move |w| stream(w, &ctx, &path, &cfg))?.map(StartedIngest::Finished)
}

/// A file sent over HTTP (`POST /api/verdict/v1/ingest`), held in memory (at most
/// [`SMALL_FILE`] bytes: larger files go through the spool or `verdict ingest`).
#[derive(Debug, Clone)]
pub struct Upload {
    /// The file's name as given (format detection looks at its extension).
    pub name: String,
    pub bytes: Vec<u8>,
    /// A sidecar's JSON (`<file>.meta.json`'s content), when one was sent.
    pub sidecar: Option<Vec<u8>>,
    /// A format name to parse it as, instead of detecting (over the sidecar's).
    pub format: Option<String>,
}

/// Parses an uploaded file into log bodies (the ingest record first, then the results)
/// exactly as the spool would parse the same file and sidecar: the same content gets the
/// same idempotency key and the same result uuids wherever it arrives.
pub fn prepare_upload(up: &Upload, cfg: &IngestConfig) -> Result<(Vec<Body>, Format), IngestError> {
    let sidecar = match &up.sidecar {
        Some(b) => serde_json::from_slice::<Sidecar>(b).map_err(|e| IngestError::new(format!("sidecar: {e}")))?,
        None => Sidecar::default(),
    };
    let file = FileRef { path: Path::new(&up.name), name: &up.name, dir: DirContext::default(), sidecar: None };
    let mut ctx = Context::new(&file, &sidecar, up.sidecar.as_deref(), cfg)?.hashed(&up.bytes);
    if let Some(f) = &up.format {
        ctx.forced = Some(Format::from_name(f)?);
    }
    let format = ctx.format(&up.bytes)?;
    Ok((prepare(&ctx, format, &up.bytes[..], cfg)?, format))
}

/// Everything needed to turn one file's records into log bodies.
#[derive(Debug, Clone)]
struct Context {
    name: String,
    /// blake3 of the file alone (recorded on each result as `source_blake3`).
    file_blake3: String,
    /// The idempotency key: blake3 of the file and its sidecar.
    key: String,
    sidecar_bytes: Option<Vec<u8>>,
    sidecar: Sidecar,
    dir: DirContext,
    opts: ParseOptions,
    forced: Option<Format>,
}

impl Context {
    fn new(
        file: &FileRef,
        sidecar: &Sidecar,
        sidecar_bytes: Option<&[u8]>,
        cfg: &IngestConfig,
    ) -> Result<Context, IngestError> {
        let mut opts = ParseOptions::for_file(file.name.rsplit('/').next().unwrap_or(file.name));
        opts.outcomes = cfg.outcomes.clone();
        opts.testcase_prefix = sidecar.testcase_prefix.clone().unwrap_or_default();
        opts.testcase = sidecar.testcase.clone();
        opts.artifacts_base_url = sidecar.artifacts_base_url.clone();
        opts.aggregate = match sidecar.aggregate.as_deref() {
            None | Some("none") => Aggregate::None,
            Some("allpass") => Aggregate::AllPass,
            Some(other) => {
                return Err(IngestError::new(format!("sidecar: unknown aggregate {other:?} (none, allpass)")));
            }
        };
        let forced = match &sidecar.format {
            Some(f) => Some(Format::from_name(f)?),
            None => None,
        };
        Ok(Context {
            name: file.name.to_owned(),
            file_blake3: String::new(),
            key: String::new(),
            sidecar_bytes: sidecar_bytes.map(<[u8]>::to_vec),
            sidecar: sidecar.clone(),
            dir: file.dir.clone(),
            opts,
            forced,
        })
    }

    /// Sets the hashes from the file's bytes.
    fn hashed(mut self, bytes: &[u8]) -> Context {
        self.set_hash(blake3::hash(bytes));
        self
    }

    /// Sets the hashes by streaming the file.
    fn hashed_file(mut self, path: &Path) -> Result<Context, IngestError> {
        let mut h = blake3::Hasher::new();
        let f = std::fs::File::open(path).map_err(|e| IngestError::new(format!("cannot read file: {e}")))?;
        h.update_reader(f).map_err(|e| IngestError::new(format!("cannot read file: {e}")))?;
        self.set_hash(h.finalize());
        Ok(self)
    }

    fn set_hash(&mut self, file: blake3::Hash) {
        self.file_blake3 = file.to_hex().to_string();
        self.key = match &self.sidecar_bytes {
            None => self.file_blake3.clone(),
            Some(side) => {
                let mut h = blake3::Hasher::new();
                h.update(b"verdict ingest v1\0");
                h.update(file.as_bytes());
                h.update(side);
                h.finalize().to_hex().to_string()
            }
        };
    }

    fn format(&self, head: &[u8]) -> Result<Format, IngestError> {
        match self.forced {
            Some(f) => Ok(f),
            None => Ok(formats::detect(&self.name, &head[..head.len().min(64 * 1024)])?),
        }
    }

    /// The item/type a result gets when it names none: sidecar > directory > default.
    fn fallback(&self, key: &str, cfg: &IngestConfig) -> Option<String> {
        let (side, dir, default) = match key {
            "item" => (&self.sidecar.item, &self.dir.item, &cfg.defaults.item),
            _ => (&self.sidecar.item_type, &self.dir.item_type, &cfg.defaults.item_type),
        };
        side.clone()
            .or_else(|| self.sidecar.data.get(key).and_then(Value::as_str).map(str::to_owned))
            .or_else(|| dir.clone())
            .or_else(|| default.clone())
    }

    /// The stored record of the `index`-th result of the file.
    fn finish(
        &self,
        mut r: ResultInput,
        index: usize,
        now: Timestamp,
        cfg: &IngestConfig,
    ) -> Result<ResultRecord, IngestError> {
        let at_record = |e: IngestError| IngestError { record: Some(index), ..e };
        for key in ["item", "type"] {
            if !r.data.contains_key(key)
                && let Some(v) = self.fallback(key, cfg)
            {
                r.data.insert(key.to_owned(), vec![v]);
            }
        }
        // Sidecar data, then default data: never over a key the record has.
        for (k, v) in &self.sidecar.data {
            r.data.entry(k.clone()).or_insert_with(|| json_data_values(v));
        }
        for (k, v) in &cfg.defaults.data {
            r.data.entry(k.clone()).or_insert_with(|| v.clone());
        }
        check_data_keys(r.data.keys()).map_err(|e| at_record(IngestError::new(e.to_string())))?;
        let over = check_result(&r, &cfg.limits);
        if !over.is_empty() {
            let e = ModelError::Validation(over);
            return Err(at_record(IngestError::new(format!("record {index}: {e}"))));
        }
        if cfg.require_item && !r.data.contains_key("item") {
            return Err(at_record(IngestError::new(format!(
                "record {index}: no item (the record, sidecar, directory and defaults name none)"
            ))));
        }
        if r.ref_url.is_none() {
            r.ref_url = self.sidecar.ref_url.clone();
        }
        if r.groups.is_empty() {
            r.groups = self
                .sidecar
                .groups
                .iter()
                .map(|g| GroupInput { uuid: Some(g.clone()), description: None, ref_url: None })
                .collect();
        }
        // Where the result came from, for auditors.
        r.data.insert("source_file".into(), vec![self.name.clone()]);
        r.data.insert("source_blake3".into(), vec![self.file_blake3.clone()]);
        // The same file yields the same result uuids wherever it is ingested, so copies
        // ingested on two replicating nodes do not duplicate.
        r.uuid = Some(crate::model::uuid_for_file_result(&self.key, index as u64));
        Ok(super::resolve_result(r, None, now))
    }

    fn ingest_record(&self, format: Format, results: usize) -> Body {
        Body::Ingest(IngestRecord {
            blake3: self.key.clone(),
            format: format.name().to_owned(),
            name: self.name.clone(),
            results: results as u64,
        })
    }
}

/// Parses a whole (small) file into log bodies: the ingest record first, then the results.
fn prepare(ctx: &Context, format: Format, reader: impl BufRead, cfg: &IngestConfig) -> Result<Vec<Body>, IngestError> {
    let mut bodies = vec![Body::Ingest(IngestRecord {
        blake3: String::new(),
        format: String::new(),
        name: String::new(),
        results: 0,
    })];
    // Strictly increasing acceptance times, so results keep the file's order.
    let clock = MonotonicClock::new();
    formats::parse(format, reader, &ctx.opts, |r| {
        let index = bodies.len() - 1;
        bodies.push(Body::Result(ctx.finish(r, index, clock.next(), cfg)?));
        Ok::<(), IngestError>(())
    })
    .map_err(|e| e.with_format(format))?;
    bodies[0] = ctx.ingest_record(format, bodies.len() - 1);
    Ok(bodies)
}

/// On the writer thread: streams a large file into one transaction (rolled back on the
/// first bad record), recording its hash at the end.
fn stream(w: &mut dyn WriteStore, ctx: &Context, path: &Path, cfg: &IngestConfig) -> Result<Ingested, IngestError> {
    let open = || std::fs::File::open(path).map_err(|e| IngestError::new(format!("cannot read file: {e}")));
    let mut head = Vec::with_capacity(64 * 1024);
    open()?.take(64 * 1024).read_to_end(&mut head).map_err(|e| IngestError::new(format!("cannot read file: {e}")))?;
    let format = ctx.format(&head)?;
    let reader = BufReader::with_capacity(1 << 20, open()?);
    transaction(w, |w| {
        if w.is_ingested(&ctx.key)? {
            return Ok(Ingested::AlreadyIngested);
        }
        let clock = MonotonicClock::new();
        let mut n = 0;
        formats::parse(format, reader, &ctx.opts, |r| {
            w.append(&Body::Result(ctx.finish(r, n, clock.next(), cfg)?))?;
            n += 1;
            Ok::<(), IngestError>(())
        })
        .map_err(|e| e.with_format(format))?;
        w.append(&ctx.ingest_record(format, n))?;
        Ok(Ingested::Stored { results: n, format: format.name().to_owned() })
    })
}

/// What a spool has done, for `GET /api/verdict/v1/spool` (operators).
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct SpoolStatus {
    pub dir: String,
    /// Files waiting to settle or to be ingested.
    pub pending: usize,
    /// Files being ingested right now.
    pub in_progress: usize,
    /// Files ingested since start.
    pub done: u64,
    /// Files found already ingested (by content hash) and archived without storing.
    pub duplicates: u64,
    /// Files set aside in `failed/` since start.
    pub failed: u64,
    /// Results stored since start.
    pub results: u64,
    #[schema(required = true)]
    pub last_error: Option<SpoolError>,
    /// When the directory was last scanned (ISO 8601, UTC).
    #[schema(required = true)]
    pub last_scan: Option<String>,
}

/// The most recent problem.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SpoolError {
    pub file: String,
    pub message: String,
    pub at: String,
}
