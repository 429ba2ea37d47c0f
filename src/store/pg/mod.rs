//! The PostgreSQL backend: the same log and derived tables as the SQLite store, in a
//! database that several `verdict serve` processes share (`--db postgres://…`).
//!
//! **Many servers, one chain.** The database is one node: it has one node id (in `meta`),
//! and every server on it seals local writes onto that one chain. Each server has its own
//! writer thread with group commit; every write transaction first takes one transaction-
//! level advisory lock ([`WRITE_LOCK`]), so write transactions of all servers run one at
//! a time. Under the lock the writer re-reads the chain heads and the newest log position,
//! allocates positions after it, and commits before releasing: commit order is position
//! order, so positions have no gaps and no reader ever sees a later position before an
//! earlier one, and no two servers can extend a chain from the same head (no fork). A
//! server's writes wait for the lock only as long as another server's commit takes.
//!
//! **Every server sees every write.** The committing transaction sends `NOTIFY
//! verdict_log` with its newest position; each server LISTENs on a connection of its own
//! and wakes its event streams (SSE, AMQP), which then read the log after what they sent.

mod apply;
mod bulk;
mod conn;
mod names;
mod plan;
mod prune;
mod read_insight;
mod read_lists;
mod read_log;
#[cfg(test)]
mod read_parity;
mod reader;
mod rows;
mod schema;
mod sql;
mod writer;

pub use conn::{Target, describe};

use super::StoreError;
use super::api::{Backend, Housekeeping, ReadStore, WriteStore};
use conn::Conn;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The advisory lock every write transaction holds (any constant; "verdict" in ASCII).
pub(crate) const WRITE_LOCK: i64 = 0x0076_6572_6469_6374;

/// The channel commits are announced on.
const CHANNEL: &str = "verdict_log";

/// Whether `db` names a PostgreSQL database rather than a file.
pub fn is_url(db: &Path) -> bool {
    let s = db.to_string_lossy();
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// An opened PostgreSQL store.
pub struct PgStore {
    target: Target,
    /// The URL without its password (what `location` shows).
    shown: PathBuf,
    node_id: String,
    /// Where reads go (`--db-read`: a streaming replica); the primary when `None`.
    read_target: Option<Target>,
    /// Name ids the readers have seen (see `names.rs`).
    names: Arc<names::NameIds>,
}

impl PgStore {
    /// Connects to the database at `url`, creates or migrates verdict's schema, and reads
    /// (or makes) the node id. A database migrated by a newer verdict is refused.
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        let target = Target::parse(url)?;
        let conn = Conn::open(&target)?;
        migrate(&conn, &target.shown)?;
        let node_id = node_id(&conn)?;
        Ok(PgStore { shown: PathBuf::from(&target.shown), target, node_id, read_target: None, names: Arc::default() })
    }

    /// Opens (creating the schema) a database holding no log entries and gives it the node
    /// id `node_id` (`replay` into PostgreSQL: the rebuilt store is the same node).
    pub fn create_with_node_id(url: &str, node_id: &str) -> Result<PgStore, StoreError> {
        let mut store = PgStore::open(url)?;
        let conn = Conn::open(&store.target)?;
        let entries: i64 = conn.one("SELECT count(*) FROM log", &[])?.try_get(0)?;
        if entries > 0 {
            return Err(StoreError::Open { path: store.shown.clone(), reason: "it already holds log entries".into() });
        }
        conn.exec("UPDATE meta SET value = $1 WHERE key = 'node_id'", &[&node_id])?;
        store.node_id = node_id.to_owned();
        Ok(store)
    }

    /// Connects to a database verdict has already set up, changing nothing: one whose
    /// schema is missing, older or newer than this build's is refused.
    pub fn open_existing(url: &str) -> Result<PgStore, StoreError> {
        let target = Target::parse(url)?;
        let conn = Conn::open(&target)?;
        let known = i64::try_from(schema::MIGRATIONS.len()).unwrap_or(i64::MAX);
        let at: i64 = conn
            .one(
                "SELECT CASE WHEN to_regclass('verdict_migrations') IS NULL THEN -1
                 ELSE (SELECT coalesce(max(version), 0) FROM verdict_migrations) END",
                &[],
            )?
            .try_get(0)?;
        if at != known {
            let reason = match at {
                -1 | 0 => "not a verdict database (no verdict schema): serve or submit into it first".to_owned(),
                at if at > known => format!("its verdict schema is version {at}, newer than this build's {known}"),
                at => format!("its verdict schema is version {at}: open it once with a writing command to migrate it"),
            };
            return Err(StoreError::Open { path: PathBuf::from(&target.shown), reason });
        }
        let node_id: String = conn.one("SELECT value FROM meta WHERE key = 'node_id'", &[])?.try_get(0)?;
        Ok(PgStore { shown: PathBuf::from(&target.shown), target, node_id, read_target: None, names: Arc::default() })
    }

    /// Sends reads to `url` (a replica of the same database) instead of the primary.
    pub fn with_reads_from(mut self, url: &str) -> Result<PgStore, StoreError> {
        self.read_target = Some(Target::parse(url)?);
        Ok(self)
    }
}

impl Target {
    /// Parses a libpq URL. `sslmode=require` (or `verify-ca`, `verify-full`) connects with
    /// TLS and checks the server's certificate and name: against the CAs in the PEM file
    /// `sslrootcert=PATH` names, else against the system's roots (stricter than libpq's
    /// `require`, which checks nothing).
    pub fn parse(url: &str) -> Result<Target, StoreError> {
        let shown = crate::model::redact::url(url);
        let bad = |why: String| StoreError::Postgres(format!("{shown}: {why}"));
        let (url, tls) = url_tls(url);
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::Postgres(format!("{shown} is not a PostgreSQL URL: {e}")))?;
        let tls = match tls {
            UrlTls { verify: false, root: Some(_) } => {
                return Err(bad("sslrootcert needs sslmode=verify-full (or require) beside it".into()));
            }
            UrlTls { verify: false, root: None } => None,
            UrlTls { verify: true, root: None } => {
                use rustls_platform_verifier::ConfigVerifierExt;
                Some(rustls::ClientConfig::with_platform_verifier().map_err(|e| bad(format!("TLS settings: {e}")))?)
            }
            UrlTls { verify: true, root: Some(path) } => Some(trusting(&path).map_err(bad)?),
        };
        Ok(Target { config, tls, shown })
    }
}

/// What a URL's query asks of TLS, beyond what tokio-postgres parses.
struct UrlTls {
    /// `sslmode=require`, `verify-ca` or `verify-full`.
    verify: bool,
    /// `sslrootcert=PATH`.
    root: Option<PathBuf>,
}

/// The URL as tokio-postgres takes it (`verify-ca` and `verify-full` as `require`,
/// `sslrootcert` taken out) and its TLS wishes.
fn url_tls(url: &str) -> (String, UrlTls) {
    let mut tls = UrlTls { verify: false, root: None };
    let Some((base, query)) = url.split_once('?') else {
        tls.verify = url.split(' ').any(|kv| kv.trim() == "sslmode=require");
        return (url.to_owned(), tls);
    };
    let mut kept = Vec::new();
    for kv in query.split('&') {
        match kv.split_once('=') {
            Some(("sslmode", "require" | "verify-ca" | "verify-full")) => {
                tls.verify = true;
                kept.push("sslmode=require");
            }
            Some(("sslrootcert", path)) => {
                tls.root = Some(PathBuf::from(percent_encoding::percent_decode_str(path).decode_utf8_lossy().as_ref()));
            }
            _ => kept.push(kv),
        }
    }
    match kept.is_empty() {
        true => (base.to_owned(), tls),
        false => (format!("{base}?{}", kept.join("&")), tls),
    }
}

/// rustls settings that trust exactly the certificates in the PEM file at `path`.
fn trusting(path: &Path) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("cannot read sslrootcert {shown}: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("sslrootcert {shown} is not valid PEM: {e}"))?;
        roots.add(cert).map_err(|e| format!("sslrootcert {shown}: a certificate rustls refuses: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("sslrootcert {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Applies the migrations this database lacks, one transaction each, under the write lock.
fn migrate(conn: &Conn, shown: &str) -> Result<(), StoreError> {
    let known = i64::try_from(schema::MIGRATIONS.len()).unwrap_or(i64::MAX);
    loop {
        conn.batch("BEGIN")?;
        let step = (|| {
            conn.exec("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
            // Under the lock: servers starting together on a new database would race to
            // create it. Checked first: `IF NOT EXISTS` logs a notice on every start.
            let missing: bool = conn.one("SELECT to_regclass('verdict_migrations') IS NULL", &[])?.try_get(0)?;
            if missing {
                conn.batch(
                    "CREATE TABLE verdict_migrations(version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                )?;
            }
            let at: i64 = conn.one("SELECT coalesce(max(version), 0) FROM verdict_migrations", &[])?.get(0);
            if at > known {
                return Err(StoreError::Open {
                    path: PathBuf::from(shown),
                    reason: format!(
                        "its verdict schema is version {at}, newer than this build's {known}: run a newer verdict"
                    ),
                });
            }
            if at == known {
                return Ok(false);
            }
            if at == 0 && has_foreign_tables(conn)? {
                return Err(StoreError::Open {
                    path: PathBuf::from(shown),
                    reason:
                        "the database holds other tables (not a verdict database): give verdict a database of its own"
                            .into(),
                });
            }
            let next = usize::try_from(at).unwrap_or(0);
            tracing::info!(db = shown, "migrating the verdict schema to version {}", at + 1);
            conn.batch(schema::MIGRATIONS[next])?;
            conn.exec("INSERT INTO verdict_migrations(version) VALUES($1)", &[&(at + 1)])?;
            Ok(true)
        })();
        match step {
            Ok(more) => {
                conn.batch("COMMIT")?;
                if !more {
                    return Ok(());
                }
            }
            Err(e) => {
                let _ = conn.batch("ROLLBACK");
                return Err(e);
            }
        }
    }
}

/// Whether the public schema holds tables other than verdict's migration record.
fn has_foreign_tables(conn: &Conn) -> Result<bool, StoreError> {
    let n: i64 = conn
        .one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'verdict_migrations'",
            &[],
        )?
        .get(0);
    Ok(n > 0)
}

/// Reads the node id, making one on first use.
fn node_id(conn: &Conn) -> Result<String, StoreError> {
    conn.exec(
        "INSERT INTO meta(key, value) VALUES('node_id', $1) ON CONFLICT (key) DO NOTHING",
        &[&crate::log::new_node_id()],
    )?;
    Ok(conn.one("SELECT value FROM meta WHERE key = 'node_id'", &[])?.get(0))
}

impl Backend for PgStore {
    fn node_id(&self) -> &str {
        &self.node_id
    }

    fn location(&self) -> &Path {
        &self.shown
    }

    fn writable(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn backup(&self, _to: &Path) -> Result<u64, StoreError> {
        Err(StoreError::Postgres(
            "verdict backup copies an SQLite store; back a PostgreSQL store up with pg_dump or pg_basebackup".into(),
        ))
    }

    fn reader(&self) -> Result<Box<dyn ReadStore>, StoreError> {
        let conn = Conn::open(self.read_target.as_ref().unwrap_or(&self.target))?;
        Ok(Box::new(reader::PgReader::new(conn, self.names.clone())?))
    }

    fn writer(&self) -> Result<Box<dyn WriteStore>, StoreError> {
        Ok(Box::new(writer::PgWriter::new(Conn::open(&self.target)?, self.node_id.clone())))
    }

    fn housekeeping(&self) -> Result<Box<dyn Housekeeping>, StoreError> {
        Ok(Box::new(Upkeep))
    }

    /// The database's size (PostgreSQL's own WAL is the server's, shared by all its
    /// databases: not counted).
    fn reads_in_process(&self) -> bool {
        false
    }

    fn size_bytes(&self) -> (i64, i64) {
        let size = Conn::open(&self.target)
            .and_then(|c| Ok(c.one("SELECT pg_database_size(current_database())", &[])?.try_get::<_, i64>(0)?));
        (size.unwrap_or(0), 0)
    }

    fn follow_commits(&self, tell: Arc<dyn Fn(i64) + Send + Sync>) -> Result<(), StoreError> {
        listen(&self.target, tell)
    }
}

/// PostgreSQL keeps its own storage (autovacuum, checkpoints): nothing to do here.
struct Upkeep;

impl Housekeeping for Upkeep {
    fn checkpoint(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn disk_full(&self) -> bool {
        false
    }

    fn recover(&self) -> bool {
        true
    }

    fn full_error(&self) -> StoreError {
        StoreError::DiskFull { path: None }
    }
}

/// LISTENs for commits of every server on the database and tells `tell` each newest
/// position; reconnects when the connection drops (a missed notification is caught up by
/// the next one: followers read the log after what they have sent).
fn listen(target: &Target, tell: Arc<dyn Fn(i64) + Send + Sync>) -> Result<(), StoreError> {
    let target = target.clone();
    conn::spawn(async move {
        loop {
            if let Err(e) = listen_once(&target, &tell).await {
                tracing::warn!(error = %e, "listening for commits on {} failed; retrying", target.shown);
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    })
}

async fn listen_once(target: &Target, tell: &Arc<dyn Fn(i64) + Send + Sync>) -> Result<(), tokio_postgres::Error> {
    match &target.tls {
        Some(tls) => {
            let (c, conn) = target.config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls.clone())).await?;
            run_listener(c, conn, tell).await
        }
        None => {
            let (c, conn) = target.config.connect(tokio_postgres::NoTls).await?;
            run_listener(c, conn, tell).await
        }
    }
}

async fn run_listener<S, T>(
    client: tokio_postgres::Client,
    mut connection: tokio_postgres::Connection<S, T>,
    tell: &Arc<dyn Fn(i64) + Send + Sync>,
) -> Result<(), tokio_postgres::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::StreamExt;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let listen = format!("LISTEN {CHANNEL}");
    let listening = client.batch_execute(&listen);
    tokio::pin!(listening);
    // The LISTEN only completes while the connection is polled: poll both.
    let mut listened = false;
    loop {
        tokio::select! {
            r = &mut listening, if !listened => { r?; listened = true; }
            m = messages.next() => match m {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                    if let Ok(seq) = n.payload().parse::<i64>() { tell(seq); }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    }
}

/// The 16-byte key a text is unique by (`testcase.name_key`, `data_values.value_key`):
/// PostgreSQL's B-trees cannot hold texts as long as clients may send.
pub(crate) fn text_key(text: &str) -> Vec<u8> {
    blake3::hash(text.as_bytes()).as_bytes()[..16].to_vec()
}

#[cfg(test)]
mod tests {
    use super::url_tls;

    #[test]
    fn tls_wishes_are_taken_out_of_the_url() {
        let cases = [
            ("postgres://u@h/db", "postgres://u@h/db", false, None),
            ("postgres://u@h/db?sslmode=require", "postgres://u@h/db?sslmode=require", true, None),
            (
                "postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem",
                "postgres://u@h/db?sslmode=require",
                true,
                Some("/etc/ca.pem"),
            ),
            (
                "postgres://u@h/db?sslrootcert=%2Fa%20b.pem&sslmode=verify-ca&application_name=x",
                "postgres://u@h/db?sslmode=require&application_name=x",
                true,
                Some("/a b.pem"),
            ),
            ("postgres://u@h/db?sslrootcert=ca.pem", "postgres://u@h/db", false, Some("ca.pem")),
            ("postgres://u@h/db?sslmode=disable", "postgres://u@h/db?sslmode=disable", false, None),
        ];
        for (url, kept, verify, root) in cases {
            let (out, tls) = url_tls(url);
            assert_eq!(
                (out.as_str(), tls.verify, tls.root.as_deref()),
                (kept, verify, root.map(std::path::Path::new)),
                "{url}"
            );
        }
    }
}
