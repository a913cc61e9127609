//! The supervised actors of the stratagem pipeline and the work each does.
//!
//! Sources and the scorer (`discovery`), and the generator, validator, stage runners and monitor
//! (`pipeline`), each a ractor actor under a supervisor that restarts it with backoff and an
//! intensity limit (`supervisor`); beside them the work each does.
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

pub mod bars;
pub mod cycle;
pub mod discovery;
pub mod execution;
pub mod extract;
pub mod generator;
pub mod http_policy;
pub mod market;
pub mod model_reader;
pub mod needs;
pub mod notify;
pub mod pipeline;
pub mod root;
pub mod scorer;
pub mod setting;
pub mod sources;
pub mod stages;
pub mod supervisor;
pub mod validator;
pub mod workflow;
