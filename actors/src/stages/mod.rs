//! The stages a strategy is promoted through, and what measures them: [`metrics`] (pure) and
//! the backtest engine ([`backtest`]).

pub mod backtest;
pub mod clock;
pub mod feed;
pub mod legs;
pub mod metrics;
pub mod monitor;
pub mod paper;
pub mod parity;
pub mod realclock;
pub mod risk;
pub mod runner;
