//! The event-sourced core of stratagem: the event vocabulary, the event store, the hash chain,
//! projections rebuilt by replay, and the audit trail.
//!
//! Every state change of the pipeline is an [`Event`] appended to one log before anything acts
//! on it. Everything else — the seed's `autonomy_state`, the read models, the JSONL audit trail —
//! is a projection of that log and can be rebuilt from it byte for byte.
//!
//! ```
//! use stratagem_events::{ActorStarted, AppendRequest, EventStore, MemoryEventStore, AutonomyState};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryEventStore::new();
//! let ack = store.append(AppendRequest::one(ActorStarted { actor: "scorer".into() })).await?;
//! assert_eq!(ack.first_seq, 1);
//! let state = AutonomyState::replay(&store)?;
//! assert_eq!(state.opportunities_discovered, 0);
//! # Ok::<(), stratagem_events::StoreError>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
pub mod durable;
pub mod error;
pub mod event;
pub mod projection;
pub mod record;
pub mod store;
pub mod text;

pub use error::{DecodeError, EncodeError, StoreError};
pub use event::*;
pub use projection::{AutonomyState, Projections};
pub use record::{Hash, RecordedEvent};
pub use store::{
    copy, iter_from, AppendAck, AppendRequest, CopyReport, EventStore, Expected, Head,
    JetStreamEventStore, JobQueue, LeaderLease, MemoryEventStore, NatsAddress, SledEventStore,
    Subscription, TakenJob,
};
