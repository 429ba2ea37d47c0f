//! Reconcile (issue 15): what a source claims against what is stored, pure — no I/O, no
//! clock. The service hands in the source's results and the stored ones; this module says
//! which are present, which are missing, and under which uuid a missing one is stored.
//!
//! A source result matches a stored one by uuid when the source exposes one (another
//! verdict), else by its **content identity**: testcase name, outcome, submit time, note,
//! ref_url and data, minus the `source_*` keys verdict adds itself (where a result came
//! from is not what it says). Data values are compared as sets per key (servers list them
//! in different orders) and an empty note or ref_url is the same as none. Groups are not
//! part of the identity: they are context a result was filed under, not its content.
//!
//! A missing result is stored under a uuid derived from its identity and its occurrence
//! among equal results of the source, so a second `--apply` stores nothing and two
//! reconcilers racing store the same uuid once.

use super::time::{parse_iso8601, parse_submit_time};
use super::{GroupRecord, ResultRecord, TestcaseRecord, Timestamp};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// The data key recording where a reconciled result came from (the source's URL or
/// directory), like `source_file` for ingested files.
pub const SOURCE_KEY: &str = "source_reconcile";

/// A result as a source lists it (`GET /api/v2.0/results`), reduced to what reconcile
/// compares and stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The source's uuid for it (verdict lists one; ResultsDB does not).
    pub uuid: Option<String>,
    pub testcase: String,
    pub outcome: String,
    /// Microseconds since the epoch, UTC.
    pub submit_time: i64,
    pub note: Option<String>,
    pub ref_url: Option<String>,
    pub data: BTreeMap<String, Vec<String>>,
    /// Group uuids.
    pub groups: Vec<String>,
}

/// The content identity of a result (blake3 of its canonical fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity([u8; 32]);

fn text<'a>(v: &'a Value, what: &str) -> Result<&'a str, String> {
    v.as_str().ok_or_else(|| format!("{what} is not a string"))
}

fn optional_text(v: &Value, what: &str) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(format!("{what} is not a string or null")),
    }
}

/// A value of a data list as ResultsDB renders it (strings; numbers as their text).
fn data_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Claimed {
    /// Reads one element of a results list in ResultsDB's wire format (verdict's and
    /// upstream's alike); an error names the field at fault.
    pub fn from_wire(v: &Value) -> Result<Claimed, String> {
        if !v.is_object() {
            return Err("a result is not a JSON object".into());
        }
        let testcase = match &v["testcase"] {
            Value::String(s) => s.clone(),
            t => text(&t["name"], "testcase.name")?.to_owned(),
        };
        let raw_time = text(&v["submit_time"], "submit_time")?;
        let submit_time = parse_submit_time(raw_time)
            .or_else(|| parse_iso8601(raw_time))
            .ok_or_else(|| format!("submit_time {raw_time:?} is not an ISO 8601 time"))?
            .0;
        let mut data = BTreeMap::new();
        match &v["data"] {
            Value::Null => {}
            Value::Object(map) => {
                for (k, vals) in map {
                    let list = match vals {
                        Value::Array(a) => a.iter().map(data_value).collect(),
                        one => vec![data_value(one)],
                    };
                    data.insert(k.clone(), list);
                }
            }
            _ => return Err("data is not an object".into()),
        }
        let groups = match &v["groups"] {
            Value::Null => Vec::new(),
            Value::Array(a) => a
                .iter()
                .map(|g| match g {
                    Value::String(s) => Ok(s.clone()),
                    g => text(&g["uuid"], "groups[].uuid").map(str::to_owned),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err("groups is not a list".into()),
        };
        Ok(Claimed {
            uuid: optional_text(&v["uuid"], "uuid")?.filter(|u| !u.is_empty()),
            testcase,
            outcome: text(&v["outcome"], "outcome")?.to_owned(),
            submit_time,
            note: optional_text(&v["note"], "note")?,
            ref_url: optional_text(&v["ref_url"], "ref_url")?,
            data,
            groups,
        })
    }

    /// A stored result as reconcile sees it.
    pub fn from_record(r: &ResultRecord) -> Claimed {
        Claimed {
            uuid: Some(r.uuid.clone()),
            testcase: r.testcase.name.clone(),
            outcome: r.outcome.clone(),
            submit_time: r.submit_time,
            note: r.note.clone(),
            ref_url: r.ref_url.clone(),
            data: r.data.clone(),
            groups: r.groups.iter().map(|g| g.uuid.clone()).collect(),
        }
    }

    /// Its content identity (see the module docs).
    pub fn identity(&self) -> Identity {
        let mut h = blake3::Hasher::new();
        let mut field = |f: &str| {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            h.update(&(f.len() as u64).to_le_bytes());
            h.update(f.as_bytes());
        };
        field("verdict reconcile identity 1");
        field(&self.testcase);
        field(&self.outcome.to_uppercase());
        field(&self.submit_time.to_string());
        field(self.note.as_deref().unwrap_or(""));
        field(self.ref_url.as_deref().unwrap_or(""));
        for (k, values) in self.data.iter().filter(|(k, _)| !k.starts_with("source_")) {
            let mut values: Vec<&str> = values.iter().map(String::as_str).collect();
            values.sort_unstable();
            values.dedup();
            if values.is_empty() {
                continue;
            }
            field(k);
            field(&values.len().to_string());
            for v in values {
                field(v);
            }
        }
        Identity(*h.finalize().as_bytes())
    }

    /// The item it is about (`data.item`, comma-joined), for listings.
    pub fn item(&self) -> String {
        self.data.get("item").map(|v| v.join(",")).unwrap_or_default()
    }

    /// The record stored for it under `uuid`, noting `source` under [`SOURCE_KEY`] unless
    /// the source already named one (a result reconciled twice keeps its first source).
    pub fn into_record(self, uuid: String, source: &str) -> ResultRecord {
        let mut data = self.data;
        data.entry(SOURCE_KEY.to_owned()).or_insert_with(|| vec![source.to_owned()]);
        let mut groups: Vec<GroupRecord> = Vec::with_capacity(self.groups.len());
        for g in self.groups {
            if !groups.iter().any(|x| x.uuid == g) {
                groups.push(GroupRecord { uuid: g, description: None, ref_url: None });
            }
        }
        ResultRecord {
            data,
            groups,
            note: self.note.filter(|n| !n.is_empty()),
            outcome: self.outcome,
            ref_url: self.ref_url.filter(|u| !u.is_empty()),
            request: None,
            submit_time: self.submit_time,
            testcase: TestcaseRecord { name: self.testcase, ref_url: None },
            uuid,
        }
    }
}

/// The uuid a missing result is stored under: from its identity and its `occurrence`
/// among the source's results with that identity (0 for the first), so equal results of
/// one source stay distinct and every reconciler picks the same uuid.
pub fn reconciled_uuid(identity: &Identity, occurrence: u64) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"verdict reconciled result\0");
    h.update(&identity.0);
    h.update(&occurrence.to_le_bytes());
    super::uuid_from_digest(&h.finalize())
}

/// The stored results a source is compared with: their uuids and identities.
#[derive(Debug, Default, Clone)]
pub struct Stored {
    by_uuid: HashMap<String, Identity>,
    counts: HashMap<Identity, u64>,
}

impl Stored {
    /// Adds one stored result.
    pub fn add(&mut self, c: &Claimed) {
        let id = c.identity();
        // The same uuid listed twice (a conflict shown twice) is one result.
        if let Some(uuid) = &c.uuid
            && self.by_uuid.insert(uuid.clone(), id).is_some()
        {
            return;
        }
        *self.counts.entry(id).or_default() += 1;
    }

    /// How many stored results it holds.
    pub fn len(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes one stored result with identity `id`; false when none is left.
    fn take(&mut self, id: &Identity) -> bool {
        match self.counts.get_mut(id) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }
}

/// A source result not stored, with the uuid it is stored under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub uuid: String,
    pub claimed: Claimed,
}

/// What a comparison found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Source results looked at.
    pub compared: u64,
    pub present: u64,
    pub missing: Vec<Missing>,
}

/// Compares the source's results with the stored ones: first by uuid, then each left by
/// identity, one stored result answering for one source result.
pub fn compare(claimed: Vec<Claimed>, mut stored: Stored) -> Comparison {
    let mut out = Comparison { compared: claimed.len() as u64, ..Comparison::default() };
    let mut rest = Vec::new();
    for c in claimed {
        let id = c.identity();
        let by_uuid = c.uuid.as_ref().and_then(|u| stored.by_uuid.get(u)).copied();
        match by_uuid {
            Some(stored_id) => {
                stored.take(&stored_id);
                out.present += 1;
            }
            None => rest.push((id, c)),
        }
    }
    let mut seen: HashMap<Identity, u64> = HashMap::new();
    for (id, c) in rest {
        let occurrence = seen.entry(id).or_default();
        let n = *occurrence;
        *occurrence += 1;
        if stored.take(&id) {
            out.present += 1;
        } else {
            out.missing.push(Missing { uuid: reconciled_uuid(&id, n), claimed: c });
        }
    }
    out
}

/// One missing result as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MissingLine {
    pub testcase: String,
    pub item: String,
    pub outcome: String,
    pub submit_time: String,
    /// The uuid it is (or would be) stored under.
    pub uuid: String,
    /// The archived message it came from (a directory source).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl MissingLine {
    pub fn of(c: &Claimed, uuid: &str, message: Option<&str>) -> MissingLine {
        MissingLine {
            testcase: c.testcase.clone(),
            item: c.item(),
            outcome: c.outcome.clone(),
            submit_time: Timestamp(c.submit_time).to_iso(),
            uuid: uuid.to_owned(),
            message: message.map(str::to_owned),
        }
    }
}

/// What one reconcile run found and did (`verdict reconcile`, the status endpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// The source (URL, credentials masked, or directory).
    pub source: String,
    /// Source results (or archived messages) compared.
    pub compared: u64,
    /// Of those, already stored.
    pub present: u64,
    /// Of those, not stored before this run.
    pub missing: u64,
    /// Missing ones stored by this run (`--apply`).
    pub stored: u64,
    /// Missing ones that could not be stored, each with its reason.
    pub refused: Vec<String>,
    /// The missing ones, as the source claims them.
    pub missing_results: Vec<MissingLine>,
}

impl Report {
    /// Whether something is still missing after the run.
    pub fn incomplete(&self) -> bool {
        self.stored < self.missing
    }

    /// The command's exit code: 0 when nothing is missing (or all of it was stored), 1
    /// when something is still missing or could not be read or stored.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.incomplete() || !self.refused.is_empty())
    }
}

#[cfg(test)]
mod tests;
