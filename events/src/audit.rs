//! Walking the hash chain: what `stratagem audit verify` reports.

use crate::error::StoreError;
use crate::record::{decode_record, hex, verify_record, Hash, GENESIS_HASH};
use crate::store::{EventStore, READ_CHUNK};

/// Where and why the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first sequence number whose record, hash or link is wrong.
    pub seq: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// The result of walking the whole log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Events that verified, in order, before any break.
    pub verified: u64,
    /// Hash of the last verified event (zeros for an empty log).
    pub head_hash: Hash,
    /// The first break, if any.
    pub first_break: Option<ChainBreak>,
}

impl ChainReport {
    /// Hex of the head hash.
    pub fn head_hex(&self) -> String {
        hex(&self.head_hash)
    }
}

/// Walks the log from the first event: each record must parse, sit under its own sequence
/// number with no gap, hash to the hash it carries, link to the previous event's hash, and
/// carry a payload this build can decode. Stops at the first break.
///
/// # Errors
/// Only a storage error that prevents reading; a damaged record is a [`ChainBreak`], not an error.
pub fn verify_chain(store: &dyn EventStore) -> Result<ChainReport, StoreError> {
    verify_chain_from(store, 0, GENESIS_HASH)
}

/// Walks the log on from a prefix already verified: `verified` events, the last of which
/// hashes to `prev` (0 and [`GENESIS_HASH`]: the whole log). The report counts the prefix.
/// A reader that keeps the last report verifies each event once.
///
/// # Errors
/// As [`verify_chain`].
pub fn verify_chain_from(
    store: &dyn EventStore,
    verified: u64,
    prev: Hash,
) -> Result<ChainReport, StoreError> {
    let mut prev = prev;
    let mut expected = verified + 1;
    loop {
        let chunk = store.read_raw(expected, READ_CHUNK)?;
        let chunk_len = chunk.len();
        for (seq, bytes) in chunk {
            let broken = |reason: String| ChainReport {
                verified: expected - 1,
                head_hash: prev,
                first_break: Some(ChainBreak { seq, reason }),
            };
            if seq != expected {
                return Ok(ChainReport {
                    verified: expected - 1,
                    head_hash: prev,
                    first_break: Some(ChainBreak {
                        seq: expected,
                        reason: format!("missing: the next stored event is {seq}"),
                    }),
                });
            }
            let rec = match decode_record(&bytes) {
                Ok(rec) => rec,
                Err(e) => return Ok(broken(format!("record unreadable: {e}"))),
            };
            if rec.seq != seq {
                return Ok(broken(format!(
                    "stored under {seq} but the record says {}",
                    rec.seq
                )));
            }
            if !verify_record(&bytes) {
                return Ok(broken(
                    "hash mismatch: the stored bytes were changed after they were written".into(),
                ));
            }
            if rec.prev_hash != prev {
                return Ok(broken(format!(
                    "link broken: previous hash {} but the event before hashes to {}",
                    hex(&rec.prev_hash),
                    hex(&prev)
                )));
            }
            if let Err(e) = rec.event() {
                return Ok(broken(format!("payload unreadable: {e}")));
            }
            prev = rec.hash;
            expected += 1;
        }
        if chunk_len < READ_CHUNK {
            return Ok(ChainReport {
                verified: expected - 1,
                head_hash: prev,
                first_break: None,
            });
        }
    }
}
