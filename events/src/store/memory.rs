//! An in-memory [`EventStore`]: the same records, chain and semantics as the sled store, kept in
//! a vector. For tests, benchmarks and dry runs; nothing survives the process.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

use super::{
    continues, decode_ack_range, encode_ack_range, seal_batch, AppendAck, AppendRequest,
    EventStore, Expected, Head, RawRecord, StoreFuture,
};
use crate::error::StoreError;

#[derive(Default)]
struct Inner {
    records: Vec<Vec<u8>>,
    head: Option<Head>,
    idempotency: HashMap<String, [u8; 16]>,
}

/// An in-memory event store.
pub struct MemoryEventStore {
    inner: Mutex<Inner>,
    durable: watch::Sender<u64>,
}

impl Default for MemoryEventStore {
    fn default() -> Self {
        MemoryEventStore {
            inner: Mutex::new(Inner::default()),
            durable: watch::Sender::new(0),
        }
    }
}

impl MemoryEventStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written batch: records are pushed
        // only after the whole batch is sealed. So a poisoned lock is safe to take over.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn append_now(&self, request: AppendRequest) -> Result<AppendAck, StoreError> {
        if request.events.is_empty() {
            return Err(StoreError::EmptyBatch);
        }
        let mut inner = self.lock();
        if let Some(key) = &request.idempotency_key {
            if let Some((first_seq, last_seq)) =
                inner.idempotency.get(key).and_then(|v| decode_ack_range(v))
            {
                return Ok(AppendAck {
                    first_seq,
                    last_seq,
                    deduplicated: true,
                });
            }
        }
        let head = inner.head.unwrap_or(Head::EMPTY);
        if let Expected::NextSeq(expected) = request.expected {
            if expected != head.seq + 1 {
                return Err(StoreError::Conflict {
                    expected,
                    actual: head.seq + 1,
                });
            }
        }
        let (records, new_head) = seal_batch(head.seq + 1, head.hash, &request.events)?;
        inner
            .records
            .extend(records.into_iter().map(|(_, bytes)| bytes));
        inner.head = Some(new_head);
        if let Some(key) = request.idempotency_key {
            inner
                .idempotency
                .insert(key, encode_ack_range(head.seq + 1, new_head.seq));
        }
        drop(inner);
        self.durable.send_replace(new_head.seq);
        Ok(AppendAck {
            first_seq: head.seq + 1,
            last_seq: new_head.seq,
            deduplicated: false,
        })
    }
}

impl EventStore for MemoryEventStore {
    fn append(&self, request: AppendRequest) -> StoreFuture<'_, AppendAck> {
        let result = self.append_now(request);
        Box::pin(async move { result })
    }

    fn head(&self) -> Head {
        self.lock().head.unwrap_or(Head::EMPTY)
    }

    fn read_raw(&self, from: u64, limit: usize) -> Result<Vec<RawRecord>, StoreError> {
        let inner = self.lock();
        let start = usize::try_from(from.max(1) - 1).unwrap_or(usize::MAX);
        Ok(inner
            .records
            .iter()
            .enumerate()
            .skip(start)
            .take(limit)
            .map(|(i, bytes)| (i as u64 + 1, bytes.clone()))
            .collect())
    }

    fn durable_watch(&self) -> watch::Receiver<u64> {
        self.durable.subscribe()
    }

    fn keys(&self) -> Result<Vec<(String, u64, u64)>, StoreError> {
        Ok(super::in_log_order(
            self.lock()
                .idempotency
                .iter()
                .filter_map(|(k, v)| decode_ack_range(v).map(|(f, l)| (k.clone(), f, l))),
        ))
    }

    fn import(
        &self,
        records: Vec<RawRecord>,
        keys: Vec<(String, u64, u64)>,
    ) -> StoreFuture<'_, Head> {
        let result = (|| {
            let mut inner = self.lock();
            let head = continues(inner.head.unwrap_or(Head::EMPTY), &records)?;
            inner
                .records
                .extend(records.into_iter().map(|(_, bytes)| bytes));
            inner.head = Some(head);
            for (key, first, last) in keys {
                inner.idempotency.insert(key, encode_ack_range(first, last));
            }
            drop(inner);
            self.durable.send_replace(head.seq);
            Ok(head)
        })();
        Box::pin(async move { result })
    }
}
