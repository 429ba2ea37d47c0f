//! Rows the PostgreSQL writer buffers within a transaction, column by column, and writes
//! with one `INSERT … SELECT FROM unnest(…)` per table: a result's half-dozen rows cost a
//! share of one round trip per table and batch instead of a round trip each.

use super::conn::Conn;
use crate::log::Entry;
use crate::store::StoreError;
use foldhash::HashMap;
use tokio_postgres::types::ToSql;

#[derive(Default)]
struct LogRows {
    seq: Vec<i64>,
    origin_id: Vec<i64>,
    origin_seq: Vec<i64>,
    kind: Vec<&'static str>,
    ts: Vec<i64>,
    body: Vec<String>,
    hash: Vec<Vec<u8>>,
}

#[derive(Default)]
struct ResultRows {
    id: Vec<i64>,
    testcase_id: Vec<i64>,
    outcome: Vec<String>,
    submit_time: Vec<i64>,
    facets: Vec<Vec<u8>>,
}

#[derive(Default)]
struct RunRows {
    key_id: Vec<i64>,
    submit_time: Vec<i64>,
    result_id: Vec<i64>,
    fail: Vec<i64>,
    item_id: Vec<i64>,
    type_id: Vec<i64>,
    duration: Vec<Option<f64>>,
}

/// Buffered rows of the log and the derived tables a result writes.
#[derive(Default)]
pub struct Rows {
    log: LogRows,
    results: ResultRows,
    /// `result_uuids`: (uuid key, result id).
    uuids: (Vec<Vec<u8>>, Vec<i64>),
    /// The first buffered result of each uuid (lookups see buffered results).
    uuid_ids: HashMap<Vec<u8>, i64>,
    /// `result_data`: key, value, submit time, result, testcase.
    postings: [Vec<i64>; 5],
    /// `result_groups`: group, result.
    groups: (Vec<i64>, Vec<i64>),
    runs: RunRows,
    /// `failures`: signature, submit time, result.
    failures: (Vec<String>, Vec<i64>, Vec<i64>),
}

impl Rows {
    pub fn log(&mut self, seq: i64, origin_id: i64, e: &Entry) {
        let l = &mut self.log;
        l.seq.push(seq);
        l.origin_id.push(origin_id);
        l.origin_seq.push(e.origin_seq as i64);
        l.kind.push(e.kind.as_str());
        l.ts.push(e.ts);
        l.body.push(e.body.clone());
        l.hash.push(e.hash.0.to_vec());
    }

    pub fn result(&mut self, id: i64, testcase_id: i64, outcome: &str, submit_time: i64, facets: Vec<u8>) {
        let r = &mut self.results;
        r.id.push(id);
        r.testcase_id.push(testcase_id);
        r.outcome.push(outcome.to_owned());
        r.submit_time.push(submit_time);
        r.facets.push(facets);
    }

    pub fn uuid(&mut self, uuid: Vec<u8>, id: i64) {
        self.uuid_ids.entry(uuid.clone()).or_insert(id);
        self.uuids.0.push(uuid);
        self.uuids.1.push(id);
    }

    /// The buffered result holding `uuid`, if any.
    pub fn result_with(&self, uuid: &[u8]) -> Option<i64> {
        self.uuid_ids.get(uuid).copied()
    }

    pub fn posting(&mut self, key: i64, value: i64, time: i64, id: i64, testcase: i64) {
        for (col, v) in self.postings.iter_mut().zip([key, value, time, id, testcase]) {
            col.push(v);
        }
    }

    pub fn group(&mut self, group_id: i64, id: i64) {
        self.groups.0.push(group_id);
        self.groups.1.push(id);
    }

    #[allow(clippy::too_many_arguments)]
    pub fn run(&mut self, key: i64, time: i64, id: i64, fail: bool, item: i64, typ: i64, duration: Option<f64>) {
        let r = &mut self.runs;
        r.key_id.push(key);
        r.submit_time.push(time);
        r.result_id.push(id);
        r.fail.push(i64::from(fail));
        r.item_id.push(item);
        r.type_id.push(typ);
        r.duration.push(duration);
    }

    pub fn failure(&mut self, signature: String, time: i64, id: i64) {
        self.failures.0.push(signature);
        self.failures.1.push(time);
        self.failures.2.push(id);
    }

    /// Puts the rows of each table with a scattered primary key in that key's order, so
    /// PostgreSQL inserts into each index's leaf pages in turn instead of all over it (a
    /// batch's postings name a few keys and values many times over), and keeps each key
    /// once. Sorting costs the writer's thread; inserting is the database's, the busier
    /// side of a bulk write.
    ///
    /// Once is all the INSERTs need to never conflict: every row names its result, and a
    /// result is indexed once, so only a result naming a value (or group) twice repeats
    /// a key. So they are plain INSERTs: `ON CONFLICT` probes each unique index first, a
    /// third of the cost of the biggest table's insert.
    pub fn sort(&mut self) {
        let [k, v, t, id, tc] = &mut self.postings;
        let order = order_by(k.len(), |a, b| (k[a], v[a], t[a], id[a]).cmp(&(k[b], v[b], t[b], id[b])));
        for col in [k, v, t, id, tc] {
            permute(col, &order);
        }
        let (group, id) = &mut self.groups;
        let order = order_by(group.len(), |a, b| (group[a], id[a]).cmp(&(group[b], id[b])));
        permute(group, &order);
        permute(id, &order);
        let (uuid, id) = &mut self.uuids;
        let order = order_by(uuid.len(), |a, b| (&uuid[a], id[a]).cmp(&(&uuid[b], id[b])));
        permute(uuid, &order);
        permute(id, &order);
        let r = &mut self.runs;
        let order = order_by(r.key_id.len(), |a, b| {
            (r.key_id[a], r.submit_time[a], r.result_id[a]).cmp(&(r.key_id[b], r.submit_time[b], r.result_id[b]))
        });
        permute(&mut r.key_id, &order);
        permute(&mut r.submit_time, &order);
        permute(&mut r.result_id, &order);
        permute(&mut r.fail, &order);
        permute(&mut r.item_id, &order);
        permute(&mut r.type_id, &order);
        permute(&mut r.duration, &order);
        let (sig, t, id) = &mut self.failures;
        let order = order_by(sig.len(), |a, b| (&sig[a], t[a], id[a]).cmp(&(&sig[b], t[b], id[b])));
        permute(sig, &order);
        permute(t, &order);
        permute(id, &order);
    }

    /// The INSERTs of every buffered row (the log first: derived rows name its positions).
    /// Call [`Rows::sort`] first.
    pub fn statements(&self) -> Vec<(&'static str, Vec<&(dyn ToSql + Sync)>)> {
        let mut out: Vec<(&'static str, Vec<&(dyn ToSql + Sync)>)> = Vec::new();
        let l = &self.log;
        if !l.seq.is_empty() {
            out.push((
                "INSERT INTO log(seq, origin_id, origin_seq, kind, ts, body, hash)
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::bytea[])",
                vec![&l.seq, &l.origin_id, &l.origin_seq, &l.kind, &l.ts, &l.body, &l.hash],
            ));
        }
        let r = &self.results;
        if !r.id.is_empty() {
            out.push((
                "INSERT INTO results(id, testcase_id, outcome, submit_time, facets)
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bytea[])",
                vec![&r.id, &r.testcase_id, &r.outcome, &r.submit_time, &r.facets],
            ));
        }
        if !self.uuids.0.is_empty() {
            out.push((
                "INSERT INTO result_uuids(uuid, result_id) SELECT * FROM unnest($1::bytea[], $2::bigint[])",
                vec![&self.uuids.0, &self.uuids.1],
            ));
        }
        let [k, v, t, id, tc] = &self.postings;
        if !k.is_empty() {
            out.push((
                "INSERT INTO result_data(key_id, value_id, submit_time, result_id, testcase_id)
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])",
                vec![k, v, t, id, tc],
            ));
        }
        if !self.groups.0.is_empty() {
            out.push((
                "INSERT INTO result_groups(group_id, result_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])",
                vec![&self.groups.0, &self.groups.1],
            ));
        }
        let r = &self.runs;
        if !r.key_id.is_empty() {
            out.push((
                "INSERT INTO runs(key_id, submit_time, result_id, fail, item_id, type_id, duration)
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::float8[])",
                vec![&r.key_id, &r.submit_time, &r.result_id, &r.fail, &r.item_id, &r.type_id, &r.duration],
            ));
        }
        if !self.failures.0.is_empty() {
            out.push((
                "INSERT INTO failures(signature, submit_time, result_id)
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])",
                vec![&self.failures.0, &self.failures.1, &self.failures.2],
            ));
        }
        out
    }

    /// Writes every buffered row, in one pipeline.
    pub fn write(mut self, conn: &Conn) -> Result<(), StoreError> {
        self.sort();
        run(conn, &self.statements())
    }
}

/// Runs `statements` in one pipeline (see `Conn::pipeline`).
pub fn run(conn: &Conn, statements: &[(&str, Vec<&(dyn ToSql + Sync)>)]) -> Result<(), StoreError> {
    if statements.is_empty() {
        return Ok(());
    }
    run_rows(conn, statements).map(|_| ())
}

/// Runs `statements` in one pipeline; each one's rows.
pub fn run_rows(
    conn: &Conn,
    statements: &[(&str, Vec<&(dyn ToSql + Sync)>)],
) -> Result<Vec<Vec<tokio_postgres::Row>>, StoreError> {
    let refs: Vec<(&str, &[&(dyn ToSql + Sync)])> = statements.iter().map(|(s, p)| (*s, p.as_slice())).collect();
    conn.pipeline(&refs)
}

/// The positions `0..n` in the order `cmp` gives them, each key's first only.
fn order_by(n: usize, cmp: impl Fn(usize, usize) -> std::cmp::Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| cmp(a, b));
    order.dedup_by(|a, b| cmp(*a, *b).is_eq());
    order
}

/// Keeps the rows of `col` at the positions `order` lists, in that order.
fn permute<T: Clone>(col: &mut Vec<T>, order: &[usize]) {
    if order.len() == col.len() && order.windows(2).all(|w| w[0] < w[1]) {
        return;
    }
    *col = order.iter().map(|&i| col[i].clone()).collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_orders_each_table_by_its_key_keeps_rows_whole_and_each_key_once() {
        let mut rows = Rows::default();
        // (key, value, time, result, testcase): result 7 names value 3 twice.
        for (k, v, t, id, tc) in [(2, 9, 50, 8, 1), (1, 3, 40, 7, 5), (2, 1, 40, 7, 5), (1, 3, 40, 7, 5)] {
            rows.posting(k, v, t, id, tc);
        }
        rows.group(4, 8);
        rows.group(3, 7);
        rows.group(4, 8);
        rows.run(6, 50, 8, true, 11, 12, Some(1.5));
        rows.run(5, 40, 7, false, 13, 12, None);
        rows.failure("b".into(), 50, 8);
        rows.failure("a".into(), 40, 7);
        rows.uuid(vec![9], 7);
        rows.uuid(vec![1], 8);
        rows.sort();
        assert_eq!(rows.postings, [vec![1, 2, 2], vec![3, 1, 9], vec![40, 40, 50], vec![7, 7, 8], vec![5, 5, 1]]);
        assert_eq!(rows.groups, (vec![3, 4], vec![7, 8]));
        assert_eq!(
            (&rows.runs.key_id, &rows.runs.item_id, &rows.runs.duration),
            (&vec![5, 6], &vec![13, 11], &vec![None, Some(1.5)])
        );
        assert_eq!(rows.failures, (vec!["a".to_owned(), "b".to_owned()], vec![40, 50], vec![7, 8]));
        assert_eq!(rows.uuids, (vec![vec![1], vec![9]], vec![8, 7]));
        assert_eq!(rows.result_with(&[9]), Some(7));
    }
}
