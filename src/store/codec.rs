//! Storage encoding of log bodies: zstd with a dictionary trained on the store's own bodies.
//!
//! Bodies are small JSON documents that repeat the same keys and many values; one by one
//! they barely compress, but with a dictionary trained on earlier bodies they shrink to a
//! fifth. The canonical JSON (what the chain hash covers) is what every caller sees; only
//! the stored bytes differ. `log.enc` is 0 for plain text, else the id of the dictionary in
//! `dicts`. A store starts plain and trains its dictionary once it holds enough bodies.

use super::StoreError;
use crate::log::Body;
use rusqlite::{Connection, OptionalExtension};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Plain bodies needed before a dictionary is trained.
pub(super) const TRAIN_AT: i64 = 2000;

/// Size limit of a trained dictionary.
const DICT_SIZE: usize = 16 * 1024;

/// Compression level: level 1 is within 5% of level 3's ratio on bodies, and faster.
const LEVEL: i32 = 1;

/// The writer's current dictionary, shared so that other threads can encode and compress
/// bodies before they reach the single writer (which then only checks the generation).
#[derive(Clone, Default)]
pub struct SharedDict(Arc<RwLock<Option<DictRef>>>);

#[derive(Clone)]
struct DictRef {
    id: i64,
    /// Unique within the process: a dictionary id can come back after a rollback, a
    /// generation never does, so bytes compressed with a dropped dictionary are never kept.
    generation: u64,
    dict: Arc<Vec<u8>>,
}

/// Source of dictionary generations.
static GENERATION: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's compressor for the shared dictionary of one generation.
    static LOCAL: RefCell<Option<(u64, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

/// A body compressed off the writer thread.
pub struct Compressed {
    generation: u64,
    enc: i64,
    bytes: Vec<u8>,
}

impl SharedDict {
    fn publish(&self, current: Option<DictRef>) {
        if let Ok(mut slot) = self.0.write() {
            *slot = current;
        }
    }

    /// Compresses `json` with the store's current dictionary; `None` while the store has
    /// none (or on any codec trouble: the writer then encodes it itself).
    fn compress(&self, json: &str) -> Option<Compressed> {
        let d = self.0.read().ok()?.clone()?;
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            if local.as_ref().is_none_or(|(g, _)| *g != d.generation) {
                *local = Some((d.generation, compressor(&d.dict).ok()?));
            }
            let (_, c) = local.as_mut()?;
            let bytes = c.compress(json.as_bytes()).ok()?;
            Some(Compressed { generation: d.generation, enc: d.id, bytes })
        })
    }
}

/// A body made ready for the writer on the caller's thread: its canonical JSON and, once
/// the store has a dictionary, its stored bytes. JSON and zstd were an eighth of the
/// writer thread's time, and the writer is what bounds write throughput.
pub struct Prepared {
    pub body: Body,
    pub(super) json: String,
    pub(super) compressed: Option<Compressed>,
}

impl Prepared {
    pub fn new(body: Body, dict: &SharedDict) -> Prepared {
        let json = body.encode();
        let compressed = dict.compress(&json);
        Prepared { body, json, compressed }
    }

    /// Without precomputed bytes (the writer compresses).
    pub fn plain(body: Body) -> Prepared {
        let json = body.encode();
        Prepared { body, json, compressed: None }
    }
}

/// The writer's encoder: the newest dictionary, if any.
pub(super) struct Encoder {
    current: Option<(i64, zstd::bulk::Compressor<'static>)>,
    generation: u64,
    shared: SharedDict,
    /// Plain bodies appended since the last training attempt (or since opening).
    plain_since_check: i64,
    /// Plain bodies required before the next attempt (doubles after a failed one).
    next_attempt_at: i64,
}

impl Encoder {
    /// Loads the newest dictionary of the store.
    pub fn load(conn: &Connection) -> Result<Encoder, StoreError> {
        let mut e = Encoder {
            current: None,
            generation: 0,
            shared: SharedDict::default(),
            plain_since_check: TRAIN_AT,
            next_attempt_at: TRAIN_AT,
        };
        e.reload(conn)?;
        Ok(e)
    }

    /// (Re)reads the newest dictionary and publishes it to other threads.
    fn reload(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let newest: Option<(i64, Vec<u8>)> = conn
            .query_row("SELECT id, dict FROM dicts ORDER BY id DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match newest {
            Some((id, dict)) => self.install(id, dict)?,
            None => {
                self.current = None;
                self.generation = 0;
                self.shared.publish(None);
            }
        }
        self.plain_since_check = TRAIN_AT;
        self.next_attempt_at = TRAIN_AT;
        Ok(())
    }

    fn install(&mut self, id: i64, dict: Vec<u8>) -> Result<(), StoreError> {
        self.current = Some((id, compressor(&dict)?));
        self.generation = GENERATION.fetch_add(1, Ordering::Relaxed);
        self.shared.publish(Some(DictRef { id, generation: self.generation, dict: Arc::new(dict) }));
        Ok(())
    }

    /// The handle other threads compress with.
    pub fn shared(&self) -> SharedDict {
        self.shared.clone()
    }

    /// The stored form of a prepared body: its precomputed bytes if they were made with
    /// the current dictionary, else encoded here.
    pub fn encode_prepared<'a>(
        &mut self,
        json: &str,
        pre: Option<&'a Compressed>,
    ) -> Result<(i64, std::borrow::Cow<'a, [u8]>), StoreError> {
        match pre {
            // Generations start at 1; a store without a dictionary is at generation 0.
            Some(c) if c.generation == self.generation => Ok((c.enc, c.bytes.as_slice().into())),
            _ => self.encode(json).map(|(enc, bytes)| (enc, bytes.into())),
        }
    }

    /// Encodes a body for storage: `(enc, bytes)`.
    pub fn encode(&mut self, body: &str) -> Result<(i64, Vec<u8>), StoreError> {
        match &mut self.current {
            Some((id, c)) => {
                let bytes = c.compress(body.as_bytes()).map_err(|e| codec_error(*id, &e))?;
                Ok((*id, bytes))
            }
            None => {
                self.plain_since_check += 1;
                Ok((0, body.as_bytes().to_vec()))
            }
        }
    }

    /// Inside a write transaction: trains and stores a dictionary when enough plain bodies
    /// exist. The caller must `forget` it if that transaction rolls back.
    pub fn maybe_train(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if self.current.is_some() || self.plain_since_check < self.next_attempt_at {
            return Ok(());
        }
        self.plain_since_check = 0;
        let mut stmt = conn.prepare("SELECT body FROM log WHERE enc = 0 ORDER BY seq DESC LIMIT ?1")?;
        let samples: Vec<Vec<u8>> =
            stmt.query_map([TRAIN_AT * 4], |r| stored_bytes(r, 0))?.collect::<Result<_, _>>()?;
        if (samples.len() as i64) < TRAIN_AT {
            self.next_attempt_at = TRAIN_AT - samples.len() as i64;
            return Ok(());
        }
        match zstd::dict::from_samples(&samples, DICT_SIZE) {
            Ok(dict) => {
                conn.execute("INSERT INTO dicts(dict) VALUES(?1)", [&dict])?;
                self.install(conn.last_insert_rowid(), dict)?;
            }
            Err(e) => {
                // Too little variety to train on: stay plain, try again with more data.
                tracing::debug!(error = %e, "body dictionary training failed; will retry");
                self.next_attempt_at = self.next_attempt_at.saturating_mul(2);
            }
        }
        Ok(())
    }

    /// Drops a dictionary created in a transaction that was rolled back.
    pub fn forget_uncommitted(&mut self, conn: &Connection) -> Result<(), StoreError> {
        self.reload(conn)
    }
}

fn compressor(dict: &[u8]) -> Result<zstd::bulk::Compressor<'static>, StoreError> {
    zstd::bulk::Compressor::with_dictionary(LEVEL, dict).map_err(|e| codec_error(0, &e))
}

fn codec_error(dict: i64, e: &std::io::Error) -> StoreError {
    StoreError::Corrupt { seq: 0, reason: format!("body codec (dictionary {dict}): {e}") }
}

/// The stored bytes of a body column, whatever its SQLite type (text or blob).
pub(super) fn stored_bytes(row: &rusqlite::Row, idx: usize) -> rusqlite::Result<Vec<u8>> {
    Ok(match row.get_ref(idx)? {
        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => t.to_vec(),
        _ => Vec::new(),
    })
}

/// Decodes stored bodies; keeps one decompressor per dictionary seen.
#[derive(Default)]
pub(super) struct Decoder {
    dicts: RefCell<HashMap<i64, zstd::bulk::Decompressor<'static>>>,
}

/// Largest body a stored frame may claim to expand to (bodies are bounded by the request
/// size limit; this only guards against a corrupt frame header).
const MAX_BODY: usize = 1 << 30;

impl Decoder {
    /// The canonical JSON of a stored body.
    pub fn decode(&self, conn: &Connection, seq: i64, enc: i64, bytes: Vec<u8>) -> Result<String, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt { seq, reason };
        let plain = if enc == 0 {
            bytes
        } else {
            let mut dicts = self.dicts.borrow_mut();
            let d = match dicts.entry(enc) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let dict: Vec<u8> = conn
                        .query_row("SELECT dict FROM dicts WHERE id = ?1", [enc], |r| r.get(0))
                        .optional()?
                        .ok_or_else(|| corrupt(format!("dictionary {enc} is missing")))?;
                    v.insert(zstd::bulk::Decompressor::with_dictionary(&dict).map_err(|e| corrupt(e.to_string()))?)
                }
            };
            let capacity = zstd::bulk::Decompressor::upper_bound(&bytes).unwrap_or(MAX_BODY).min(MAX_BODY);
            d.decompress(&bytes, capacity).map_err(|e| corrupt(format!("body does not decompress: {e}")))?
        };
        String::from_utf8(plain).map_err(|_| corrupt("body is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_record_their_size() {
        let samples: Vec<String> = (0..3000)
            .map(|i| format!(r#"{{"data":{{"item":["pkg{}"]}},"outcome":"PASSED","note":"run {i}"}}"#, i % 50))
            .collect();
        let dict = zstd::dict::from_samples(&samples, DICT_SIZE).unwrap();
        let mut c = compressor(&dict).unwrap();
        let frame = c.compress(samples[7].as_bytes()).unwrap();
        assert!(frame.len() < samples[7].len());
        assert_eq!(zstd::bulk::Decompressor::upper_bound(&frame), Some(samples[7].len()));
    }
}
