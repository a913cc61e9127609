//! The durable [`EventStore`] on sled 0.34.7.
//!
//! Layout of the store directory:
//! - `stratagem.lock`: held (flock) for as long as a process has the store open, so a second
//!   process gets [`StoreError::Locked`] instead of sled's raw lock error;
//! - `db/`: the sled database. Tree `events` maps the big-endian sequence number to the stored
//!   record; tree `idempotency` maps an idempotency key to the original batch's sequence range;
//! - `acknowledged-head`: the last sequence number and hash acknowledged to a caller, rewritten
//!   after each durable flush, atomically and durably ([`crate::durable::replace`]: synced,
//!   renamed, the directory synced). On open, a store that ends before that
//!   head has lost acknowledged events: it is refused with [`StoreError::Truncated`] instead of
//!   silently continuing from an earlier point.

use std::fs::{File, OpenOptions};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use tokio::sync::watch;

use super::{
    continues, decode_ack_range, encode_ack_range, parse_stored, seal_batch, AppendAck,
    AppendRequest, EventStore, Expected, Head, RawRecord, StoreFuture,
};
use crate::error::{DecodeError, StoreError};
use crate::record::{hex, Hash, RecordedEvent};

pub(crate) const HEAD_MARKER: &str = "acknowledged-head";
pub(crate) const LOCK_FILE: &str = "stratagem.lock";

struct Writer {
    head: Head,
}

/// The durable event store.
pub struct SledEventStore {
    path: PathBuf,
    db: sled::Db,
    events: sled::Tree,
    idempotency: sled::Tree,
    writer: Mutex<Writer>,
    /// Serialises rewrites of the head marker so an older head never overwrites a newer one.
    marker: Mutex<u64>,
    /// One flush at a time, holding the head known durable. sled 0.34.7 can hang
    /// when several threads flush one database at once (they all wait in `make_stable` for a
    /// stability interval nobody advances); serialising also gives group commit: an append whose
    /// batch was covered by a flush that began after it was written needs no flush of its own.
    flushed: tokio::sync::Mutex<Head>,
    durable: watch::Sender<u64>,
    _lock: File,
}

impl std::fmt::Debug for SledEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledEventStore")
            .field("path", &self.path)
            .field("head", &self.head().seq)
            .finish()
    }
}

/// Removes the snapshot files sled 0.34.7 was still writing when its process died.
///
/// sled writes a snapshot (its page table, a cache of the log) to `snap.<lsn>.generating`,
/// syncs it, then renames it to `snap.<lsn>` and only then removes older ones. On open it takes
/// the name that sorts last among all `snap.*` files — and `snap.<lsn>.generating` sorts after
/// `snap.<lsn>` — so a process killed mid-write leaves a file that makes every later open fail
/// with `Corruption` (spacejam/sled#1527). Such a file is never the only copy of anything: the
/// previous snapshot is still there (or none was ever finished) and the log segments hold every
/// write, from which sled rebuilds what the unfinished snapshot would have said. Called with
/// the store's lock held, so no live writer can own the file.
fn discard_unfinished_snapshots(db_path: &Path) -> Result<(), StoreError> {
    let Ok(entries) = std::fs::read_dir(db_path) else {
        return Ok(()); // a new store: nothing yet
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            let file = entry.path();
            std::fs::remove_file(&file).map_err(|source| StoreError::Io {
                action: "cannot remove an unfinished snapshot",
                path: file.clone(),
                source,
            })?;
            tracing::warn!(file = %file.display(), "removed a snapshot sled was writing when its process died");
        }
    }
    Ok(())
}

impl SledEventStore {
    /// Opens (creating if needed) the store in directory `path`.
    ///
    /// # Errors
    /// [`StoreError::Locked`] when another process has it open, [`StoreError::Io`] when the
    /// directory cannot be created or written, [`StoreError::Open`] when sled cannot open its
    /// files (including a panic inside sled on a damaged file), [`StoreError::Corrupt`] when the
    /// last record is unreadable, [`StoreError::Truncated`] when acknowledged events are missing.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path).map_err(|source| StoreError::Io {
            action: "cannot create directory",
            path: path.clone(),
            source,
        })?;
        let lock_path = path.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StoreError::Io {
                action: "cannot create lock file",
                path: lock_path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(StoreError::Locked { path }),
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StoreError::Io {
                    action: "cannot lock",
                    path: lock_path,
                    source,
                })
            }
        }
        let db_path = path.join("db");
        discard_unfinished_snapshots(&db_path)?;
        let opened = catch_unwind(AssertUnwindSafe(|| {
            sled::Config::new().path(&db_path).open()
        }));
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(sled::Error::Corruption { at, .. })) => {
                return Err(StoreError::Open {
                    path: db_path,
                    message: format!("its files are corrupted or cut short (sled: corrupted data at file offset {at:?}); `stratagem audit verify` names the events affected, nothing was written to it"),
                })
            }
            Ok(Err(e)) => {
                return Err(StoreError::Open {
                    path: db_path,
                    message: format!("{e} (`stratagem audit verify` names the damage and how to recover; nothing was written)"),
                })
            }
            Err(_) => {
                return Err(StoreError::Open {
                    path: db_path,
                    message: "the storage engine crashed reading its files: the store is damaged (restore it from a backup)".into(),
                })
            }
        };
        let backend = |e: sled::Error| StoreError::Backend {
            path: db_path.clone(),
            message: e.to_string(),
        };
        let events = db.open_tree("events").map_err(backend)?;
        let idempotency = db.open_tree("idempotency").map_err(backend)?;
        let head = match events.last().map_err(backend)? {
            None => Head::EMPTY,
            Some((key, value)) => {
                let seq = seq_of_key(&key)?;
                let rec = parse_stored(seq, &value)?;
                Head {
                    seq,
                    hash: rec.hash,
                }
            }
        };
        let acknowledged = read_marker(&path).map_err(|e| match e {
            MarkerError::Unreadable(source) => StoreError::Io {
                action: "cannot read",
                path: path.join(HEAD_MARKER),
                source,
            },
            MarkerError::Malformed => StoreError::Open {
                path: path.join(HEAD_MARKER),
                message: "the acknowledged-head marker is damaged; `stratagem audit verify` checks the log without it and says how to recover".into(),
            },
        })?;
        if let Some((ack_seq, ack_hash)) = acknowledged {
            if ack_seq > head.seq {
                return Err(StoreError::Truncated {
                    path,
                    store_head: head.seq,
                    acknowledged_head: ack_seq,
                });
            }
            if let Some(found) = events.get(ack_seq.to_be_bytes()).map_err(backend)? {
                let rec = parse_stored(ack_seq, &found)?;
                if rec.hash != ack_hash {
                    return Err(StoreError::Corrupt {
                        seq: ack_seq,
                        source: DecodeError::Record(format!(
                            "hash {} differs from the acknowledged {}",
                            hex(&rec.hash),
                            hex(&ack_hash)
                        )),
                    });
                }
            }
        }
        let ack_seq = acknowledged.map_or(0, |(seq, _)| seq);
        Ok(SledEventStore {
            durable: watch::Sender::new(head.seq),
            writer: Mutex::new(Writer { head }),
            marker: Mutex::new(ack_seq),
            flushed: tokio::sync::Mutex::new(head),
            path,
            db,
            events,
            idempotency,
            _lock: lock,
        })
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn backend(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Writes the batch (not yet durable). Returns the ack, or the original ack for a used key.
    fn write(&self, request: &AppendRequest) -> Result<AppendAck, StoreError> {
        if request.events.is_empty() {
            return Err(StoreError::EmptyBatch);
        }
        // The writer lock serialises sequence assignment in this process; the lock file keeps
        // other processes out. A poisoned lock means a panic between sealing and writing, which
        // leaves `head` untouched, so it is safe to continue.
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = &request.idempotency_key {
            if let Some(range) = self
                .idempotency
                .get(key.as_bytes())
                .map_err(|e| self.backend(e))?
            {
                let (first_seq, last_seq) = decode_ack_range(&range)
                    .ok_or_else(|| self.backend("malformed idempotency entry"))?;
                return Ok(AppendAck {
                    first_seq,
                    last_seq,
                    deduplicated: true,
                });
            }
        }
        let next = writer.head.seq + 1;
        if let Expected::NextSeq(expected) = request.expected {
            if expected != next {
                return Err(StoreError::Conflict {
                    expected,
                    actual: next,
                });
            }
        }
        let (records, new_head) = seal_batch(next, writer.head.hash, &request.events)?;
        match &request.idempotency_key {
            None => {
                let mut batch = sled::Batch::default();
                for (seq, bytes) in &records {
                    batch.insert(&seq.to_be_bytes(), bytes.as_slice());
                }
                self.events
                    .apply_batch(batch)
                    .map_err(|e| self.backend(e))?;
            }
            Some(key) => {
                let range = encode_ack_range(next, new_head.seq);
                (&self.events, &self.idempotency)
                    .transaction(|(events, idempotency)| {
                        for (seq, bytes) in &records {
                            events.insert(&seq.to_be_bytes(), bytes.as_slice())?;
                        }
                        idempotency.insert(key.as_bytes(), &range)?;
                        Ok::<(), ConflictableTransactionError<()>>(())
                    })
                    .map_err(|e: TransactionError<()>| self.backend(format!("{e:?}")))?;
            }
        }
        writer.head = new_head;
        Ok(AppendAck {
            first_seq: next,
            last_seq: new_head.seq,
            deduplicated: false,
        })
    }

    /// Publishes a durable head: wakes subscribers and rewrites the head marker.
    fn publish_durable(&self, durable: Head) -> Result<(), StoreError> {
        self.durable.send_if_modified(|d| {
            let moved = durable.seq > *d;
            *d = (*d).max(durable.seq);
            moved
        });
        let mut marker = self.marker.lock().unwrap_or_else(|p| p.into_inner());
        if durable.seq <= *marker {
            return Ok(());
        }
        write_marker(&self.path, durable.seq, &durable.hash)?;
        *marker = durable.seq;
        Ok(())
    }
}

impl EventStore for SledEventStore {
    fn append(&self, request: AppendRequest) -> StoreFuture<'_, AppendAck> {
        Box::pin(async move {
            let ack = self.write(&request)?;
            // A deduplicated retry may follow a failed flush, so it waits for durability too.
            let mut flushed = self.flushed.lock().await;
            if flushed.seq < ack.last_seq {
                // Everything written up to now (this head, with its hash) is covered by this flush.
                let covered = self.head();
                self.db.flush_async().await.map_err(|e| self.backend(e))?;
                *flushed = covered;
            }
            let durable = *flushed;
            drop(flushed);
            self.publish_durable(durable)?;
            Ok(ack)
        })
    }

    fn head(&self) -> Head {
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).head
    }

    fn read_raw(&self, from: u64, limit: usize) -> Result<Vec<RawRecord>, StoreError> {
        let mut out = Vec::with_capacity(limit.min(super::READ_CHUNK));
        for item in self.events.range(from.max(1).to_be_bytes()..).take(limit) {
            let (key, value) = item.map_err(|e| self.backend(e))?;
            out.push((seq_of_key(&key)?, value.to_vec()));
        }
        Ok(out)
    }

    fn durable_watch(&self) -> watch::Receiver<u64> {
        self.durable.subscribe()
    }

    fn keys(&self) -> Result<Vec<(String, u64, u64)>, StoreError> {
        let mut keys = Vec::new();
        for item in self.idempotency.iter() {
            let (key, range) = item.map_err(|e| self.backend(e))?;
            let (first, last) = decode_ack_range(&range)
                .ok_or_else(|| self.backend("malformed idempotency entry"))?;
            keys.push((String::from_utf8_lossy(&key).into_owned(), first, last));
        }
        Ok(super::in_log_order(keys))
    }

    fn import(
        &self,
        records: Vec<RawRecord>,
        keys: Vec<(String, u64, u64)>,
    ) -> StoreFuture<'_, Head> {
        Box::pin(async move {
            {
                let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
                let head = continues(writer.head, &records)?;
                (&self.events, &self.idempotency)
                    .transaction(|(events, idempotency)| {
                        for (seq, bytes) in &records {
                            events.insert(&seq.to_be_bytes(), bytes.as_slice())?;
                        }
                        for (key, first, last) in &keys {
                            idempotency.insert(key.as_bytes(), &encode_ack_range(*first, *last))?;
                        }
                        Ok::<(), ConflictableTransactionError<()>>(())
                    })
                    .map_err(|e: TransactionError<()>| self.backend(format!("{e:?}")))?;
                writer.head = head;
            }
            let mut flushed = self.flushed.lock().await;
            let covered = self.head();
            self.db.flush_async().await.map_err(|e| self.backend(e))?;
            *flushed = covered;
            drop(flushed);
            self.publish_durable(covered)?;
            Ok(covered)
        })
    }

    /// Parses straight from sled's buffers (no intermediate copy of each record).
    fn read(&self, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::with_capacity(limit.min(super::READ_CHUNK));
        for item in self.events.range(from.max(1).to_be_bytes()..).take(limit) {
            let (key, value) = item.map_err(|e| self.backend(e))?;
            out.push(parse_stored(seq_of_key(&key)?, &value)?);
        }
        Ok(out)
    }
}

fn seq_of_key(key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| StoreError::Corrupt {
        seq: 0,
        source: DecodeError::Record(format!(
            "a key of {} bytes is not a sequence number",
            key.len()
        )),
    })?;
    Ok(u64::from_be_bytes(bytes))
}

/// Why the marker cannot be used.
pub(crate) enum MarkerError {
    /// The file cannot be read.
    Unreadable(std::io::Error),
    /// It is not a sequence number and a hash.
    Malformed,
}

pub(crate) fn read_marker(dir: &Path) -> Result<Option<(u64, Hash)>, MarkerError> {
    let path = dir.join(HEAD_MARKER);
    let text = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| MarkerError::Malformed)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(MarkerError::Unreadable(source)),
    };
    let malformed = || MarkerError::Malformed;
    let mut parts = text.split_whitespace();
    let seq = parts
        .next()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(malformed)?;
    let hash_hex = parts.next().ok_or_else(malformed)?;
    if hash_hex.len() != 64 {
        return Err(malformed());
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hash_hex.get(2 * i..2 * i + 2).ok_or_else(malformed)?, 16)
            .map_err(|_| malformed())?;
    }
    Ok(Some((seq, hash)))
}

fn write_marker(dir: &Path, seq: u64, hash: &Hash) -> Result<(), StoreError> {
    crate::durable::replace(
        dir,
        HEAD_MARKER,
        format!("{seq} {}\n", hex(hash)).as_bytes(),
    )
}
