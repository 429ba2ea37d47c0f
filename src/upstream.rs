//! Reading an upstream ResultsDB 2.x or WaiverDB 1.x PostgreSQL database in its own
//! schema (`verdict import-resultsdb`, issue 14), a page at a time in id order. The rows
//! become verdict records in `model::upstream`; writing them is `service::import`.
//!
//! Tables read (upstream's SQLAlchemy models): ResultsDB `testcase(name, ref_url)`,
//! `"group"(uuid, description, ref_url)`, `result(id, testcase_name, submit_time, outcome,
//! note, ref_url)`, `result_data(result_id, key, value)`, `groups_to_results(group_uuid,
//! result_id)`; WaiverDB `waiver(id, subject_type, subject_identifier, testcase, username,
//! proxied_by, product_version, waived, scenario, comment, timestamp)`. Timestamps are
//! naive UTC in both, read as microseconds since the epoch.

use crate::model::upstream::{UpstreamResult, UpstreamWaiver};
use crate::model::{GroupRecord, TestcaseRecord};
use crate::service::redact;
use rustls::pki_types::CertificateDer;
use std::collections::HashMap;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, NoTls, Row, Socket};

/// Why reading upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect to {url}")]
    Connect {
        url: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// The TLS settings for `sslmode=require` cannot be made (a CA certificate rustls
    /// refuses, or no system roots).
    #[error("TLS to the upstream database: {0}")]
    Tls(String),
    /// A table upstream's schema has is missing: not the database it was said to be.
    #[error(
        "{url} has no table {table}: is it a {what} database? (a ResultsDB 2.x URL goes first, WaiverDB 1.x after --waiverdb)"
    )]
    NotUpstream { url: String, table: &'static str, what: &'static str },
    #[error("reading {what} from {url}")]
    Query {
        url: String,
        what: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
}

/// A connection to one upstream database.
pub struct Upstream {
    client: Client,
    /// The URL without its password, for messages.
    url: String,
}

/// Microseconds since the epoch of a naive-UTC `timestamp` column, in SQL.
macro_rules! micros {
    ($col:literal) => {
        concat!("(extract(epoch from ", $col, ") * 1000000)::bigint")
    };
}

impl Upstream {
    /// Connects (plain TCP or a Unix socket, as libpq URLs name them) and checks that the
    /// tables of `what` ("ResultsDB 2.x" or "WaiverDB 1.x") are there.
    ///
    /// TLS is used when the URL says `sslmode=require`, and then, unlike libpq's `require`,
    /// the server's certificate is checked: against `trusted` (a CA's certificates) if
    /// given, else the system's roots. Without it the connection is plain, as libpq's
    /// `prefer` falls back to on a server without TLS.
    pub async fn connect(
        url: &str,
        trusted: Option<&[CertificateDer<'static>]>,
        tables: &[&'static str],
        what: &'static str,
    ) -> Result<Upstream, UpstreamError> {
        let shown = redact::url(url);
        let connect_error = |source| UpstreamError::Connect { url: shown.clone(), source };
        let config: tokio_postgres::Config = url.parse().map_err(connect_error)?;
        let client = if wants_tls(url) {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_tls(trusted)?);
            open(&config, tls).await.map_err(connect_error)?
        } else {
            open(&config, NoTls).await.map_err(connect_error)?
        };
        let up = Upstream { client, url: shown };
        for &table in tables {
            let sql = "SELECT to_regclass($1) IS NOT NULL";
            let row = up.query_one("the schema", sql, &[&format!("\"{table}\"")]).await?;
            if !row.try_get::<_, bool>(0).unwrap_or(false) {
                return Err(UpstreamError::NotUpstream { url: up.url.clone(), table, what });
            }
        }
        Ok(up)
    }

    async fn query(
        &self,
        what: &'static str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, UpstreamError> {
        self.client.query(sql, params).await.map_err(self.failed(what))
    }

    async fn query_one(
        &self,
        what: &'static str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Row, UpstreamError> {
        self.client.query_one(sql, params).await.map_err(self.failed(what))
    }

    /// The error of reading `what`: a failed query, or a column of an unexpected type.
    fn failed(&self, what: &'static str) -> impl Fn(tokio_postgres::Error) -> UpstreamError + '_ {
        move |source| UpstreamError::Query { url: self.url.clone(), what, source }
    }

    /// The number of rows in `table` (for the progress bar).
    pub async fn count(&self, table: &'static str) -> Result<u64, UpstreamError> {
        let row = self.query_one("a row count", &format!("SELECT count(*) FROM \"{table}\""), &[]).await?;
        Ok(u64::try_from(row.try_get::<_, i64>(0).unwrap_or(0)).unwrap_or(0))
    }

    /// Every testcase with its ref_url.
    pub async fn testcases(&self) -> Result<Vec<TestcaseRecord>, UpstreamError> {
        let rows = self
            .query("testcases", "SELECT name, ref_url FROM testcase WHERE name IS NOT NULL ORDER BY id", &[])
            .await?;
        self.rows("testcases", &rows, |r| Ok(TestcaseRecord { name: r.try_get(0)?, ref_url: Some(r.try_get(1)?) }))
    }

    /// Every group with its description and ref_url.
    pub async fn groups(&self) -> Result<Vec<GroupRecord>, UpstreamError> {
        let rows = self
            .query("groups", "SELECT uuid, description, ref_url FROM \"group\" WHERE uuid IS NOT NULL ORDER BY id", &[])
            .await?;
        self.rows("groups", &rows, |r| {
            Ok(GroupRecord { uuid: r.try_get(0)?, description: Some(r.try_get(1)?), ref_url: Some(r.try_get(2)?) })
        })
    }

    /// Up to `limit` results with ids above `after`, in id order, with their data and
    /// group memberships.
    pub async fn results_after(&self, after: i64, limit: i64) -> Result<Vec<UpstreamResult>, UpstreamError> {
        let sql = concat!(
            "SELECT id::bigint, testcase_name, ",
            micros!("submit_time"),
            ", outcome, note, ref_url FROM result WHERE id > $1::bigint ORDER BY id LIMIT $2::bigint"
        );
        let rows = self.query("results", sql, &[&after, &limit]).await?;
        let read = |r: &Row| -> Result<UpstreamResult, tokio_postgres::Error> {
            Ok(UpstreamResult {
                id: r.try_get(0)?,
                testcase: r.try_get::<_, Option<String>>(1)?.unwrap_or_default(),
                submit_time: r.try_get::<_, Option<i64>>(2)?.unwrap_or(0),
                outcome: r.try_get::<_, Option<String>>(3)?.unwrap_or_default(),
                note: r.try_get(4)?,
                ref_url: r.try_get(5)?,
                data: Vec::new(),
                groups: Vec::new(),
            })
        };
        let mut results = self.rows("results", &rows, read)?;
        let (Some(first), Some(last)) = (results.first().map(|r| r.id), results.last().map(|r| r.id)) else {
            return Ok(results);
        };
        let at: HashMap<i64, usize> = results.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        let range: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&(first - 1), &last];
        let data_sql = "SELECT result_id::bigint, key, value FROM result_data
                        WHERE result_id > $1::bigint AND result_id <= $2::bigint ORDER BY id";
        let rows = self.query("result data", data_sql, &range).await?;
        let data = self.rows("result data", &rows, |r| {
            Ok((
                r.try_get::<_, Option<i64>>(0)?,
                r.try_get::<_, Option<String>>(1)?,
                r.try_get::<_, Option<String>>(2)?,
            ))
        })?;
        for (id, key, value) in data {
            if let (Some(&i), Some(k), Some(v)) = (id.and_then(|id| at.get(&id)), key, value) {
                results[i].data.push((k, v));
            }
        }
        let groups_sql = "SELECT result_id::bigint, group_uuid FROM groups_to_results
                          WHERE result_id > $1::bigint AND result_id <= $2::bigint ORDER BY id";
        let rows = self.query("group memberships", groups_sql, &range).await?;
        let members = self.rows("group memberships", &rows, |r| {
            Ok((r.try_get::<_, Option<i64>>(0)?, r.try_get::<_, Option<String>>(1)?))
        })?;
        for (id, group) in members {
            if let (Some(&i), Some(g)) = (id.and_then(|id| at.get(&id)), group) {
                results[i].groups.push(g);
            }
        }
        Ok(results)
    }

    /// Up to `limit` waivers with ids above `after`, in id order.
    pub async fn waivers_after(&self, after: i64, limit: i64) -> Result<Vec<UpstreamWaiver>, UpstreamError> {
        let sql = concat!(
            "SELECT id::bigint, subject_type, subject_identifier, testcase, username, proxied_by, product_version, ",
            "waived, scenario, comment, ",
            micros!("timestamp"),
            " FROM waiver WHERE id > $1::bigint ORDER BY id LIMIT $2::bigint"
        );
        let rows = self.query("waivers", sql, &[&after, &limit]).await?;
        self.rows("waivers", &rows, |r| {
            Ok(UpstreamWaiver {
                id: r.try_get(0)?,
                subject_type: r.try_get(1)?,
                subject_identifier: r.try_get(2)?,
                testcase: r.try_get(3)?,
                username: r.try_get(4)?,
                proxied_by: r.try_get(5)?,
                product_version: r.try_get(6)?,
                waived: r.try_get(7)?,
                scenario: r.try_get(8)?,
                comment: r.try_get(9)?,
                timestamp: r.try_get::<_, Option<i64>>(10)?.unwrap_or(0),
            })
        })
    }

    /// Reads each row with `read`; a column of an unexpected type is an error naming `what`.
    fn rows<T>(
        &self,
        what: &'static str,
        rows: &[Row],
        read: impl Fn(&Row) -> Result<T, tokio_postgres::Error>,
    ) -> Result<Vec<T>, UpstreamError> {
        rows.iter().map(|r| read(r).map_err(self.failed(what))).collect()
    }
}

/// Connects with `tls` and runs the connection on the current runtime.
async fn open<T>(config: &tokio_postgres::Config, tls: T) -> Result<Client, tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "upstream database connection ended");
        }
    });
    Ok(client)
}

/// Whether a libpq URL asks for TLS (`sslmode=require`, in its query or as a keyword).
fn wants_tls(url: &str) -> bool {
    url.split(['?', '&', ' ']).any(|kv| kv.trim() == "sslmode=require")
}

/// rustls settings for the upstream server: its certificate checked against `trusted` if
/// given, else the system's roots.
fn client_tls(trusted: Option<&[CertificateDer<'static>]>) -> Result<rustls::ClientConfig, UpstreamError> {
    let Some(certs) = trusted else {
        use rustls_platform_verifier::ConfigVerifierExt;
        return rustls::ClientConfig::with_platform_verifier().map_err(|e| UpstreamError::Tls(e.to_string()));
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in certs {
        roots.add(c.clone()).map_err(|e| UpstreamError::Tls(format!("a CA certificate rustls refuses: {e}")))?;
    }
    Ok(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth())
}

/// ResultsDB 2.x's tables this reads.
pub const RESULTSDB_TABLES: [&str; 5] = ["testcase", "group", "result", "result_data", "groups_to_results"];
/// WaiverDB 1.x's table this reads.
pub const WAIVERDB_TABLES: [&str; 1] = ["waiver"];

#[cfg(test)]
mod tests {
    #[test]
    fn tls_is_used_when_the_url_requires_it() {
        let cases = [
            ("postgres://u@h/db", false),
            ("postgres://u@h/db?sslmode=prefer", false),
            ("postgres://u@h/db?sslmode=require", true),
            ("postgres://u@h/db?connect_timeout=5&sslmode=require", true),
            ("host=h dbname=db sslmode=require", true),
            ("postgres://u@h/db?sslmode=disable", false),
        ];
        for (url, tls) in cases {
            assert_eq!(super::wants_tls(url), tls, "{url}");
        }
    }
}
