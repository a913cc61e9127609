//! Typed errors of the events crate. Each names what failed: the sequence number, the path.

use std::path::PathBuf;

/// A stored event could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Written by a newer stratagem with a schema this build does not know.
    #[error("schema version {version} is newer than this build supports ({supported}); upgrade stratagem to read this log")]
    UnknownSchemaVersion {
        /// The version found.
        version: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// The envelope names a kind this build does not know.
    #[error("unknown event kind {0:?}")]
    UnknownKind(String),
    /// The payload bytes do not decode as the kind's payload.
    #[error("payload does not decode: {0}")]
    Payload(String),
    /// The envelope itself is malformed.
    #[error("malformed record: {0}")]
    Record(String),
}

/// An event could not be encoded for storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Over the payload size limit.
    #[error("{kind} payload is {bytes} bytes, over the limit of {limit}")]
    TooLarge {
        /// Event kind.
        kind: &'static str,
        /// Its encoded size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The encoder failed.
    #[error("{kind} payload does not encode: {message}")]
    Failed {
        /// Event kind.
        kind: &'static str,
        /// Why.
        message: String,
    },
}

/// An operation on the event store failed. Nothing already acknowledged is lost by any of these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Optimistic concurrency: the log moved on since the caller read it.
    #[error("expected the next sequence number to be {expected}, but it is {actual}: the log changed since it was read")]
    Conflict {
        /// What the caller expected.
        expected: u64,
        /// What it is.
        actual: u64,
    },
    /// An append with no events.
    #[error("an append needs at least one event")]
    EmptyBatch,
    /// An event of the batch cannot be stored; nothing of the batch was.
    #[error("cannot append: {0}")]
    Encode(#[from] EncodeError),
    /// A stored event does not decode.
    #[error("event {seq} is unreadable: {source}")]
    Corrupt {
        /// Its sequence number.
        seq: u64,
        /// What is wrong with it.
        #[source]
        source: DecodeError,
    },
    /// Another process holds the data directory.
    #[error("data directory {path} is in use by another stratagem process; stop it first or choose another --data-dir")]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// The store holds fewer events than were acknowledged: it lost its tail.
    #[error("event store {path} is truncated or corrupted: it ends at sequence {store_head}, but events up to {acknowledged_head} were acknowledged; refusing to write to it (restore it from a backup)")]
    Truncated {
        /// The store.
        path: PathBuf,
        /// Last sequence found in the store.
        store_head: u64,
        /// Last sequence ever acknowledged (from the head marker).
        acknowledged_head: u64,
    },
    /// The store could not be opened at all.
    #[error("cannot open event store {path}: {message}")]
    Open {
        /// The store.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A filesystem operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The storage engine reported an error.
    #[error("event store {path}: {message}")]
    Backend {
        /// The store.
        path: PathBuf,
        /// The engine's message.
        message: String,
    },
}

/// Maps an I/O error on `path` to [`StoreError::Io`].
pub(crate) fn io_err(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
}
