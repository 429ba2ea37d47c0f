//! One PostgreSQL connection used synchronously: the store's traits are synchronous (the
//! writer is a thread, readers run on the blocking pool or briefly on an async worker), so
//! each call sends its query through tokio-postgres and waits for the answer.
//!
//! The connections' I/O runs on a small runtime of the backend's own ("verdict-pg"), and
//! a caller waits with `futures_executor::block_on`: a tokio-postgres client only talks to
//! its connection task through channels, so waiting on it needs no tokio context and works
//! from any thread, an async worker included (as an SQLite read does). Prepared
//! statements are cached per connection by their text.

use super::super::StoreError;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

/// A statement parameter.
pub type Param<'a> = &'a (dyn ToSql + Sync);

/// Parameters of a query.
pub type Params<'a> = &'a [Param<'a>];

/// The runtime that drives every connection's socket.
fn runtime() -> Result<&'static tokio::runtime::Runtime, StoreError> {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(rt) = RT.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("verdict-pg")
        .enable_all()
        .build()
        .map_err(|e| StoreError::Postgres(format!("cannot start the PostgreSQL I/O thread: {e}")))?;
    Ok(RT.get_or_init(|| rt))
}

/// Waits for `f` on this thread.
pub fn wait<F: Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

/// How a connection reaches the server.
#[derive(Clone)]
pub struct Target {
    pub config: tokio_postgres::Config,
    /// TLS settings when the URL asks for `sslmode=require`.
    pub tls: Option<rustls::ClientConfig>,
    /// The URL without its password (for messages).
    pub shown: String,
}

/// A connection and its prepared statements.
pub struct Conn {
    client: Arc<Client>,
    statements: RefCell<HashMap<String, Statement>>,
    /// Statements to send ahead of the next query, in its round trip (see [`Conn::defer`]).
    deferred: RefCell<Vec<&'static str>>,
    /// Whether statements are planned with their bound values (see [`Conn::plan_with_values`]).
    values_plans: bool,
    /// Whether a transaction is open or about to be (BEGIN deferred): `SET LOCAL` applies.
    in_transaction: Cell<bool>,
    /// Whether the open transaction plans statements generically (see [`Conn::query_generic`]).
    generic_now: Cell<bool>,
}

/// Plans the next statements of the transaction without their values (a cached plan).
const GENERIC_PLANS: &str = "SET LOCAL plan_cache_mode = force_generic_plan";
/// Plans the next statements of the transaction with their values again.
const CUSTOM_PLANS: &str = "SET LOCAL plan_cache_mode = force_custom_plan";

impl Conn {
    /// Opens a connection to `target`.
    pub fn open(target: &Target) -> Result<Conn, StoreError> {
        let rt = runtime()?;
        let (config, tls) = (target.config.clone(), target.tls.clone());
        let connecting = rt.spawn(async move {
            match tls {
                Some(tls) => {
                    let (client, conn) = config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls)).await?;
                    tokio::spawn(drive(conn));
                    Ok::<_, tokio_postgres::Error>(client)
                }
                None => {
                    let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
                    tokio::spawn(drive(conn));
                    Ok(client)
                }
            }
        });
        let client = wait(connecting)
            .map_err(|e| StoreError::Postgres(format!("connecting to {}: {e}", target.shown)))?
            .map_err(|e| StoreError::Postgres(format!("cannot connect to {}: {}", target.shown, describe(&e))))?;
        Ok(Conn {
            client: Arc::new(client),
            statements: RefCell::new(HashMap::new()),
            deferred: RefCell::new(Vec::new()),
            values_plans: false,
            in_transaction: Cell::new(false),
            generic_now: Cell::new(false),
        })
    }

    /// The statement for `sql`, prepared once per connection.
    fn statement(&self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let s = wait(self.client.prepare(sql)).map_err(StoreError::from)?;
        self.statements.borrow_mut().insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    /// Runs statements without parameters (several, separated by `;`).
    pub fn batch(&self, sql: &str) -> Result<(), StoreError> {
        let first = std::mem::take(&mut *self.deferred.borrow_mut());
        if !first.is_empty() {
            return Ok(wait(self.client.batch_execute(&format!("{}; {sql}", first.join("; "))))?);
        }
        Ok(wait(self.client.batch_execute(sql))?)
    }

    /// Sends `sql` (no parameters), a statement that begins a transaction, ahead of the
    /// next query, in the same round trip: a read transaction's BEGIN costs nothing of its
    /// own. The transaction plans with the session's setting until told otherwise.
    pub fn defer(&self, sql: &'static str) {
        self.deferred.borrow_mut().push(sql);
        self.in_transaction.set(true);
        self.generic_now.set(false);
    }

    /// Sends `sql` (no parameters) without waiting for its answer: queued on the
    /// connection now, before any later statement, and finished by the I/O thread. For a
    /// statement whose outcome changes nothing for the caller (a read-only transaction's
    /// COMMIT), so the caller does not wait a round trip for it.
    pub fn send(&self, sql: &'static str) {
        // Only a transaction's end is sent this way: what it set locally ends with it.
        self.in_transaction.set(false);
        self.generic_now.set(false);
        let client = self.client.clone();
        let mut sending = Box::pin(async move {
            if let Err(e) = client.batch_execute(sql).await {
                tracing::debug!(error = %e, sql, "a statement sent without waiting failed");
            }
        });
        // The first poll queues the request on the connection (tokio-postgres sends it
        // to the connection task before it first waits), which keeps statements in order.
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        if sending.as_mut().poll(&mut cx) == Poll::Pending {
            let _ = spawn(sending);
        }
    }

    /// Drops the deferred statement if it was not sent; whether it was (still) pending.
    pub fn forget_deferred(&self) -> bool {
        self.in_transaction.set(false);
        let mut deferred = self.deferred.borrow_mut();
        let pending = !deferred.is_empty();
        deferred.clear();
        pending
    }

    /// Waits for `f`, with the deferred statements (if any) sent just before it.
    fn run<T>(&self, f: impl Future<Output = Result<T, tokio_postgres::Error>>) -> Result<T, StoreError> {
        let sqls = std::mem::take(&mut *self.deferred.borrow_mut());
        if sqls.is_empty() {
            return Ok(wait(f)?);
        }
        let statements: Vec<Statement> = sqls.iter().map(|sql| self.statement(sql)).collect::<Result<_, _>>()?;
        // Both joins poll their futures in order at first: the deferred statements go first.
        let ahead = futures_util::future::try_join_all(statements.iter().map(|s| self.client.execute(s, &[])));
        let (_, out) = wait(futures_util::future::try_join(ahead, f))?;
        Ok(out)
    }

    /// From now on plans every statement with its bound values (a custom plan, the
    /// session's `plan_cache_mode`), except those run through [`Conn::query_generic`]. A
    /// prepared statement left to the default mode settles on a generic plan after five
    /// uses when that looks no dearer, which for a filter's page it often is not.
    pub fn plan_with_values(&mut self) -> Result<(), StoreError> {
        wait(self.client.batch_execute("SET plan_cache_mode = force_custom_plan"))?;
        self.values_plans = true;
        Ok(())
    }

    /// Makes the next statement of the open transaction planned generically or with its
    /// values, by a `SET LOCAL` sent in its round trip when the mode changes.
    fn plan_mode(&self, generic: bool) {
        if self.values_plans && self.in_transaction.get() && self.generic_now.get() != generic {
            self.deferred.borrow_mut().push(if generic { GENERIC_PLANS } else { CUSTOM_PLANS });
            self.generic_now.set(generic);
        }
    }

    /// Every row `sql` returns.
    pub fn query(&self, sql: &str, params: Params) -> Result<Vec<Row>, StoreError> {
        let s = self.statement(sql)?;
        self.plan_mode(false);
        self.run(self.client.query(&s, params))
    }

    /// Every row `sql` returns, planned once for any values (a generic plan, kept by the
    /// server for this connection): for statements whose best plan does not depend on the
    /// values, which then skip planning. On a connection that plans with values, only
    /// inside a transaction (outside one it is planned with its values).
    pub fn query_generic(&self, sql: &str, params: Params) -> Result<Vec<Row>, StoreError> {
        let s = self.statement(sql)?;
        self.plan_mode(true);
        self.run(self.client.query(&s, params))
    }

    /// The row `sql` returns, if any (more than one is an error).
    pub fn opt(&self, sql: &str, params: Params) -> Result<Option<Row>, StoreError> {
        let mut rows = self.query(sql, params)?;
        match rows.len() {
            0 | 1 => Ok(rows.pop()),
            n => Err(StoreError::Postgres(format!("query returned {n} rows where at most one was expected: {sql}"))),
        }
    }

    /// The one row `sql` returns.
    pub fn one(&self, sql: &str, params: Params) -> Result<Row, StoreError> {
        self.opt(sql, params)?
            .ok_or_else(|| StoreError::Postgres(format!("query returned no row where one was expected: {sql}")))
    }

    /// Runs `sql`; how many rows it changed.
    pub fn exec(&self, sql: &str, params: Params) -> Result<u64, StoreError> {
        let s = self.statement(sql)?;
        self.run(self.client.execute(&s, params))
    }

    /// Runs several statements in one pipeline: all are sent before the first answer is
    /// awaited, so they cost one round trip, and the server runs them in order (one after
    /// a failed one fails too, inside a transaction). Returns each one's rows.
    pub fn pipeline(&self, statements: &[(&str, Params)]) -> Result<Vec<Vec<Row>>, StoreError> {
        self.pipeline_planned(statements, false)
    }

    /// [`Conn::pipeline`], planned generically when `generic` (see [`Conn::query_generic`]).
    pub fn pipeline_planned(&self, statements: &[(&str, Params)], generic: bool) -> Result<Vec<Vec<Row>>, StoreError> {
        let prepared: Vec<Statement> =
            statements.iter().map(|(sql, _)| self.statement(sql)).collect::<Result<_, _>>()?;
        self.plan_mode(generic);
        let queries = prepared.iter().zip(statements).map(|(s, (_, params))| self.client.query(s, params));
        self.run(futures_util::future::try_join_all(queries))
    }

    /// Runs a query built at run time (not cached: its text varies).
    pub fn query_once(&self, sql: &str, params: Params) -> Result<Vec<Row>, StoreError> {
        self.plan_mode(false);
        self.run(self.client.query(sql, params))
    }

    /// Whether the connection is closed (the server went away).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// Runs a connection's I/O until it ends.
async fn drive<S, T>(conn: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    if let Err(e) = conn.await {
        tracing::warn!(error = %e, "PostgreSQL connection ended");
    }
}

/// A driver error with the server's message and detail when there is one.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => e.to_string(),
    }
}

/// Spawns `f` on the backend's runtime (a listener's long-running task).
pub fn spawn<F>(f: F) -> Result<(), StoreError>
where
    F: Future<Output = ()> + Send + 'static,
{
    runtime()?.spawn(f);
    Ok(())
}
