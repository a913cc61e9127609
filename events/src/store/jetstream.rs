//! The [`EventStore`] over a NATS JetStream stream (`--store nats://HOST:PORT/STREAM`).
//!
//! **One message per batch.** An append is one JetStream message on `{STREAM}.events` holding
//! the batch's sealed records (the same bytes, sequence numbers and hash chain as the sled
//! store's), so a batch is stored whole or not at all and no reader ever sees half of one. The
//! event sequence stays the store's own (contiguous from 1); the stream sequence counts batches.
//!
//! - **Expected sequence.** Every publish carries `Nats-Expected-Last-Sequence`: the stream
//!   sequence of the last batch this process has applied. A writer whose view is stale (another
//!   process appended) is refused by the server; it catches up, re-checks [`Expected`], and
//!   seals again on the new head (so the chain never forks and a deposed writer can never write
//!   over a newer one).
//! - **Idempotent retries.** A batch with an idempotency key carries it as `Nats-Msg-Id` (the
//!   server drops a repeat inside the stream's duplicate window) and inside the message, so the
//!   key → acknowledgement index is rebuilt from the stream itself: a retry after the window is
//!   found by that durable check before anything is published.
//! - **Durable acknowledgement.** The append resolves once JetStream has acknowledged the
//!   message: stored on disk, on a quorum of the stream's replicas.
//! - **Reads and subscriptions** come from a local copy of the stream, filled at open and kept
//!   current by an ordered consumer (another process's appends arrive there); the durable
//!   watch moves as batches arrive.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::watch;

use super::{
    continues, seal_batch, AppendAck, AppendRequest, EventStore, Expected, Head, RawRecord,
    StoreFuture,
};
use crate::error::StoreError;
use crate::record::{decode_record, GENESIS_HASH};

/// The stream's duplicate window (`Nats-Msg-Id`); older keys are found in the local index.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// How long an append keeps trying through a cluster's election or a server going away.
const APPEND_PATIENCE: Duration = Duration::from_secs(30);

/// How long a request to the server may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Marks a batch message (and its format).
const MAGIC: &[u8; 4] = b"SGB1";

/// Where a JetStream store is: `nats://HOST:PORT/STREAM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsAddress {
    /// The server (or one of the cluster's servers): `nats://HOST:PORT`.
    pub server: String,
    /// The stream's name.
    pub stream: String,
}

impl NatsAddress {
    /// Parses `nats://HOST:PORT/STREAM` (several servers: `nats://H1:P1,H2:P2/STREAM`).
    ///
    /// # Errors
    /// What is wrong with it, in words.
    pub fn parse(spec: &str) -> Result<NatsAddress, String> {
        let rest = spec
            .strip_prefix("nats://")
            .ok_or_else(|| format!("{spec:?}: a NATS store is nats://HOST:PORT/STREAM"))?;
        let (servers, stream) = rest
            .split_once('/')
            .ok_or_else(|| format!("{spec:?}: no stream name (nats://HOST:PORT/STREAM)"))?;
        if servers.is_empty() {
            return Err(format!("{spec:?}: no server (nats://HOST:PORT/STREAM)"));
        }
        let valid = !stream.is_empty()
            && stream
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(format!(
                "{spec:?}: the stream name must be letters, digits, '-' or '_'"
            ));
        }
        let server = servers
            .split(',')
            .map(|s| format!("nats://{s}"))
            .collect::<Vec<_>>()
            .join(",");
        Ok(NatsAddress {
            server,
            stream: stream.to_string(),
        })
    }

    /// The address as written.
    pub fn label(&self) -> String {
        format!("{}/{}", self.server.replace(",nats://", ","), self.stream)
    }
}

/// A client of the servers `address` names.
///
/// # Errors
/// [`StoreError::Backend`]: a malformed server address, or no server answers in 10 s.
pub(crate) async fn connect(address: &NatsAddress) -> Result<async_nats::Client, StoreError> {
    let backend = |what: &str, e: &dyn std::fmt::Display| StoreError::Backend {
        path: PathBuf::from(address.label()),
        message: format!("{what}: {e}"),
    };
    let servers = address
        .server
        .split(',')
        .map(|s| s.parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| backend("not a server address", &e))?;
    let client = async_nats::ConnectOptions::new()
        .request_timeout(Some(REQUEST_TIMEOUT))
        .connection_timeout(REQUEST_TIMEOUT)
        .connect(servers);
    tokio::time::timeout(REQUEST_TIMEOUT, client)
        .await
        .map_err(|_| backend("cannot reach the server", &"no answer in 10 s"))?
        .map_err(|e| backend("cannot reach the server", &e))
}

/// The local copy of the stream.
#[derive(Default)]
struct Mirror {
    records: Vec<Vec<u8>>,
    head: Option<Head>,
    /// The stream sequence of the last batch applied.
    stream_last: u64,
    /// Idempotency key → the batch's first and last event sequence.
    keys: HashMap<String, (u64, u64)>,
    /// A batch that could not be applied (the stream holds something that is not ours).
    broken: Option<String>,
}

impl Mirror {
    /// Applies the batch message at stream sequence `seq`; a batch already applied is skipped.
    fn apply(&mut self, seq: u64, payload: &[u8]) -> Result<(), String> {
        if seq <= self.stream_last {
            return Ok(());
        }
        if seq != self.stream_last + 1 {
            return Err(format!(
                "stream message {seq} arrived after {}: a batch is missing",
                self.stream_last
            ));
        }
        let (key, records) = decode_batch(payload)
            .map_err(|e| format!("stream message {seq} is not a batch of events: {e}"))?;
        let mut head = self.head.unwrap_or(Head::EMPTY);
        let first = head.seq + 1;
        let mut decoded = Vec::with_capacity(records.len());
        for bytes in records {
            let r = decode_record(&bytes)
                .map_err(|e| format!("stream message {seq}: event {}: {e}", head.seq + 1))?;
            if r.seq != head.seq + 1 {
                return Err(format!(
                    "stream message {seq} holds event {} where event {} was to follow",
                    r.seq,
                    head.seq + 1
                ));
            }
            if r.prev_hash != head.hash {
                return Err(format!(
                    "stream message {seq}: event {} does not follow the chain",
                    r.seq
                ));
            }
            head = Head {
                seq: r.seq,
                hash: r.hash,
            };
            decoded.push(bytes);
        }
        if decoded.is_empty() {
            return Err(format!("stream message {seq} holds no event"));
        }
        self.records.extend(decoded);
        self.head = Some(head);
        self.stream_last = seq;
        if let Some(key) = key {
            self.keys.entry(key).or_insert((first, head.seq));
        }
        Ok(())
    }
}

/// A batch message: magic, key (length-prefixed, 0 for none), then each record length-prefixed.
fn encode_batch(key: Option<&str>, records: &[RawRecord]) -> Vec<u8> {
    let key = key.unwrap_or("").as_bytes();
    let size = records.iter().map(|(_, b)| b.len() + 4).sum::<usize>();
    let mut out = Vec::with_capacity(12 + key.len() + size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(records.len() as u32).to_be_bytes());
    for (_, bytes) in records {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

type Batch = (Option<String>, Vec<Vec<u8>>);

fn decode_batch(bytes: &[u8]) -> Result<Batch, String> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let end = at.checked_add(n).filter(|e| *e <= bytes.len());
        let end = end.ok_or_else(|| "truncated".to_string())?;
        let slice = &bytes[at..end];
        at = end;
        Ok(slice)
    };
    if take(4)? != MAGIC {
        return Err("no batch marker".into());
    }
    let u32_of = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let key_len = u32_of(take(4)?);
    let key = String::from_utf8(take(key_len)?.to_vec()).map_err(|e| e.to_string())?;
    let count = u32_of(take(4)?);
    let mut records = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        let len = u32_of(take(4)?);
        records.push(take(len)?.to_vec());
    }
    Ok(((!key.is_empty()).then_some(key), records))
}

struct Shared {
    mirror: Mutex<Mirror>,
    durable: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Mirror> {
        // Batches are applied whole under the lock: a poisoned lock holds no half batch.
        self.mirror.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a batch and moves the durable watch.
    fn apply(&self, seq: u64, payload: &[u8]) -> Result<(), String> {
        let mut m = self.lock();
        let result = m.apply(seq, payload);
        if let Err(e) = &result {
            m.broken.get_or_insert_with(|| e.clone());
        }
        let head = m.head.map_or(0, |h| h.seq);
        drop(m);
        self.durable.send_if_modified(|d| {
            let moved = *d != head;
            *d = head;
            moved
        });
        result
    }
}

/// The event store on a JetStream stream.
pub struct JetStreamEventStore {
    address: NatsAddress,
    context: jetstream::Context,
    stream: stream::Stream,
    shared: Arc<Shared>,
    /// One append at a time from this process.
    writer: tokio::sync::Mutex<()>,
    follower: tokio::task::JoinHandle<()>,
    client: async_nats::Client,
}

impl Drop for JetStreamEventStore {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

impl std::fmt::Debug for JetStreamEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamEventStore")
            .field("address", &self.address.label())
            .field("head", &self.head().seq)
            .finish()
    }
}

impl JetStreamEventStore {
    /// Connects to the server, creates the stream when it is not there (file storage,
    /// `replicas` copies, deletes and purges denied), and reads it whole.
    ///
    /// # Errors
    /// [`StoreError::Backend`] naming the address: the server cannot be reached, the stream
    /// cannot be created, or it holds something that is not a batch of this store.
    pub async fn open(address: &NatsAddress, replicas: usize) -> Result<Self, StoreError> {
        let backend = |what: &str, e: &dyn std::fmt::Display| StoreError::Backend {
            path: PathBuf::from(address.label()),
            message: format!("{what}: {e}"),
        };
        let client = connect(address).await?;
        let mut context = jetstream::new(client.clone());
        context.set_timeout(REQUEST_TIMEOUT);
        let config = stream::Config {
            name: address.stream.clone(),
            subjects: vec![subject(&address.stream)],
            storage: stream::StorageType::File,
            num_replicas: replicas.max(1),
            duplicate_window: DUPLICATE_WINDOW,
            deny_delete: true,
            deny_purge: true,
            allow_direct: true,
            ..Default::default()
        };
        // A cluster still electing its meta leader, or placing the stream's replicas, times out
        // or says it has no peers for a while: asked again until `APPEND_PATIENCE` runs out.
        let began = std::time::Instant::now();
        let mut stream = loop {
            match context.get_or_create_stream(config.clone()).await {
                Ok(stream) => break stream,
                Err(e) if forming(&e) && began.elapsed() < APPEND_PATIENCE => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(backend("cannot open the stream", &e)),
            }
        };
        // A replicated stream takes writes once it has a leader.
        let began = std::time::Instant::now();
        let last = loop {
            let info = match stream.info().await {
                Ok(info) => info,
                Err(_) if began.elapsed() < APPEND_PATIENCE => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
                Err(e) => return Err(backend("cannot read the stream", &e)),
            };
            let led = replicas <= 1
                || info
                    .cluster
                    .as_ref()
                    .is_some_and(|c| c.leader.as_ref().is_some_and(|l| !l.is_empty()));
            if led || began.elapsed() > APPEND_PATIENCE {
                break info.state.last_sequence;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let shared = Arc::new(Shared {
            mirror: Mutex::new(Mirror::default()),
            durable: watch::Sender::new(0),
        });
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                deliver_policy: jetstream::consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| backend("cannot follow the stream", &e))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| backend("cannot follow the stream", &e))?;
        // Everything there now, then whatever comes (another process's appends).
        while shared.lock().stream_last < last {
            let next = tokio::time::timeout(REQUEST_TIMEOUT, messages.next())
                .await
                .map_err(|_| backend("cannot read the stream", &"no message in 10 s"))?;
            let Some(message) = next else {
                return Err(backend("cannot read the stream", &"the consumer ended"));
            };
            let message = message.map_err(|e| backend("cannot read the stream", &e))?;
            let seq = message
                .info()
                .map_err(|e| backend("cannot read the stream", &e))?
                .stream_sequence;
            shared
                .apply(seq, &message.payload)
                .map_err(|e| backend("the stream is not an event log", &e))?;
        }
        let follower = {
            let shared = shared.clone();
            tokio::spawn(async move {
                while let Some(message) = messages.next().await {
                    let Ok(message) = message else {
                        // The ordered consumer recreates itself; a lasting failure ends here
                        // and appends catch up by direct reads.
                        continue;
                    };
                    let Ok(info) = message.info() else { continue };
                    if let Err(e) = shared.apply(info.stream_sequence, &message.payload) {
                        tracing::error!("event stream: {e}");
                    }
                }
            })
        };
        Ok(JetStreamEventStore {
            address: address.clone(),
            context,
            stream,
            shared,
            writer: tokio::sync::Mutex::new(()),
            follower,
            client,
        })
    }

    /// The store's address.
    pub fn address(&self) -> &NatsAddress {
        &self.address
    }

    fn backend(&self, what: &str, e: &dyn std::fmt::Display) -> StoreError {
        StoreError::Backend {
            path: PathBuf::from(self.address.label()),
            message: format!("{what}: {e}"),
        }
    }

    /// Reads the stream's batches after the local copy's up to `through` directly.
    async fn catch_up(&self, through: u64) -> Result<(), StoreError> {
        loop {
            let next = self.shared.lock().stream_last + 1;
            if next > through {
                return Ok(());
            }
            let message = self
                .stream
                .get_raw_message(next)
                .await
                .map_err(|e| self.backend(&format!("cannot read batch {next}"), &e))?;
            self.shared
                .apply(message.sequence, &message.payload)
                .map_err(|e| self.backend("the stream is not an event log", &e))?;
        }
    }

    /// The original acknowledgement of idempotency key `key`, when it was used.
    fn used(&self, key: Option<&str>) -> Option<AppendAck> {
        let m = self.shared.lock();
        let (first_seq, last_seq) = *m.keys.get(key?)?;
        Some(AppendAck {
            first_seq,
            last_seq,
            deduplicated: true,
        })
    }

    /// Whether `records` (a batch sealed here) are on the local copy, as they are.
    fn landed(&self, records: &[RawRecord]) -> bool {
        let m = self.shared.lock();
        records.iter().all(|(seq, bytes)| {
            usize::try_from(*seq - 1)
                .ok()
                .and_then(|i| m.records.get(i))
                .is_some_and(|stored| stored == bytes)
        })
    }

    /// The stream's last sequence, asked of the server.
    async fn stream_last(&self) -> Result<u64, StoreError> {
        let mut stream = self.stream.clone();
        Ok(stream
            .info()
            .await
            .map_err(|e| self.backend("cannot read the stream", &e))?
            .state
            .last_sequence)
    }

    async fn append_now(&self, request: AppendRequest) -> Result<AppendAck, StoreError> {
        if request.events.is_empty() {
            return Err(StoreError::EmptyBatch);
        }
        let _writer = self.writer.lock().await;
        if let Some(broken) = self.shared.lock().broken.clone() {
            return Err(self.backend("refusing to append", &broken));
        }
        let key = request.idempotency_key.clone();
        let began = std::time::Instant::now();
        loop {
            // The durable check: a key used before, however long ago.
            if let Some(ack) = self.used(key.as_deref()) {
                return Ok(ack);
            }
            let (head, stream_last) = {
                let m = self.shared.lock();
                (m.head.unwrap_or(Head::EMPTY), m.stream_last)
            };
            if let Expected::NextSeq(expected) = request.expected {
                if expected != head.seq + 1 {
                    // The local copy may be behind the stream: only a current view refuses.
                    let last = self.stream_last().await?;
                    if last > stream_last {
                        self.catch_up(last).await?;
                        continue;
                    }
                    return Err(StoreError::Conflict {
                        expected,
                        actual: head.seq + 1,
                    });
                }
            }
            let (records, new_head) = seal_batch(head.seq + 1, head.hash, &request.events)?;
            let payload = encode_batch(key.as_deref(), &records);
            let max_payload = self.message_limit();
            if payload.len() > max_payload {
                return Err(self.backend(
                    "cannot append",
                    &format!(
                        "a batch of {} events is {} bytes, over the server's message limit of {} (max_payload)",
                        records.len(),
                        payload.len(),
                        max_payload
                    ),
                ));
            }
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(
                async_nats::header::NATS_EXPECTED_LAST_SEQUENCE,
                stream_last.to_string().as_str(),
            );
            if let Some(k) = &key {
                headers.insert(async_nats::header::NATS_MESSAGE_ID, k.as_str());
            }
            let published = self
                .context
                .publish_with_headers(
                    subject(&self.address.stream),
                    headers,
                    Bytes::from(payload.clone()),
                )
                .await;
            let ack = match published {
                Ok(future) => future.await,
                Err(e) => Err(e),
            };
            match ack {
                Ok(ack) if ack.duplicate => {
                    // The key was stored inside the duplicate window (a retry of a batch whose
                    // acknowledgement was lost): its original acknowledgement.
                    self.catch_up(ack.sequence).await?;
                    if let Some(ack) = self.used(key.as_deref()) {
                        return Ok(ack);
                    }
                    return Err(self.backend(
                        "cannot append",
                        &"the server calls the batch a duplicate of one the stream does not show",
                    ));
                }
                Ok(ack) => {
                    // Ours, applied now (or already by the follower).
                    self.catch_up(ack.sequence - 1).await?;
                    self.shared
                        .apply(ack.sequence, &payload)
                        .map_err(|e| self.backend("the stream is not an event log", &e))?;
                    return Ok(AppendAck {
                        first_seq: head.seq + 1,
                        last_seq: new_head.seq,
                        deduplicated: false,
                    });
                }
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                    // Another writer appended (or an earlier try of this batch landed after
                    // all): catch up, then check and seal again.
                    let last = self.stream_last().await?;
                    self.catch_up(last).await?;
                    if self.landed(&records) {
                        return Ok(AppendAck {
                            first_seq: head.seq + 1,
                            last_seq: new_head.seq,
                            deduplicated: false,
                        });
                    }
                }
                Err(e) if passing(e.kind()) && began.elapsed() < APPEND_PATIENCE => {
                    // A cluster electing a leader, or a server going away: this batch may have
                    // landed. Look, once the stream answers; else try again on a fresh view.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if let Ok(last) = self.stream_last().await {
                        if self.catch_up(last).await.is_ok() && self.landed(&records) {
                            return Ok(AppendAck {
                                first_seq: head.seq + 1,
                                last_seq: new_head.seq,
                                deduplicated: false,
                            });
                        }
                    }
                }
                Err(e) => return Err(self.backend(
                    "cannot append (it may have been stored: retry with the same idempotency key)",
                    &e,
                )),
            }
        }
    }
}

impl JetStreamEventStore {
    /// Largest batch message to publish: within the server's limit (1 MiB when it has not said).
    fn message_limit(&self) -> usize {
        match self.client.server_info().max_payload {
            0 => 1 << 20,
            n => n,
        }
    }

    async fn import_now(
        &self,
        records: Vec<RawRecord>,
        keys: Vec<(String, u64, u64)>,
    ) -> Result<Head, StoreError> {
        let _writer = self.writer.lock().await;
        let last = self.stream_last().await?;
        self.catch_up(last).await?;
        let head = self.head();
        continues(head, &records)?;
        // Each key's batch is one message again, with its key; the records between are sent
        // in messages as large as the server takes.
        let starts: HashMap<u64, (String, u64)> = keys
            .into_iter()
            .map(|(key, first, last)| (first, (key, last)))
            .collect();
        let limit = self.message_limit() - 1024;
        let mut i = 0;
        while i < records.len() {
            let seq = records[i].0;
            let (key, end) = match starts.get(&seq) {
                Some((key, last)) => {
                    let n = usize::try_from(last - seq + 1).unwrap_or(usize::MAX);
                    if i + n > records.len() {
                        return Err(self.backend(
                            "cannot import",
                            &format!("the batch of key {key:?} ({seq}–{last}) is not all there"),
                        ));
                    }
                    (Some(key.as_str()), i + n)
                }
                None => {
                    let mut end = i;
                    let mut size = 0;
                    while end < records.len()
                        && (end == i || !starts.contains_key(&records[end].0))
                        && (end == i || size + records[end].1.len() + 4 <= limit)
                    {
                        size += records[end].1.len() + 4;
                        end += 1;
                    }
                    (None, end)
                }
            };
            let payload = encode_batch(key, &records[i..end]);
            self.publish_batch(payload, records[end - 1].0).await?;
            i = end;
        }
        Ok(self.head())
    }

    /// Publishes a batch message (its last event `last_seq`) after the last one applied here,
    /// and applies it. A cluster still placing a new stream, or electing a leader, answers
    /// "no stream" or not at all for a moment: the batch is sent again (the expected-sequence
    /// header lets only one copy land) until it lands or `APPEND_PATIENCE` runs out.
    async fn publish_batch(&self, payload: Vec<u8>, last_seq: u64) -> Result<(), StoreError> {
        let began = std::time::Instant::now();
        loop {
            let stream_last = self.shared.lock().stream_last;
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(
                async_nats::header::NATS_EXPECTED_LAST_SEQUENCE,
                stream_last.to_string().as_str(),
            );
            let ack = match self
                .context
                .publish_with_headers(
                    subject(&self.address.stream),
                    headers,
                    Bytes::from(payload.clone()),
                )
                .await
            {
                Ok(future) => future.await,
                Err(e) => Err(e),
            };
            match ack {
                Ok(ack) => {
                    return self
                        .shared
                        .apply(ack.sequence, &payload)
                        .map_err(|e| self.backend("the stream is not an event log", &e))
                }
                Err(e) if passing(e.kind()) && began.elapsed() < APPEND_PATIENCE => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    // It may have landed after all: then the stream holds it next.
                    if let Ok(last) = self.stream_last().await {
                        if last > stream_last {
                            self.catch_up(last).await?;
                            return if self.head().seq >= last_seq {
                                Ok(())
                            } else {
                                Err(self.backend(
                                    "cannot import",
                                    &"another writer appended to the stream meanwhile",
                                ))
                            };
                        }
                    }
                }
                Err(e) => return Err(self.backend("cannot import", &e)),
            }
        }
    }
}

/// Whether creating or finding the stream failed the way a cluster that is still forming fails.
fn forming(e: &jetstream::context::CreateStreamError) -> bool {
    use jetstream::context::CreateStreamErrorKind as K;
    match e.kind() {
        K::TimedOut | K::JetStreamUnavailable => true,
        K::JetStream(_) => {
            let text = e.to_string().to_lowercase();
            [
                "insufficient resources",
                "no suitable peers",
                "unavailable",
                "timed out",
            ]
            .iter()
            .any(|t| text.contains(t))
        }
        _ => false,
    }
}

/// Whether a publish failed in a way that passes: a cluster placing a stream or electing a
/// leader ("no stream" for a moment), or a server going away. The batch may have landed.
fn passing(kind: PublishErrorKind) -> bool {
    matches!(
        kind,
        PublishErrorKind::StreamNotFound
            | PublishErrorKind::TimedOut
            | PublishErrorKind::BrokenPipe
    )
}

/// A leader lease on a store's stream: one holder at a time, in the JetStream key-value bucket
/// `{STREAM}_LEADER` (its entries expire `ttl` after their last write; the holder renews by
/// compare-and-set on the revision it holds). A holder that cannot renew has lost it; another
/// takes it once the entry expired. Writes of a deposed holder are refused by the store's
/// expected-sequence check (its view is behind the new leader's appends).
pub struct LeaderLease {
    kv: jetstream::kv::Store,
    holder: String,
    revision: Option<u64>,
    ttl: Duration,
    label: String,
}

/// The lease's key in its bucket.
const LEASE_KEY: &str = "leader";

impl JetStreamEventStore {
    /// The leader lease of this store's stream for `holder` (a name unique to the process),
    /// lasting `ttl` unless renewed. Not taken yet: see [`LeaderLease::try_acquire`].
    ///
    /// # Errors
    /// The bucket cannot be opened or created.
    pub async fn leader_lease(
        &self,
        holder: &str,
        ttl: Duration,
        replicas: usize,
    ) -> Result<LeaderLease, StoreError> {
        let bucket = format!("{}_LEADER", self.address.stream);
        let kv = match self.context.get_key_value(&bucket).await {
            Ok(kv) => kv,
            Err(_) => self
                .context
                .create_key_value(jetstream::kv::Config {
                    bucket: bucket.clone(),
                    history: 1,
                    max_age: ttl,
                    num_replicas: replicas.max(1),
                    storage: stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| self.backend("cannot open the leader lease", &e))?,
        };
        Ok(LeaderLease {
            kv,
            holder: holder.to_string(),
            revision: None,
            ttl,
            label: self.address.label(),
        })
    }
}

impl LeaderLease {
    fn backend(&self, what: &str, e: &dyn std::fmt::Display) -> StoreError {
        StoreError::Backend {
            path: PathBuf::from(&self.label),
            message: format!("{what}: {e}"),
        }
    }

    /// Takes the lease when nobody holds it (or this holder does): `Ok(None)`; else
    /// `Ok(Some(holder))`, who holds it.
    ///
    /// # Errors
    /// The bucket cannot be read.
    pub async fn try_acquire(&mut self) -> Result<Option<String>, StoreError> {
        match self
            .kv
            .create(LEASE_KEY, Bytes::from(self.holder.clone()))
            .await
        {
            Ok(revision) => {
                self.revision = Some(revision);
                Ok(None)
            }
            Err(_) => {
                let entry = self
                    .kv
                    .entry(LEASE_KEY)
                    .await
                    .map_err(|e| self.backend("cannot read the leader lease", &e))?;
                match entry {
                    Some(e) if e.value.as_ref() == self.holder.as_bytes() => {
                        self.revision = Some(e.revision);
                        Ok(None)
                    }
                    Some(e) if e.operation == jetstream::kv::Operation::Put => {
                        Ok(Some(String::from_utf8_lossy(&e.value).into_owned()))
                    }
                    // Deleted or expired between the two: the next try takes it.
                    _ => Ok(Some("nobody (just released)".into())),
                }
            }
        }
    }

    /// Renews the lease held: `false` when it is lost (another holder took it, or it expired
    /// and was taken).
    ///
    /// # Errors
    /// The server cannot be reached (the lease may still be held; it lapses after `ttl`).
    pub async fn renew(&mut self) -> Result<bool, StoreError> {
        let Some(revision) = self.revision else {
            return Ok(false);
        };
        match self
            .kv
            .update(LEASE_KEY, Bytes::from(self.holder.clone()), revision)
            .await
        {
            Ok(revision) => {
                self.revision = Some(revision);
                Ok(true)
            }
            Err(e) if e.kind() == jetstream::kv::UpdateErrorKind::WrongLastRevision => {
                self.revision = None;
                Ok(false)
            }
            Err(e) => Err(self.backend("cannot renew the leader lease", &e)),
        }
    }

    /// Gives the lease up (a holder that stops): another takes it at once.
    pub async fn release(&mut self) {
        if let Some(revision) = self.revision.take() {
            let _ = self
                .kv
                .delete_expect_revision(LEASE_KEY, Some(revision))
                .await;
        }
    }

    /// How long the lease lasts unless renewed.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// This holder's name.
    pub fn holder(&self) -> &str {
        &self.holder
    }
}

fn subject(stream: &str) -> String {
    format!("{stream}.events")
}

impl EventStore for JetStreamEventStore {
    fn append(&self, request: AppendRequest) -> StoreFuture<'_, AppendAck> {
        Box::pin(self.append_now(request))
    }

    fn head(&self) -> Head {
        self.shared.lock().head.unwrap_or(Head {
            seq: 0,
            hash: GENESIS_HASH,
        })
    }

    fn read_raw(&self, from: u64, limit: usize) -> Result<Vec<RawRecord>, StoreError> {
        let m = self.shared.lock();
        let start = usize::try_from(from.max(1) - 1).unwrap_or(usize::MAX);
        Ok(m.records
            .iter()
            .enumerate()
            .skip(start)
            .take(limit)
            .map(|(i, bytes)| (i as u64 + 1, bytes.clone()))
            .collect())
    }

    fn durable_watch(&self) -> watch::Receiver<u64> {
        self.shared.durable.subscribe()
    }

    fn keys(&self) -> Result<Vec<(String, u64, u64)>, StoreError> {
        Ok(super::in_log_order(
            self.shared
                .lock()
                .keys
                .iter()
                .map(|(k, (f, l))| (k.clone(), *f, *l)),
        ))
    }

    fn import(
        &self,
        records: Vec<RawRecord>,
        keys: Vec<(String, u64, u64)>,
    ) -> StoreFuture<'_, Head> {
        Box::pin(self.import_now(records, keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_a_server_and_a_stream() {
        let a = NatsAddress::parse("nats://127.0.0.1:4222/EVENTS").unwrap();
        assert_eq!(a.server, "nats://127.0.0.1:4222");
        assert_eq!(a.stream, "EVENTS");
        assert_eq!(a.label(), "nats://127.0.0.1:4222/EVENTS");
        let c = NatsAddress::parse("nats://h1:1,h2:2/S").unwrap();
        assert_eq!(c.server, "nats://h1:1,nats://h2:2");
        assert_eq!(c.label(), "nats://h1:1,h2:2/S");
        for bad in ["sled:/x", "nats://h:1", "nats:///S", "nats://h:1/a.b"] {
            assert!(NatsAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_batch_message_round_trips_and_a_damaged_one_is_named() {
        let records: Vec<RawRecord> = vec![(1, vec![1, 2, 3]), (2, vec![]), (3, vec![9; 300])];
        let bytes = encode_batch(Some("k"), &records);
        let (key, back) = decode_batch(&bytes).unwrap();
        assert_eq!(key.as_deref(), Some("k"));
        assert_eq!(back, vec![vec![1, 2, 3], vec![], vec![9; 300]]);
        assert_eq!(
            decode_batch(&bytes[..bytes.len() - 1]).unwrap_err(),
            "truncated"
        );
        assert!(decode_batch(b"XXXX").is_err());
        let (none, _) = decode_batch(&encode_batch(None, &records)).unwrap();
        assert_eq!(none, None);
    }
}
