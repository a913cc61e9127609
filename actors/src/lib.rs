//! The supervised actors of the stratagem pipeline and the work each does.
//!
//! This crate grows with the pipeline: sources, scorer, generator, validator layers, stage
//! runners, monitor and notifier, each a ractor actor under a root supervisor. What is here now
//! is the supervisor's restart policy, which every actor will run under.
//!
//! ```
//! use std::time::Duration;
//! use stratagem_actors::supervisor::{RestartDecision, RestartPolicy, RestartTracker};
//!
//! let mut tracker = RestartTracker::new(RestartPolicy::default());
//! match tracker.on_failure(Duration::from_secs(10)) {
//!     RestartDecision::Restart { attempt, backoff } => assert_eq!((attempt, backoff), (1, Duration::from_millis(500))),
//!     RestartDecision::GiveUp { .. } => unreachable!(),
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod discovery;
pub mod extract;
pub mod generator;
pub mod market;
pub mod notify;
pub mod scorer;
pub mod sources;
pub mod stages;
pub mod supervisor;
pub mod validator;
