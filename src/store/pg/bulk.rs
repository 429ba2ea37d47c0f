//! Results applied a batch at a time on PostgreSQL. A result names a testcase, groups,
//! data keys and values, and an insight key, each an id to look up or create; one at a time
//! that is a round trip each (a `submit` ran at ~4k results/s). So a result's uuid is
//! indexed at once (later results of the batch see it) and the rest waits in `pending`
//! until something reads the tables or the transaction commits: then every name the batch
//! lacks is created and looked up with one statement pair per table, all tables in one
//! pipeline (insight keys, which name testcase ids, in a second), and the rows follow.

use super::conn::Param;
use super::writer::{PgWriter, Stamp};
use crate::model::ResultRecord;
use crate::store::StoreError;
use crate::store::writer::runs::fail_of;
use std::collections::HashSet;

/// A result waiting for its ids: its log position and the stamp of its entry.
pub(super) struct PendingResult {
    pub seq: i64,
    pub ts: i64,
    pub origin: String,
    pub oseq: i64,
    pub record: ResultRecord,
}

impl PgWriter {
    /// Applies the pending results: interns what they name in bulk, then writes their rows
    /// (through the caches, which now hold every id they need).
    pub(super) fn resolve_pending(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.trim_caches();
        self.intern_names(&pending)?;
        for p in &pending {
            let stamp = Stamp { ts: p.ts, origin: &p.origin, oseq: p.oseq };
            self.index_result(p.seq, &stamp, &p.record)?;
        }
        Ok(())
    }

    /// Creates and caches the ids of every testcase, group, data key and value and insight
    /// key the results name that the caches lack.
    fn intern_names(&mut self, pending: &[PendingResult]) -> Result<(), StoreError> {
        // In the order the batch first names them, as one-at-a-time interning would number
        // them: ids order some lists (`GET /groups` is newest group first).
        let mut lists = NameLists::default();
        for p in pending {
            let r = &p.record;
            lists.names.insert(r.testcase.name.as_str());
            for g in &r.groups {
                lists.groups.insert(g.uuid.as_str());
            }
            lists.data(r);
        }
        let (statements, fills) = lists.statements(self);
        if !statements.is_empty() {
            let answers = super::rows::run_rows(&self.conn, &statements)?;
            self.fill(&answers, &fills)?;
        }
        self.intern_run_keys(pending)
    }

    /// Caches the ids the SELECTs of [`NameLists::statements`] read (`answers` from its
    /// first INSERT on).
    pub(super) fn fill(&mut self, answers: &[Vec<tokio_postgres::Row>], fills: &[Cache]) -> Result<(), StoreError> {
        for (rows, fill) in answers.iter().skip(1).step_by(2).zip(fills) {
            for r in rows {
                let (id, text): (i64, String) = (r.try_get(0)?, r.try_get(1)?);
                super::apply::remember(fill(self), &text, id);
            }
        }
        Ok(())
    }

    /// Creates and caches the insight keys of the batch's pass and fail results.
    fn intern_run_keys(&mut self, pending: &[PendingResult]) -> Result<(), StoreError> {
        let (mut triples, mut seen) = (Vec::new(), HashSet::new());
        for p in pending {
            let r = &p.record;
            if fail_of(&r.outcome).is_none() {
                continue;
            }
            let Some(&testcase_id) = self.testcases.get(&r.testcase.name) else { continue };
            let first = |k: &str| r.data.get(k).and_then(|v| v.first()).map_or("", String::as_str);
            if !self.run_keys.contains_key(&super::apply::run_key_text(testcase_id, first("scenario"), first("arch"))) {
                let triple = (testcase_id, first("scenario"), first("arch"));
                if seen.insert(triple) {
                    triples.push(triple);
                }
            }
        }
        if triples.is_empty() {
            return Ok(());
        }
        let (mut ids, mut scenarios, mut arches) = (Vec::new(), Vec::new(), Vec::new());
        for (t, s, a) in &triples {
            ids.push(*t);
            scenarios.push(*s);
            arches.push(*a);
        }
        let params: [Param; 3] = [&ids, &scenarios, &arches];
        let answers = self.conn.pipeline(&[
            (
                "INSERT INTO run_keys(testcase_id, scenario, arch) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])
                 ON CONFLICT DO NOTHING",
                &params,
            ),
            (
                "SELECT k.id, k.testcase_id, k.scenario, k.arch FROM unnest($1::bigint[], $2::text[], $3::text[]) AS n(t, s, a)
                 JOIN run_keys k ON k.testcase_id = n.t AND md5(k.scenario) = md5(n.s) AND md5(k.arch) = md5(n.a)
                     AND k.scenario = n.s AND k.arch = n.a",
                &params,
            ),
        ])?;
        for r in answers.into_iter().nth(1).unwrap_or_default() {
            let (id, t, s, a): (i64, i64, String, String) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            let text = super::apply::run_key_text(t, &s, &a);
            super::apply::remember(&mut self.run_keys, &text, id);
        }
        Ok(())
    }
}

/// Which id cache a SELECT of [`NameLists::statements`] fills.
pub(super) type Cache = fn(&mut PgWriter) -> &mut foldhash::HashMap<String, i64>;

/// A kind of name in [`NameLists::statements`]: how many to create, the INSERT and its
/// rows, the SELECT and its keys, the cache it fills.
type Kind<'a> = (usize, &'static str, Vec<Param<'a>>, &'static str, Vec<Param<'a>>, Cache);

/// Names to create and look up, each kind in the order first named.
#[derive(Default)]
pub(super) struct NameLists<'a> {
    names: Ordered<'a>,
    groups: Ordered<'a>,
    keys: Ordered<'a>,
    values: Ordered<'a>,
    name_keys: Vec<Vec<u8>>,
    value_keys: Vec<Vec<u8>>,
}

impl<'a> NameLists<'a> {
    /// Adds the data keys and values `r` names.
    fn data(&mut self, r: &'a ResultRecord) {
        for (k, vs) in &r.data {
            self.key(k);
            for v in vs {
                self.value(v);
            }
        }
    }

    /// Adds a data key. Data keys and values are a dictionary no answer lists, so they may
    /// be created ahead of the results naming them (see `PgWriter::begin`), even for a
    /// result that turns out to be stored already.
    pub(super) fn key(&mut self, key: &'a str) {
        self.keys.insert(key);
    }

    /// Adds a data value (see [`NameLists::key`]).
    pub(super) fn value(&mut self, value: &'a str) {
        self.values.insert(value);
    }

    /// Each kind's INSERT of the names `w`'s caches lack, then the SELECT reading their
    /// ids back (run in one pipeline, in order), and which cache each SELECT fills.
    pub(super) fn statements(&mut self, w: &PgWriter) -> (Vec<(&'static str, Vec<Param<'_>>)>, Vec<Cache>) {
        self.names.retain(|n| !w.testcases.contains_key(n));
        self.groups.retain(|g| !w.groups.contains_key(g));
        self.keys.retain(|k| !w.keys.contains_key(k));
        self.values.retain(|v| !w.values.contains_key(v));
        self.name_keys = self.names.0.iter().map(|t| super::text_key(t)).collect();
        self.value_keys = self.values.0.iter().map(|t| super::text_key(t)).collect();
        let mut statements: Vec<(&'static str, Vec<Param>)> = Vec::new();
        let mut fills: Vec<Cache> = Vec::new();
        // Per kind: how many to create, the INSERT and its rows, the SELECT and its keys.
        let kinds: [Kind; 4] = [
            (
                self.names.0.len(),
                "INSERT INTO testcase(name, name_key) SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING",
                vec![&self.names.0, &self.name_keys],
                TESTCASE_IDS,
                vec![&self.name_keys],
                |w| &mut w.testcases,
            ),
            (
                self.groups.0.len(),
                "INSERT INTO grp(uuid) SELECT * FROM unnest($1::text[]) ON CONFLICT DO NOTHING",
                vec![&self.groups.0],
                GROUP_IDS,
                vec![&self.groups.0],
                |w| &mut w.groups,
            ),
            (
                self.keys.0.len(),
                "INSERT INTO data_keys(key) SELECT * FROM unnest($1::text[]) ON CONFLICT DO NOTHING",
                vec![&self.keys.0],
                KEY_IDS,
                vec![&self.keys.0],
                |w| &mut w.keys,
            ),
            (
                self.values.0.len(),
                "INSERT INTO data_values(value, value_key) SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING",
                vec![&self.values.0, &self.value_keys],
                VALUE_IDS,
                vec![&self.value_keys],
                |w| &mut w.values,
            ),
        ];
        for (count, insert, rows, select, keys, fill) in kinds {
            if count > 0 {
                statements.push((insert, rows));
                statements.push((select, keys));
                fills.push(fill);
            }
        }
        (statements, fills)
    }
}

const TESTCASE_IDS: &str = "SELECT id, name FROM testcase WHERE name_key = ANY($1)";
const GROUP_IDS: &str = "SELECT id, uuid FROM grp WHERE md5(uuid) IN (SELECT md5(u) FROM unnest($1::text[]) u)";
const KEY_IDS: &str = "SELECT id, key FROM data_keys WHERE key = ANY($1)";
const VALUE_IDS: &str = "SELECT id, value FROM data_values WHERE value_key = ANY($1)";

/// Texts in the order first inserted, each once.
#[derive(Default)]
struct Ordered<'a>(Vec<&'a str>, HashSet<&'a str>);

impl<'a> Ordered<'a> {
    fn insert(&mut self, text: &'a str) {
        if self.1.insert(text) {
            self.0.push(text);
        }
    }

    fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.0.retain(|t| keep(t));
    }
}
