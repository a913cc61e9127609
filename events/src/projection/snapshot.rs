//! The projection snapshot: [`Projections`] as of one sequence number, so opening a data
//! directory loads it and replays only the tail of the log instead of the whole log.
//!
//! A snapshot is a cache, never the truth. It is used only when every check holds:
//! - its own SHA-256 digest (over every byte before it) matches, so no byte of it changed;
//! - its format version is this build's [`SNAPSHOT_VERSION`] (bump it whenever [`Projections`]
//!   or anything inside it changes shape: an older snapshot is then rebuilt, not misread);
//! - the event the log holds at the snapshot's sequence number has the hash the snapshot
//!   recorded, so it was taken of *this* log and not of another one or of a lost tail.
//!
//! Layout (integers little-endian):
//!
//! ```text
//! magic "stratagem projections snapshot\n" · version u32 · seq u64 · hash [32]
//! · audit file lengths [u64; 5] · body length u64 · body (bincode 2 of Projections)
//! · SHA-256 of everything above [32]
//! ```

use sha2::{Digest, Sha256};

use super::{AuditFile, Projections};
use crate::record::Hash;

/// File name of the snapshot in the data directory.
pub const SNAPSHOT_FILE: &str = "projections.snapshot";
/// Version of the snapshot format and of the [`Projections`] layout inside it.
pub const SNAPSHOT_VERSION: u32 = 14;
/// A snapshot is written after this many events since the last one, so opening replays at most
/// this many events beyond it.
pub const SNAPSHOT_EVERY: u64 = 10_000;

const MAGIC: &[u8] = b"stratagem projections snapshot\n";
const FILES: usize = AuditFile::ALL.len();

/// A decoded snapshot.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    /// The projections as of `state.last_seq`.
    pub state: Projections,
    /// Hash of the event at `state.last_seq` (zeros for an empty log).
    pub hash: Hash,
    /// Each audit file's length as of `state.last_seq`.
    pub lens: [u64; FILES],
}

/// Why a snapshot was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotRejected {
    /// Its bytes do not match their digest, or it is cut short.
    #[error("the snapshot is damaged ({0})")]
    Damaged(&'static str),
    /// Written by another format version.
    #[error("the snapshot has format version {found}, this build writes {SNAPSHOT_VERSION}")]
    OtherVersion {
        /// The version found.
        found: u32,
    },
    /// The log does not hold the event the snapshot was taken at.
    #[error("the snapshot covers events up to {seq}, but the log {why}")]
    NotOfThisLog {
        /// The snapshot's sequence number.
        seq: u64,
        /// What the log holds instead.
        why: String,
    },
    /// The projection checkpoint stops before the snapshot (the files do not hold its lines).
    #[error(
        "the snapshot covers events up to {seq}, the projection files only up to {checkpoint}"
    )]
    AheadOfCheckpoint {
        /// The snapshot's sequence number.
        seq: u64,
        /// The checkpoint's.
        checkpoint: u64,
    },
    /// The audit files are shorter than when the snapshot was taken.
    #[error("the audit files are shorter than the snapshot records")]
    FilesShorter,
    /// The body does not decode.
    #[error("the snapshot's body does not decode: {0}")]
    Undecodable(String),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
}

/// Encodes a snapshot of `state` (whose last event has `hash`), with the audit files' lengths.
pub(crate) fn encode(state: &Projections, hash: &Hash, lens: &[u64; FILES]) -> Vec<u8> {
    // Our own plain structs (no maps with non-string keys, no untagged enums) always encode.
    let body = bincode::serde::encode_to_vec(state, config()).unwrap_or_default();
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + 8 + 32 + 8 * FILES + 8 + body.len() + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    out.extend_from_slice(&state.last_seq.to_le_bytes());
    out.extend_from_slice(hash);
    for len in lens {
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotRejected> {
        if self.0.len() < n {
            return Err(SnapshotRejected::Damaged("cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64, SnapshotRejected> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
}

/// Decodes and checks a snapshot's own bytes (digest, magic, version). Whether it belongs to
/// the log is the caller's check ([`Snapshot::hash`] against the log's event at its sequence).
pub(crate) fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotRejected> {
    if bytes.len() < 32 {
        return Err(SnapshotRejected::Damaged("cut short"));
    }
    let (content, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(content).as_slice() != digest {
        return Err(SnapshotRejected::Damaged("digest mismatch"));
    }
    let mut r = Reader(content);
    if r.take(MAGIC.len())? != MAGIC {
        return Err(SnapshotRejected::Damaged("not a snapshot"));
    }
    let mut v = [0u8; 4];
    v.copy_from_slice(r.take(4)?);
    let found = u32::from_le_bytes(v);
    if found != SNAPSHOT_VERSION {
        return Err(SnapshotRejected::OtherVersion { found });
    }
    let seq = r.u64()?;
    let mut hash = [0u8; 32];
    hash.copy_from_slice(r.take(32)?);
    let mut lens = [0u64; FILES];
    for len in &mut lens {
        *len = r.u64()?;
    }
    let body_len = usize::try_from(r.u64()?).map_err(|_| SnapshotRejected::Damaged("length"))?;
    let body = r.take(body_len)?;
    if !r.0.is_empty() {
        return Err(SnapshotRejected::Damaged("trailing bytes"));
    }
    let (state, used): (Projections, usize) = bincode::serde::decode_from_slice(body, config())
        .map_err(|e| SnapshotRejected::Undecodable(e.to_string()))?;
    if used != body.len() || state.last_seq != seq {
        return Err(SnapshotRejected::Undecodable(
            "its body does not match its header".into(),
        ));
    }
    Ok(Snapshot { state, hash, lens })
}
