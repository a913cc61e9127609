//! The recorded workflows: what the binary's commands do with the data directory, written
//! ahead to the event log. `src/commands/*` only parse, call these and print.
//!
//! - [`data_dir`]: the `Log` every workflow works on — the event store and its projections,
//!   opened together ([`data_dir::DataDir`]); appending makes the events durable, then brings
//!   the projections up to date.
//! - [`settings`]: one [`settings::Settings`] value every workflow reads its settings from.
//! - [`discover`]: a discovery cycle and the watch; [`generate`], [`validate`], [`stage`],
//!   [`monitor`], [`review`]: one step each, start recorded before the work, end after.
//! - [`run`]: the [`run::Engine`] — the root supervisor over every actor — and one cycle of the
//!   whole pipeline; [`metrics`]: the Prometheus text of the read models.
//!
//! Each returns a [`WorkflowError`]: typed by where it came from, with its context in words.

pub mod audit;
pub mod backtest;
pub mod capital;
pub mod compile;
pub mod console;
pub mod daemon;
pub mod data_dir;
pub mod discover;
pub mod endpoints;
mod error;
pub mod execute;
pub mod generate;
pub mod metrics;
pub mod monitor;
pub mod notifications;
pub mod query;
pub mod read_api;
pub mod remote;
pub mod report;
pub mod review;
pub mod risk;
pub mod run;
pub mod settings;
pub mod sqlite;
pub mod stage;
pub mod submit;
pub mod sweep;
pub mod trace;
pub mod validate;

pub(crate) use error::refuse;
pub use error::{Context, Failure, Result, WorkflowError};
