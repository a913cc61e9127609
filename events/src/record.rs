//! The stored form of an event: the envelope, its binary layout, and the hash chain.
//!
//! Layout of a stored value (all integers big-endian):
//!
//! | bytes | field |
//! | --- | --- |
//! | 1 | record format (1) |
//! | 8 | sequence number (also the sled key) |
//! | 16 | event id (UUID v7) |
//! | 8 | recorded-at, microseconds since the Unix epoch (i64) |
//! | 2 | schema version of the payload |
//! | 1 + n | kind name length and UTF-8 name |
//! | 4 + m | payload length and bincode-2 payload |
//! | 32 | previous event's hash (zeros for the first) |
//! | 32 | hash = SHA-256(previous hash ‖ every byte above) |
//!
//! The layout is ours and fixed, so the hash is over exact stored bytes that never depend on a
//! serialiser's version.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::DecodeError;
use crate::event::{Event, EventKind};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The previous hash of the first event.
pub const GENESIS_HASH: Hash = [0; 32];

pub(crate) const FORMAT: u8 = 1;
const FIXED_HEAD: usize = 1 + 8 + 16 + 8 + 2;

/// An event as stored: envelope plus raw payload, decoded lazily with [`RecordedEvent::event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Global, contiguous sequence number, from 1.
    pub seq: u64,
    /// Unique id (UUID v7).
    pub id: Uuid,
    /// When it was appended, microseconds since the Unix epoch.
    pub recorded_at_micros: i64,
    /// Schema version of the payload.
    pub schema_version: u16,
    /// Kind.
    pub kind: EventKind,
    /// bincode-2 payload.
    pub payload: Vec<u8>,
    /// Hash of the event before (zeros for the first).
    pub prev_hash: Hash,
    /// This event's hash.
    pub hash: Hash,
}

impl RecordedEvent {
    /// Decodes the payload into an [`Event`], upcasting older schema versions.
    ///
    /// # Errors
    /// When the payload does not decode or its schema version is unknown.
    pub fn event(&self) -> Result<Event, DecodeError> {
        Event::decode(self.kind, self.schema_version, &self.payload)
    }
}

/// Builds the stored bytes of an event and returns them with its hash.
pub fn encode_record(
    seq: u64,
    id: Uuid,
    recorded_at_micros: i64,
    schema_version: u16,
    kind: EventKind,
    payload: &[u8],
    prev_hash: &Hash,
) -> (Vec<u8>, Hash) {
    let name = kind.as_str().as_bytes();
    let mut bytes = Vec::with_capacity(FIXED_HEAD + 1 + name.len() + 4 + payload.len() + 64);
    bytes.push(FORMAT);
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(id.as_bytes());
    bytes.extend_from_slice(&recorded_at_micros.to_be_bytes());
    bytes.extend_from_slice(&schema_version.to_be_bytes());
    // Kind names are short literals of ours (< 64 bytes), payloads are capped far below 4 GiB.
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes.extend_from_slice(prev_hash);
    let hash = chain_hash(prev_hash, &bytes);
    bytes.extend_from_slice(&hash);
    (bytes, hash)
}

/// SHA-256(previous hash ‖ body).
pub fn chain_hash(prev_hash: &Hash, body: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(body);
    hasher.finalize().into()
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| {
                DecodeError::Record(format!(
                    "truncated: {what} needs {n} bytes at offset {}, record has {}",
                    self.at,
                    self.bytes.len()
                ))
            })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], DecodeError> {
        let slice = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }
}

/// Parses stored bytes. Checks the layout only; [`verify_record`] checks the hash.
///
/// # Errors
/// [`DecodeError::Record`] when the layout is broken, [`DecodeError::UnknownKind`] for a kind
/// this build does not know.
pub fn decode_record(bytes: &[u8]) -> Result<RecordedEvent, DecodeError> {
    let mut r = Reader { bytes, at: 0 };
    let [format] = r.array::<1>("format")?;
    if format != FORMAT {
        return Err(DecodeError::Record(format!(
            "unknown record format {format}"
        )));
    }
    let seq = u64::from_be_bytes(r.array("sequence")?);
    let id = Uuid::from_bytes(r.array("event id")?);
    let recorded_at_micros = i64::from_be_bytes(r.array("recorded-at")?);
    let schema_version = u16::from_be_bytes(r.array("schema version")?);
    let [name_len] = r.array::<1>("kind length")?;
    let name = r.take(name_len as usize, "kind")?;
    let name =
        std::str::from_utf8(name).map_err(|_| DecodeError::Record("kind is not UTF-8".into()))?;
    let kind =
        EventKind::from_name(name).ok_or_else(|| DecodeError::UnknownKind(name.to_string()))?;
    let payload_len = u32::from_be_bytes(r.array("payload length")?) as usize;
    let payload = r.take(payload_len, "payload")?.to_vec();
    let prev_hash = r.array::<32>("previous hash")?;
    let hash = r.array::<32>("hash")?;
    if r.at != bytes.len() {
        return Err(DecodeError::Record(format!(
            "{} trailing bytes",
            bytes.len() - r.at
        )));
    }
    Ok(RecordedEvent {
        seq,
        id,
        recorded_at_micros,
        schema_version,
        kind,
        payload,
        prev_hash,
        hash,
    })
}

/// Whether the stored bytes hash to the hash they carry.
pub fn verify_record(bytes: &[u8]) -> bool {
    if bytes.len() < 64 {
        return false;
    }
    let (body, hash) = bytes.split_at(bytes.len() - 32);
    let prev: Hash = match body[body.len() - 32..].try_into() {
        Ok(prev) => prev,
        Err(_) => return false,
    };
    chain_hash(&prev, body).as_slice() == hash
}

/// Lower-case hex of a hash.
pub fn hex(hash: &Hash) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in hash {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ActorStarted, SCHEMA_VERSION};

    fn sample() -> (Vec<u8>, Hash) {
        let event = Event::from(ActorStarted {
            actor: "arxiv".into(),
        });
        encode_record(
            7,
            Uuid::now_v7(),
            1_700_000_000_000_000,
            SCHEMA_VERSION,
            event.kind(),
            &event.encode_payload().unwrap(),
            &[9; 32],
        )
    }

    #[test]
    fn round_trip_and_verify() {
        let (bytes, hash) = sample();
        let rec = decode_record(&bytes).unwrap();
        assert_eq!(rec.seq, 7);
        assert_eq!(rec.hash, hash);
        assert_eq!(rec.prev_hash, [9; 32]);
        assert!(verify_record(&bytes));
        assert_eq!(
            rec.event().unwrap(),
            Event::from(ActorStarted {
                actor: "arxiv".into()
            })
        );
    }

    #[test]
    fn any_flipped_byte_breaks_verification_and_every_truncation_is_an_error() {
        let (bytes, _) = sample();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(!verify_record(&bad), "flip at {i} went unnoticed");
        }
        for len in 0..bytes.len() {
            assert!(
                decode_record(&bytes[..len]).is_err(),
                "truncation to {len} decoded"
            );
        }
    }
}
