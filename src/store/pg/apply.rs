//! Applying entries to the derived tables on PostgreSQL: results (uuid index, postings,
//! groups, insight runs and failure signatures), testcases and groups (last-writer-wins
//! fields), ingests, waivers and quarantines. The rules are the SQLite writer's
//! (`store/writer`), so both backends derive the same state from the same log.

use super::conn::Param;
use super::writer::{PgWriter, Stamp};
use crate::log::Body;
use crate::model::{
    GroupRecord, GroupView, QuarantineRecord, QuarantineView, ResultRecord, TestcaseRecord, WaiverRecord,
};
use crate::store::writer::lww::{LwwField, defer};
use crate::store::writer::runs::{duration_of, fail_of, failure_signature};
use crate::store::{StoreError, uuid_key};
use foldhash::HashMap;

/// Interned-id caches are capped so a stream of unique texts cannot grow memory forever:
/// one past it is emptied before the next batch is interned (see [`PgWriter::trim_caches`]).
const CACHE_MAX: usize = 100_000;

/// The UPDATE applying a field's last-writer-wins values (`unnest` of value, ts, origin,
/// origin_seq and row id; each row once), each only if its stamp is newer (origins
/// compared byte-wise, as SQLite compares them). Testcases return their new `ref_url`s.
fn lww_sql(field: LwwField) -> &'static str {
    match field {
        LwwField::TestcaseRefUrl => {
            "UPDATE testcase t SET ref_url = n.v, ref_url_ts = n.ts, ref_url_origin = n.o, ref_url_oseq = n.q
             FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[]) AS n(v, ts, o, q, id)
             WHERE t.id = n.id AND (t.ref_url_ts, t.ref_url_origin COLLATE \"C\", t.ref_url_oseq) < (n.ts, n.o COLLATE \"C\", n.q)
             RETURNING t.name, t.ref_url"
        }
        LwwField::GroupDescription => {
            "UPDATE grp g SET description = n.v, description_ts = n.ts, description_origin = n.o, description_oseq = n.q
             FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[]) AS n(v, ts, o, q, id)
             WHERE g.id = n.id
                 AND (g.description_ts, g.description_origin COLLATE \"C\", g.description_oseq) < (n.ts, n.o COLLATE \"C\", n.q)"
        }
        LwwField::GroupRefUrl => {
            "UPDATE grp g SET ref_url = n.v, ref_url_ts = n.ts, ref_url_origin = n.o, ref_url_oseq = n.q
             FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[]) AS n(v, ts, o, q, id)
             WHERE g.id = n.id AND (g.ref_url_ts, g.ref_url_origin COLLATE \"C\", g.ref_url_oseq) < (n.ts, n.o COLLATE \"C\", n.q)"
        }
    }
}

/// The UPDATE of each field's deferred values, each applied only where newer than the
/// stored one (the testcases' returns their new `ref_url`s).
pub(super) fn lww_statements(columns: &HashMap<LwwField, LwwColumns>) -> Vec<(&'static str, Vec<Param<'_>>)> {
    columns.iter().map(|(f, c)| (lww_sql(*f), vec![&c.values as Param, &c.ts, &c.origins, &c.oseqs, &c.ids])).collect()
}

/// One field's deferred values as `unnest` columns (see [`lww_sql`]).
#[derive(Default)]
pub(super) struct LwwColumns {
    values: Vec<Option<String>>,
    ts: Vec<i64>,
    origins: Vec<String>,
    oseqs: Vec<i64>,
    ids: Vec<i64>,
}

/// The cache key of an insight key.
pub(super) fn run_key_text(testcase_id: i64, scenario: &str, arch: &str) -> String {
    format!("{testcase_id}\u{1f}{scenario}\u{1f}{arch}")
}

/// Caches an id. Never empties the cache: a batch interns its names and then looks each
/// up, and emptying it in between cost a round trip per name the batch had already
/// interned (a `submit` naming 130k values made 30k single lookups).
pub(super) fn remember(cache: &mut HashMap<String, i64>, text: &str, id: i64) {
    cache.insert(text.to_owned(), id);
}

/// Which of the uuid keys `$1` are stored (see `absent_uuids`).
pub(super) const HELD_UUIDS: &str = "SELECT DISTINCT uuid FROM result_uuids WHERE uuid = ANY($1)";

impl PgWriter {
    /// Empties each id cache grown past [`CACHE_MAX`]; between batches, so a cache holds
    /// at most the cap plus one batch's names.
    pub(super) fn trim_caches(&mut self) {
        for cache in [&mut self.testcases, &mut self.groups, &mut self.keys, &mut self.values, &mut self.run_keys] {
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
    }

    /// Applies one entry's body to the derived tables; the result id for results.
    pub(super) fn apply(
        &mut self,
        seq: i64,
        stamp: &Stamp,
        body: &Body,
        uuid_is_new: bool,
    ) -> Result<Option<i64>, StoreError> {
        match body {
            Body::Result(r) => self.apply_result(seq, stamp, r, uuid_is_new),
            Body::Testcase(t) => self.touch_testcase(stamp, t).map(|_| None),
            Body::Group(g) => self.touch_group(stamp, g).map(|_| None),
            Body::Ingest(i) => {
                self.conn.exec(
                    "INSERT INTO ingests(blake3, seq, name, results) VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[&i.blake3, &seq, &i.name, &(i.results as i64)],
                )?;
                Ok(None)
            }
            Body::Waiver(w) => self.apply_waiver(seq, w),
            Body::Quarantine(q) => self.apply_quarantine(seq, q),
            Body::Horizon(h) => self.apply_horizon(seq, h).map(|()| None),
        }
    }

    fn apply_result(
        &mut self,
        seq: i64,
        stamp: &Stamp,
        r: &ResultRecord,
        uuid_is_new: bool,
    ) -> Result<Option<i64>, StoreError> {
        let id = seq;
        let uuid = uuid_key(&r.uuid);
        // Most imported uuids are new: the cheap lookup (buffer, prefetched batch) says so
        // without reading every holder.
        let held = !uuid_is_new && self.result_id_by_uuid(&r.uuid)?.is_some();
        let holders = if held { self.result_ids_by_uuid(&r.uuid)? } else { Vec::new() };
        if !holders.is_empty() {
            match self.holder_with_same_content(&holders, r)? {
                // The same result reached this store twice: the indexes keep the one
                // accepted first by (ts, origin, origin_seq), as on every node.
                Some(existing) if !self.earlier_than(stamp, existing)? => return Ok(Some(existing)),
                Some(existing) => self.unindex_result(existing)?,
                // Different results under one uuid: both stay listed, the uuid is a conflict.
                None => {
                    self.conn.exec("INSERT INTO uuid_conflicts(uuid) VALUES($1) ON CONFLICT DO NOTHING", &[&uuid])?;
                }
            }
        }
        self.absent_uuids.remove(&uuid);
        self.rows.uuid(uuid, id);
        self.pending.push(super::bulk::PendingResult {
            seq,
            ts: stamp.ts,
            origin: stamp.origin.to_owned(),
            oseq: stamp.oseq,
            record: r.clone(),
        });
        Ok(Some(id))
    }

    /// Writes the rows of result `id` but its uuid's (see `bulk.rs`).
    pub(super) fn index_result(&mut self, id: i64, stamp: &Stamp, r: &ResultRecord) -> Result<(), StoreError> {
        let testcase_id = self.touch_testcase(stamp, &r.testcase)?;
        for g in &r.groups {
            let gid = self.touch_group(stamp, g)?;
            self.rows.group(gid, id);
        }
        let mut postings = Vec::with_capacity(r.data.len());
        for (key, values) in &r.data {
            let key_id = self.intern_key(key)?;
            for value in values {
                postings.push((key_id, self.intern_value(value)?));
            }
        }
        self.rows.result(id, testcase_id, &r.outcome, r.submit_time, crate::store::facets::encode(&postings));
        for (k, v) in postings {
            self.rows.posting(k, v, r.submit_time, id, testcase_id);
        }
        self.index_run(id, testcase_id, r)
    }

    /// Whether `stamp` orders before the entry that holds result `id`.
    fn earlier_than(&mut self, stamp: &Stamp, id: i64) -> Result<bool, StoreError> {
        self.flush_rows()?;
        let row = self.conn.one(
            "SELECT l.ts, o.node, l.origin_seq FROM log l JOIN origins o ON o.id = l.origin_id WHERE l.seq = $1",
            &[&id],
        )?;
        let (ts, origin, oseq): (i64, String, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        Ok((stamp.ts, stamp.origin, stamp.oseq) < (ts, origin.as_str(), oseq))
    }

    /// The record in the log entry of result `id`.
    pub(super) fn logged_result(&mut self, id: i64) -> Result<ResultRecord, StoreError> {
        self.flush_rows()?;
        let body: String = self.conn.one("SELECT body FROM log WHERE seq = $1", &[&id])?.try_get(0)?;
        serde_json::from_str(&body).map_err(|e| StoreError::Corrupt { seq: id, reason: e.to_string() })
    }

    fn holder_with_same_content(&mut self, ids: &[i64], r: &ResultRecord) -> Result<Option<i64>, StoreError> {
        for id in ids {
            if self.logged_result(*id)?.same_content(r) {
                return Ok(Some(*id));
            }
        }
        Ok(None)
    }

    /// A result holding `uuid`, buffered or stored.
    pub(super) fn result_id_by_uuid(&self, uuid: &str) -> Result<Option<i64>, StoreError> {
        let key = uuid_key(uuid);
        if let Some(id) = self.rows.result_with(&key) {
            return Ok(Some(id));
        }
        if self.absent_uuids.contains(&key) {
            return Ok(None);
        }
        let row = self.conn.opt("SELECT result_id FROM result_uuids WHERE uuid = $1 LIMIT 1", &[&key])?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Every listed result with this uuid (more than one only after a conflict).
    pub(super) fn result_ids_by_uuid(&mut self, uuid: &str) -> Result<Vec<i64>, StoreError> {
        self.flush_rows()?;
        let rows = self
            .conn
            .query("SELECT result_id FROM result_uuids WHERE uuid = $1 ORDER BY result_id", &[&uuid_key(uuid)])?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Looks up the uuids of a batch's results in one query, so each result of the batch
    /// needs no round trip of its own to learn that its uuid is new.
    pub(super) fn prefetch_uuids<'a>(&mut self, bodies: impl Iterator<Item = &'a Body>) -> Result<(), StoreError> {
        let keys: Vec<Vec<u8>> = bodies
            .filter_map(|b| match b {
                Body::Result(r) => Some(uuid_key(&r.uuid)),
                _ => None,
            })
            .collect();
        if keys.len() < 2 {
            return Ok(());
        }
        let held = self.conn.query(HELD_UUIDS, &[&keys])?;
        self.note_absent(keys, &held)
    }

    /// Remembers which of `keys` are not stored, given the rows [`HELD_UUIDS`] returned.
    pub(super) fn note_absent(&mut self, keys: Vec<Vec<u8>>, held: &[tokio_postgres::Row]) -> Result<(), StoreError> {
        let held: std::collections::HashSet<Vec<u8>> =
            held.iter().map(|r| r.try_get(0)).collect::<Result<_, tokio_postgres::Error>>()?;
        self.absent_uuids.extend(keys.into_iter().filter(|k| !held.contains(k)));
        Ok(())
    }

    /// Applies the deferred last-writer-wins values (each only if newer than the stored)
    /// now, in one round trip, and remembers the testcases' new `ref_url`s for answers.
    pub(super) fn flush_lww(&mut self) -> Result<(), StoreError> {
        let columns = self.take_lww()?;
        if columns.is_empty() {
            return Ok(());
        }
        let statements = lww_statements(&columns);
        // Only the testcases' UPDATE returns rows: their new `ref_url`s.
        for row in super::rows::run_rows(&self.conn, &statements)?.iter().flatten() {
            self.ref_urls.insert(row.try_get(0)?, row.try_get(1)?);
        }
        Ok(())
    }

    /// The deferred last-writer-wins values, taken from the transaction as one column set
    /// per field (see [`lww_statements`]); pending results defer theirs first.
    pub(super) fn take_lww(&mut self) -> Result<HashMap<LwwField, LwwColumns>, StoreError> {
        self.resolve_pending()?;
        let mut columns: HashMap<LwwField, LwwColumns> = HashMap::default();
        for ((field, id), p) in std::mem::take(&mut self.lww) {
            let c = columns.entry(field).or_default();
            c.values.push(p.value);
            c.ts.push(p.ts);
            c.origins.push(p.origin);
            c.oseqs.push(p.oseq);
            c.ids.push(id);
        }
        Ok(columns)
    }

    /// A testcase's id if it exists (without creating it).
    pub(super) fn testcase_id(&mut self, name: &str) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.testcases.get(name) {
            return Ok(Some(*id));
        }
        let row = self.conn.opt("SELECT id FROM testcase WHERE name_key = $1", &[&super::text_key(name)])?;
        let id: Option<i64> = row.map(|r| r.try_get(0)).transpose()?;
        if let Some(id) = id {
            remember(&mut self.testcases, name, id);
        }
        Ok(id)
    }

    /// Creates the testcase if missing and applies its `ref_url` last-writer-wins.
    pub(super) fn touch_testcase(&mut self, stamp: &Stamp, t: &TestcaseRecord) -> Result<i64, StoreError> {
        let id = self.intern_testcase(&t.name)?;
        if let Some(ref_url) = &t.ref_url {
            defer(&mut self.lww, LwwField::TestcaseRefUrl, id, ref_url, stamp);
            self.predict_ref_url(&t.name, ref_url, stamp);
        }
        Ok(id)
    }

    /// What the deferred `ref_url` UPDATE will leave for testcase `name`: the new value if
    /// its stamp is above the stored one (the UPDATE's own comparison, `COLLATE "C"` being
    /// byte order), for answers given before that UPDATE runs in the COMMIT's pipeline.
    fn predict_ref_url(&mut self, name: &str, ref_url: &Option<String>, stamp: &Stamp) {
        let Some(stored) = self.ref_stamps.get_mut(name) else {
            self.lww_unpredicted = true;
            return;
        };
        if (stamp.ts, stamp.origin, stamp.oseq) > (stored.0, stored.1.as_str(), stored.2) {
            *stored = (stamp.ts, stamp.origin.to_owned(), stamp.oseq);
            self.ref_urls.insert(name.to_owned(), ref_url.clone());
        }
    }

    pub(super) fn intern_testcase(&mut self, name: &str) -> Result<i64, StoreError> {
        if let Some(id) = self.testcase_id(name)? {
            return Ok(id);
        }
        let id: i64 = self
            .conn
            .one("INSERT INTO testcase(name, name_key) VALUES($1, $2) RETURNING id", &[&name, &super::text_key(name)])?
            .try_get(0)?;
        remember(&mut self.testcases, name, id);
        Ok(id)
    }

    /// A group's id, if it exists.
    pub(super) fn group_id(&mut self, uuid: &str) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.groups.get(uuid) {
            return Ok(Some(*id));
        }
        let row = self.conn.opt("SELECT id FROM grp WHERE md5(uuid) = md5($1) AND uuid = $1", &[&uuid])?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Creates the group if missing and applies present fields last-writer-wins.
    fn touch_group(&mut self, stamp: &Stamp, g: &GroupRecord) -> Result<i64, StoreError> {
        let id = match self.group_id(&g.uuid)? {
            Some(id) => id,
            None => self.conn.one("INSERT INTO grp(uuid) VALUES($1) RETURNING id", &[&g.uuid])?.try_get(0)?,
        };
        remember(&mut self.groups, &g.uuid, id);
        // A group's answer reads its row: its fields are applied before answers.
        self.lww_unpredicted |= g.description.is_some() || g.ref_url.is_some();
        if let Some(description) = &g.description {
            defer(&mut self.lww, LwwField::GroupDescription, id, description, stamp);
        }
        if let Some(ref_url) = &g.ref_url {
            defer(&mut self.lww, LwwField::GroupRefUrl, id, ref_url, stamp);
        }
        Ok(id)
    }

    /// A group as the API shows it.
    pub(super) fn group_view(&mut self, uuid: &str) -> Result<Option<GroupView>, StoreError> {
        self.flush_rows()?;
        let row = self.conn.opt(
            "SELECT g.uuid, g.description, g.ref_url, (SELECT count(*) FROM result_groups rg WHERE rg.group_id = g.id)
             FROM grp g WHERE md5(g.uuid) = md5($1) AND g.uuid = $1",
            &[&uuid],
        )?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(GroupView {
            uuid: r.try_get(0)?,
            description: r.try_get(1)?,
            ref_url: r.try_get(2)?,
            results_count: r.try_get(3)?,
        }))
    }

    fn intern_key(&mut self, key: &str) -> Result<i64, StoreError> {
        if let Some(id) = self.keys.get(key) {
            return Ok(*id);
        }
        let id: i64 = match self.conn.opt("SELECT id FROM data_keys WHERE key = $1", &[&key])? {
            Some(r) => r.try_get(0)?,
            None => self.conn.one("INSERT INTO data_keys(key) VALUES($1) RETURNING id", &[&key])?.try_get(0)?,
        };
        remember(&mut self.keys, key, id);
        Ok(id)
    }

    pub(super) fn intern_value(&mut self, value: &str) -> Result<i64, StoreError> {
        if let Some(id) = self.values.get(value) {
            return Ok(*id);
        }
        let key = super::text_key(value);
        let id: i64 = match self.conn.opt("SELECT id FROM data_values WHERE value_key = $1", &[&key])? {
            Some(r) => r.try_get(0)?,
            None => self
                .conn
                .one("INSERT INTO data_values(value, value_key) VALUES($1, $2) RETURNING id", &[&value, &key])?
                .try_get(0)?,
        };
        remember(&mut self.values, value, id);
        Ok(id)
    }

    /// Indexes a waiver under its log position (a uuid seen before is not indexed again).
    fn apply_waiver(&mut self, seq: i64, w: &WaiverRecord) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.waiver_id(&w.uuid)? {
            return Ok(Some(id));
        }
        self.conn.exec(
            "INSERT INTO waivers(id, uuid, subject_type, subject_identifier, testcase, scenario, product_version,
             username, timestamp, waived, comment, proxied_by, expires_at)
             VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            &[
                &seq,
                &w.uuid,
                &w.subject_type,
                &w.subject_identifier,
                &w.testcase,
                &w.scenario,
                &w.product_version,
                &w.username,
                &w.timestamp,
                &w.waived,
                &w.comment,
                &w.proxied_by,
                &w.expires_at,
            ],
        )?;
        Ok(Some(seq))
    }

    /// The local id of the waiver with this uuid, if stored.
    pub(super) fn waiver_id(&self, uuid: &str) -> Result<Option<i64>, StoreError> {
        let row = self.conn.opt("SELECT id FROM waivers WHERE md5(uuid) = md5($1) AND uuid = $1", &[&uuid])?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    fn apply_quarantine(&mut self, seq: i64, q: &QuarantineRecord) -> Result<Option<i64>, StoreError> {
        let record = serde_json::to_string(q).map_err(|e| StoreError::Corrupt { seq, reason: e.to_string() })?;
        self.conn.exec(
            "INSERT INTO quarantines(seq, uuid, timestamp, record) VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&seq, &q.uuid, &q.timestamp, &record],
        )?;
        Ok(Some(seq))
    }

    /// The answer for an appended quarantine entry: it with its log position.
    pub(super) fn written_quarantine(&self, q: &QuarantineRecord) -> Result<QuarantineView, StoreError> {
        let seq: Option<i64> = self
            .conn
            .one(
                "SELECT max(seq) FROM quarantines WHERE md5(uuid) = md5($1) AND uuid = $1 AND timestamp = $2",
                &[&q.uuid, &q.timestamp],
            )?
            .try_get(0)?;
        let seq = seq.ok_or_else(|| StoreError::Corrupt { seq: 0, reason: "quarantine not stored".into() })?;
        Ok(QuarantineView { seq, record: q.clone() })
    }

    /// Indexes result `id` for insight (pass or fail outcomes only).
    fn index_run(&mut self, id: i64, testcase_id: i64, r: &ResultRecord) -> Result<(), StoreError> {
        let Some(fail) = fail_of(&r.outcome) else { return Ok(()) };
        let first = |k: &str| r.data.get(k).and_then(|v| v.first()).map(String::as_str);
        let item_id = first("item").map(|v| self.intern_value(v)).transpose()?.unwrap_or(0);
        let type_id = first("type").map(|v| self.intern_value(v)).transpose()?.unwrap_or(0);
        let key_id = self.run_key(testcase_id, first("scenario").unwrap_or(""), first("arch").unwrap_or(""))?;
        self.run_changed(key_id, id);
        self.rows.run(key_id, r.submit_time, id, fail, item_id, type_id, duration_of(first("duration")));
        if fail && let Some(sig) = failure_signature(r) {
            self.rows.failure(sig, r.submit_time, id);
        }
        Ok(())
    }

    /// Notes that key `key_id`'s runs changed at log position `at`.
    pub(super) fn run_changed(&mut self, key_id: i64, at: i64) {
        let slot = self.runs_changed.entry(key_id).or_insert(at);
        *slot = (*slot).max(at);
    }

    /// The id of insight key (testcase, scenario, arch), created if missing.
    pub(super) fn run_key(&mut self, testcase_id: i64, scenario: &str, arch: &str) -> Result<i64, StoreError> {
        let text = run_key_text(testcase_id, scenario, arch);
        if let Some(id) = self.run_keys.get(&text) {
            return Ok(*id);
        }
        let found = self.conn.opt(
            "SELECT id FROM run_keys WHERE testcase_id = $1 AND md5(scenario) = md5($2) AND md5(arch) = md5($3)
             AND scenario = $2 AND arch = $3",
            &[&testcase_id, &scenario, &arch],
        )?;
        let id: i64 = match found {
            Some(r) => r.try_get(0)?,
            None => self
                .conn
                .one(
                    "INSERT INTO run_keys(testcase_id, scenario, arch) VALUES($1, $2, $3) RETURNING id",
                    &[&testcase_id, &scenario, &arch],
                )?
                .try_get(0)?,
        };
        remember(&mut self.run_keys, &text, id);
        Ok(id)
    }
}
