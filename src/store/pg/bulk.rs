//! Results applied a batch at a time on PostgreSQL. A result names a testcase, groups,
//! data keys and values, and an insight key, each an id to look up or create; one at a time
//! that is a round trip each (a `submit` ran at ~4k results/s). So a result's uuid is
//! indexed at once (later results of the batch see it) and the rest waits in `pending`
//! until something reads the tables or the transaction commits: then every name the batch
//! lacks is created and looked up with one statement pair per table, all tables in one
//! pipeline (insight keys, which name testcase ids, in a second), and the rows follow.

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
        let (mut names, mut groups, mut keys, mut values) =
            (Ordered::default(), Ordered::default(), Ordered::default(), Ordered::default());
        for p in pending {
            let r = &p.record;
            names.insert(r.testcase.name.as_str());
            for g in &r.groups {
                groups.insert(g.uuid.as_str());
            }
            for (k, vs) in &r.data {
                keys.insert(k.as_str());
                for v in vs {
                    values.insert(v.as_str());
                }
            }
        }
        names.retain(|n| !self.testcases.contains_key(n));
        groups.retain(|g| !self.groups.contains_key(g));
        keys.retain(|k| !self.keys.contains_key(k));
        values.retain(|v| !self.values.contains_key(v));
        let (names, groups, keys, values) = (&names.0[..], &groups.0[..], &keys.0[..], &values.0[..]);
        let name_keys: Vec<Vec<u8>> = names.iter().map(|t| super::text_key(t)).collect();
        let value_keys: Vec<Vec<u8>> = values.iter().map(|t| super::text_key(t)).collect();
        let (name_rows, name_keys_only): ([Param; 2], [Param; 1]) = ([&names, &name_keys], [&name_keys]);
        let (value_rows, value_keys_only): ([Param; 2], [Param; 1]) = ([&values, &value_keys], [&value_keys]);
        let (groups_only, keys_only): ([Param; 1], [Param; 1]) = ([&groups], [&keys]);
        // Each table's INSERT, then the SELECT reading its ids back: all in one pipeline
        // (the server runs them in order), and which cache each SELECT fills.
        let mut statements: Vec<(&str, &[Param])> = Vec::new();
        let mut fills: Vec<Cache> = Vec::new();
        if !names.is_empty() {
            statements.push((
                "INSERT INTO testcase(name, name_key) SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING",
                &name_rows,
            ));
            statements.push(("SELECT id, name FROM testcase WHERE name_key = ANY($1)", &name_keys_only));
            fills.push(|w| &mut w.testcases);
        }
        if !groups.is_empty() {
            statements
                .push(("INSERT INTO grp(uuid) SELECT * FROM unnest($1::text[]) ON CONFLICT DO NOTHING", &groups_only));
            statements.push((
                "SELECT id, uuid FROM grp WHERE md5(uuid) IN (SELECT md5(u) FROM unnest($1::text[]) u)",
                &groups_only,
            ));
            fills.push(|w| &mut w.groups);
        }
        if !keys.is_empty() {
            statements.push((
                "INSERT INTO data_keys(key) SELECT * FROM unnest($1::text[]) ON CONFLICT DO NOTHING",
                &keys_only,
            ));
            statements.push(("SELECT id, key FROM data_keys WHERE key = ANY($1)", &keys_only));
            fills.push(|w| &mut w.keys);
        }
        if !values.is_empty() {
            statements.push((
                "INSERT INTO data_values(value, value_key) SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING",
                &value_rows,
            ));
            statements.push(("SELECT id, value FROM data_values WHERE value_key = ANY($1)", &value_keys_only));
            fills.push(|w| &mut w.values);
        }
        if !statements.is_empty() {
            let answers = self.conn.pipeline(&statements)?;
            for (rows, fill) in answers.iter().skip(1).step_by(2).zip(fills) {
                for r in rows {
                    let (id, text): (i64, String) = (r.try_get(0)?, r.try_get(1)?);
                    super::apply::remember(fill(self), &text, id);
                }
            }
        }
        self.intern_run_keys(pending)
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

/// A statement parameter.
type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

/// Which id cache a SELECT of [`PgWriter::intern_names`] fills.
type Cache = fn(&mut PgWriter) -> &mut foldhash::HashMap<String, i64>;

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
