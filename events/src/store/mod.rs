//! The event store: an append-only, hash-chained log with one global sequence.
//!
//! Three implementations sit behind [`EventStore`]: [`SledEventStore`] (durable, the default),
//! [`JetStreamEventStore`] (a NATS JetStream stream, replicated across a cluster) and
//! [`MemoryEventStore`] (tests, benchmarks, dry runs). One conformance suite
//! (`tests/store_conformance.rs`) runs against each, the JetStream store on one server and on a
//! three-node cluster.
//!
//! Semantics every implementation keeps:
//! - sequence numbers start at 1 and are contiguous; the first event's previous hash is zeros;
//! - an append is one atomic batch: after a crash either all its events are there or none;
//! - [`Expected::NextSeq`] makes an append fail with [`StoreError::Conflict`] unless the log's
//!   next sequence number is the one the caller expected (optimistic concurrency);
//! - an append with an idempotency key that was used before stores nothing and returns the
//!   original acknowledgement with `deduplicated: true` (checked before the expected sequence,
//!   so a retry after a lost acknowledgement always succeeds);
//! - the acknowledgement is returned only once the batch is durable, and subscribers only ever
//!   see durable events.

pub mod inspect;
mod jetstream;
mod jobs;
mod memory;
mod sled_store;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use uuid::Uuid;

pub use jetstream::{JetStreamEventStore, LeaderLease, NatsAddress, DUPLICATE_WINDOW};
pub use jobs::{JobQueue, TakenJob};
pub use memory::MemoryEventStore;
pub use sled_store::SledEventStore;

use crate::error::StoreError;
use crate::event::{Event, SCHEMA_VERSION};
use crate::record::{decode_record, encode_record, Hash, RecordedEvent, GENESIS_HASH};

/// A boxed future returned by the store's async methods.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A stored record as the store holds it: its sequence number and its exact bytes.
pub type RawRecord = (u64, Vec<u8>);

/// What the caller expects the log to look like when its append lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// No expectation: append after whatever is there.
    Any,
    /// The first event of this batch must get exactly this sequence number.
    NextSeq(u64),
}

/// One atomic append.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    /// The events, in order. At least one.
    pub events: Vec<Event>,
    /// Optimistic-concurrency check.
    pub expected: Expected,
    /// When set, a second append with the same key stores nothing and returns the first ack.
    pub idempotency_key: Option<String>,
}

impl AppendRequest {
    /// A batch with no expectation and no idempotency key.
    pub fn new(events: Vec<Event>) -> Self {
        AppendRequest {
            events,
            expected: Expected::Any,
            idempotency_key: None,
        }
    }

    /// A single event.
    pub fn one(event: impl Into<Event>) -> Self {
        AppendRequest::new(vec![event.into()])
    }

    /// Sets the idempotency key.
    pub fn idempotent(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Sets the expected next sequence number.
    pub fn expecting(mut self, next_seq: u64) -> Self {
        self.expected = Expected::NextSeq(next_seq);
        self
    }
}

/// A durable acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendAck {
    /// Sequence of the batch's first event.
    pub first_seq: u64,
    /// Sequence of its last event.
    pub last_seq: u64,
    /// True when the idempotency key had been used: nothing new was stored.
    pub deduplicated: bool,
}

/// The end of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Last sequence number, 0 when empty.
    pub seq: u64,
    /// Hash of the last event, zeros when empty.
    pub hash: Hash,
}

impl Head {
    /// The head of an empty log.
    pub const EMPTY: Head = Head {
        seq: 0,
        hash: GENESIS_HASH,
    };
}

/// An append-only, hash-chained event log.
pub trait EventStore: Send + Sync {
    /// Appends a batch atomically and resolves once it is durable.
    ///
    /// Cancel safety: not cancel-safe. A cancelled append may or may not have been stored;
    /// retry it with the same idempotency key to find out without writing twice.
    ///
    /// # Errors
    /// [`StoreError::EmptyBatch`], [`StoreError::Conflict`], or a storage error. On a storage
    /// error after the write, the batch may still become durable: retry with the same
    /// idempotency key.
    fn append(&self, request: AppendRequest) -> StoreFuture<'_, AppendAck>;

    /// The last event written (durable once every pending append has resolved).
    fn head(&self) -> Head;

    /// Up to `limit` stored records from sequence `from` on, as the exact stored bytes.
    ///
    /// # Errors
    /// A storage error.
    fn read_raw(&self, from: u64, limit: usize) -> Result<Vec<RawRecord>, StoreError>;

    /// A watch of the last durable sequence number.
    fn durable_watch(&self) -> watch::Receiver<u64>;

    /// Every idempotency key used, with the first and last sequence of its batch, in order.
    ///
    /// # Errors
    /// A storage error.
    fn keys(&self) -> Result<Vec<(String, u64, u64)>, StoreError>;

    /// Appends records sealed elsewhere (a copy of another store), byte for byte, with the
    /// idempotency keys of their batches: they must continue this store's chain (each the next
    /// sequence, linked to the one before, its hash its own). Resolves once durable; returns
    /// the new head.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the first record that does not continue the chain
    /// (nothing of the call is stored), or a storage error.
    fn import(
        &self,
        records: Vec<RawRecord>,
        keys: Vec<(String, u64, u64)>,
    ) -> StoreFuture<'_, Head>;

    /// Up to `limit` events from sequence `from` on.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the first record that does not parse.
    fn read(&self, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_raw(from, limit)?
            .into_iter()
            .map(|(seq, bytes)| parse_stored(seq, &bytes))
            .collect()
    }
}

/// Idempotency keys with their batches' first and last sequence, in the order of the log.
pub(crate) fn in_log_order(
    keys: impl IntoIterator<Item = (String, u64, u64)>,
) -> Vec<(String, u64, u64)> {
    let mut keys: Vec<_> = keys.into_iter().collect();
    keys.sort_by_key(|(_, first, _)| *first);
    keys
}

/// Checks that `records` continue the chain at `head`: each the next sequence, linked to the
/// one before, and hashing to its own hash. Returns the head after them.
///
/// # Errors
/// [`StoreError::Corrupt`] naming the first record that does not.
pub(crate) fn continues(head: Head, records: &[RawRecord]) -> Result<Head, StoreError> {
    let mut head = head;
    for (seq, bytes) in records {
        let corrupt = |why: String| StoreError::Corrupt {
            seq: *seq,
            source: crate::error::DecodeError::Record(why),
        };
        let r = decode_record(bytes).map_err(|e| corrupt(e.to_string()))?;
        if r.seq != *seq || r.seq != head.seq + 1 {
            return Err(corrupt(format!(
                "record {} where event {} was to follow",
                r.seq,
                head.seq + 1
            )));
        }
        if r.prev_hash != head.hash {
            return Err(corrupt("it does not link to the event before".into()));
        }
        if !crate::record::verify_record(bytes) {
            return Err(corrupt("its hash is not its own".into()));
        }
        head = Head {
            seq: r.seq,
            hash: r.hash,
        };
    }
    Ok(head)
}

/// Parses stored bytes found under key `seq`, checking that the record says the same sequence.
///
/// # Errors
/// [`StoreError::Corrupt`] naming `seq`.
pub fn parse_stored(seq: u64, bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
    let rec = decode_record(bytes).map_err(|source| StoreError::Corrupt { seq, source })?;
    if rec.seq != seq {
        return Err(StoreError::Corrupt {
            seq,
            source: crate::error::DecodeError::Record(format!(
                "stored under {seq} but says {}",
                rec.seq
            )),
        });
    }
    Ok(rec)
}

/// Iterates every event from `from` on, reading in chunks.
pub fn iter_from(store: &dyn EventStore, from: u64) -> EventIter<'_> {
    EventIter {
        store,
        next: from.max(1),
        buffer: VecDeque::new(),
        done: false,
    }
}

/// Chunk size of [`EventIter`].
pub const READ_CHUNK: usize = 4096;

/// Iterator over stored events; stops at the first error, which it yields.
pub struct EventIter<'a> {
    store: &'a dyn EventStore,
    next: u64,
    buffer: VecDeque<RecordedEvent>,
    done: bool,
}

impl Iterator for EventIter<'_> {
    type Item = Result<RecordedEvent, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() && !self.done {
            match self.store.read(self.next, READ_CHUNK) {
                Ok(chunk) => {
                    if chunk.len() < READ_CHUNK {
                        self.done = true;
                    }
                    if let Some(last) = chunk.last() {
                        self.next = last.seq + 1;
                    }
                    self.buffer.extend(chunk);
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        self.buffer.pop_front().map(Ok)
    }
}

/// A live feed of durable events: first everything from a sequence number on, then each new
/// event as it becomes durable.
pub struct Subscription {
    store: Arc<dyn EventStore>,
    next: u64,
    durable: watch::Receiver<u64>,
    buffer: VecDeque<RecordedEvent>,
}

impl Subscription {
    /// Subscribes from sequence `from` (1 = the whole log).
    pub fn new(store: Arc<dyn EventStore>, from: u64) -> Self {
        let durable = store.durable_watch();
        Subscription {
            store,
            next: from.max(1),
            durable,
            buffer: VecDeque::new(),
        }
    }

    /// The next durable event; `Ok(None)` once the store is closed and everything was delivered.
    ///
    /// Cancel safety: cancel-safe. If the future is dropped before it resolves, no event is
    /// lost: the next call returns the same event.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] or a storage error while reading.
    pub async fn next(&mut self) -> Result<Option<RecordedEvent>, StoreError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.next = event.seq + 1;
                return Ok(Some(event));
            }
            let durable = *self.durable.borrow_and_update();
            if durable >= self.next {
                let want = usize::try_from(durable - self.next + 1)
                    .unwrap_or(READ_CHUNK)
                    .min(READ_CHUNK);
                self.buffer.extend(self.store.read(self.next, want)?);
                if self.buffer.is_empty() {
                    // Durable says there is more but nothing was read: the store lost events.
                    return Err(StoreError::Corrupt {
                        seq: self.next,
                        source: crate::error::DecodeError::Record(
                            "missing though acknowledged".into(),
                        ),
                    });
                }
                continue;
            }
            if self.durable.changed().await.is_err() {
                return Ok(None);
            }
        }
    }
}

/// Seals a batch onto a chain: assigns sequence numbers from `next_seq`, ids and times, and
/// links each event to the one before. Returns the stored records and the new head.
///
/// # Errors
/// [`StoreError::Encode`] when an event cannot be encoded; nothing of the batch is stored then.
pub(crate) fn seal_batch(
    next_seq: u64,
    prev: Hash,
    events: &[Event],
) -> Result<(Vec<RawRecord>, Head), StoreError> {
    let now = now_micros();
    let mut prev = prev;
    let mut records = Vec::with_capacity(events.len());
    let mut seq = next_seq;
    for event in events {
        let payload = event.encode_payload()?;
        let (bytes, hash) = encode_record(
            seq,
            Uuid::now_v7(),
            now,
            SCHEMA_VERSION,
            event.kind(),
            &payload,
            &prev,
        );
        records.push((seq, bytes));
        prev = hash;
        seq += 1;
    }
    Ok((
        records,
        Head {
            seq: seq - 1,
            hash: prev,
        },
    ))
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The encoded form of an idempotency entry: first and last sequence of the original batch.
pub(crate) fn encode_ack_range(first: u64, last: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&first.to_be_bytes());
    out[8..].copy_from_slice(&last.to_be_bytes());
    out
}

pub(crate) fn decode_ack_range(bytes: &[u8]) -> Option<(u64, u64)> {
    let first = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    let last = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
    Some((first, last))
}

/// What [`copy`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyReport {
    /// Events the target held already (an earlier copy cut short, or 0).
    pub already: u64,
    /// Events copied now.
    pub copied: u64,
    /// Idempotency keys copied now.
    pub keys: u64,
    /// The head both stores end at.
    pub head: Head,
}

/// Copies every event of `from` to `to` byte for byte, with their hashes and the idempotency
/// keys of their batches, in chunks of about `chunk` events. A target that holds the start of
/// the same log (a copy cut short) is continued; one that holds anything else is refused.
///
/// # Errors
/// [`StoreError::Backend`] when the target holds another log or the two heads differ at the
/// end; a record that does not continue the chain; a storage error.
pub async fn copy(
    from: &dyn EventStore,
    to: &dyn EventStore,
    chunk: usize,
) -> Result<CopyReport, StoreError> {
    let different = |message: String| StoreError::Backend {
        path: std::path::PathBuf::from("the copy's target"),
        message,
    };
    let start = to.head();
    if start.seq > 0 {
        let same = from
            .read(start.seq, 1)?
            .first()
            .is_some_and(|r| r.seq == start.seq && r.hash == start.hash);
        if !same {
            return Err(different(format!(
                "it holds {} events that are not the start of the log being copied",
                start.seq
            )));
        }
    }
    let keys = from.keys()?;
    let mut copied_keys = 0;
    let mut next = start.seq + 1;
    loop {
        let mut records = from.read_raw(next, chunk.max(1))?;
        let Some(&(mut last, _)) = records.last() else {
            break;
        };
        // A batch whose key is copied goes whole into one call.
        while let Some(&(_, _, end)) = keys.iter().find(|(_, f, l)| *f <= last && *l > last) {
            let more = from.read_raw(last + 1, usize::try_from(end - last).unwrap_or(0))?;
            if more.is_empty() {
                break;
            }
            records.extend(more);
            last = records.last().map_or(last, |r| r.0);
        }
        let these: Vec<(String, u64, u64)> = keys
            .iter()
            .filter(|(_, f, _)| *f >= next && *f <= last)
            .cloned()
            .collect();
        copied_keys += these.len() as u64;
        to.import(records, these).await?;
        next = last + 1;
    }
    let (a, b) = (from.head(), to.head());
    if a != b {
        return Err(different(format!(
            "after the copy the source ends at event {} and the target at {}",
            a.seq, b.seq
        )));
    }
    Ok(CopyReport {
        already: start.seq,
        copied: b.seq - start.seq,
        keys: copied_keys,
        head: b,
    })
}
