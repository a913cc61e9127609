//! The paper engine: the candidate and its baseline trade the same bar feed side by side, one
//! bar at a time, and the paper venue fills them as the backtest does (next open, fees and
//! slippage), or later and at its own fees when so set ([`PaperVenue`]). The feed is recorded bars on a [`Clock`] (offline) or a live exchange
//! websocket (closed candles only).

use std::future::Future;

use stratagem_events::StageMetrics;

use super::backtest::{self, CostModel};
use super::clock::Clock;
use super::feed::{FeedError, KlineFeed};
use crate::validator::sandbox::runtime::{
    Deadline, HostOrder, LoadedStrategy, RiskLimits, Sandbox, SandboxBar, SandboxError,
    SandboxLimits, SandboxTrap,
};

/// A source of closed bars.
pub trait BarFeed {
    /// The next bar; `Ok(None)` when the feed ends.
    fn next_bar(&mut self) -> impl Future<Output = Result<Option<SandboxBar>, FeedError>>;
}

impl BarFeed for KlineFeed {
    async fn next_bar(&mut self) -> Result<Option<SandboxBar>, FeedError> {
        self.next_closed().await
    }
}

/// Recorded bars released as the clock reaches each bar's close.
pub struct RecordedFeed<'a, C: Clock> {
    bars: &'a [SandboxBar],
    next: usize,
    clock: &'a C,
}

impl<'a, C: Clock> RecordedFeed<'a, C> {
    /// A replay of `bars` on `clock`.
    pub fn new(bars: &'a [SandboxBar], clock: &'a C) -> Self {
        RecordedFeed {
            bars,
            next: 0,
            clock,
        }
    }
}

impl<C: Clock> BarFeed for RecordedFeed<'_, C> {
    async fn next_bar(&mut self) -> Result<Option<SandboxBar>, FeedError> {
        let Some(bar) = self.bars.get(self.next).copied() else {
            return Ok(None);
        };
        self.clock.wait_until(bar.timestamp).await;
        self.next += 1;
        Ok(Some(bar))
    }
}

/// What a paper session produced.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperSession {
    /// The bars traded (after the warm-up).
    pub bars: Vec<SandboxBar>,
    /// The candidate's metrics.
    pub candidate: StageMetrics,
    /// Orders of the candidate that filled (the evidence a verdict needs).
    pub fills: usize,
    /// Those fills.
    pub filled: Vec<backtest::Fill>,
    /// The candidate's equity at the last bar's close (the capital before any bar).
    pub equity: f64,
    /// The baseline's equity at the same close.
    pub baseline_equity: f64,
    /// The baseline's metrics on the same bars.
    pub baseline: StageMetrics,
    /// A trap that stopped the candidate.
    pub trap: Option<SandboxTrap>,
    /// The candidate's return over each bar (close to close; the first from the capital).
    pub returns: Vec<f64>,
    /// The baseline's over the same bars.
    pub baseline_returns: Vec<f64>,
}

impl PaperSession {
    /// The test of the candidate's Sharpe beating the baseline's by `improvement` × |its
    /// Sharpe|, on the session's paired per-bar returns.
    pub fn sharpe_test(&self, improvement: f64) -> Option<super::metrics::SharpeTest> {
        super::metrics::sharpe_test(&self.returns, &self.baseline_returns, improvement)
    }
}

/// Per-step returns of an equity curve.
pub(crate) fn returns(equity: &[(i64, f64)]) -> Vec<f64> {
    equity
        .windows(2)
        .map(|w| {
            if w[0].1 > 0.0 {
                w[1].1 / w[0].1 - 1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// Why a paper session failed.
#[derive(Debug, thiserror::Error)]
pub enum PaperError {
    /// The sandbox could not start a strategy.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The feed broke.
    #[error(transparent)]
    Feed(#[from] FeedError),
}

/// The paper venue: how it fills the orders of WARM and LIMITED.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaperVenue {
    /// Its fees and slippage.
    pub costs: CostModel,
    /// Bars after the next open that an order fills (0: at the next open, as the backtest).
    pub fill_delay_bars: usize,
}

impl PaperVenue {
    /// `orders` as the venue fills them: each `fill_delay_bars` after the next open.
    pub fn delayed(&self, orders: &[HostOrder]) -> Vec<HostOrder> {
        orders
            .iter()
            .map(|o| HostOrder {
                bar: o.bar + self.fill_delay_bars,
                ..*o
            })
            .collect()
    }

    /// The paper venue of the stage settings `s`.
    pub fn of(s: &super::runner::StageSettings) -> PaperVenue {
        PaperVenue {
            costs: s.paper_costs,
            fill_delay_bars: s.paper_fill_delay_bars,
        }
    }
}

/// Paper-trades up to `bars_wanted` bars of `feed`: the candidate and (when given) the champion
/// step on every bar; without a champion the baseline is buy-and-hold on the same bars. Both
/// first see `warmup` (no trading). The candidate's orders are filtered by the risk states
/// `risk_states` of its run.
///
/// # Errors
/// [`PaperError`] when a strategy cannot start or the feed breaks.
#[allow(clippy::too_many_arguments)]
pub async fn trade(
    sandbox: &Sandbox,
    candidate: &LoadedStrategy,
    champion: Option<&LoadedStrategy>,
    warmup: &[SandboxBar],
    feed: &mut impl BarFeed,
    bars_wanted: usize,
    capital: f64,
    venue: PaperVenue,
    bars_per_year: f64,
    risk_states: &[stratagem_events::projection::RiskMark],
) -> Result<PaperSession, PaperError> {
    let costs = venue.costs;
    let limits = SandboxLimits::default();
    let risk = RiskLimits::with_account(capital, costs);
    let mut runs = vec![sandbox.start(candidate, &limits, &risk, Deadline::PerBar)?];
    if let Some(champion) = champion {
        runs.push(sandbox.start(champion, &limits, &risk, Deadline::PerBar)?);
    }
    for bar in warmup {
        for run in &mut runs {
            let _ = run.step(bar);
        }
    }
    for run in &mut runs {
        run.open_account();
    }
    let mut orders: Vec<Vec<HostOrder>> = vec![Vec::new(); runs.len()];
    let mut bars = Vec::new();
    while bars.len() < bars_wanted {
        let Some(bar) = feed.next_bar().await? else {
            break;
        };
        let index = bars.len();
        for (run, placed) in runs.iter_mut().zip(orders.iter_mut()) {
            if let Ok(new) = run.step(&bar) {
                placed.extend(new.into_iter().map(|o| HostOrder { bar: index, ..o }));
            }
        }
        bars.push(bar);
    }
    let trap = runs.remove(0).finish().trap;
    // The candidate trades under the account's risk states (the baseline is a yardstick).
    let kept = super::risk::filter(&orders[0], &bars, risk_states);
    // The venue fills an order `fill_delay_bars` after the next open (the champion's too: the
    // two are judged on one venue).
    let late = |orders: &[HostOrder]| venue.delayed(orders);
    let candidate = backtest::simulate(&bars, &late(&kept), capital, costs, bars_per_year, 1);
    let baseline = match orders.get(1) {
        Some(champion_orders) => backtest::simulate(
            &bars,
            &late(champion_orders),
            capital,
            costs,
            bars_per_year,
            1,
        ),
        None => backtest::buy_and_hold(&bars, capital, costs, bars_per_year),
    };
    let last = |b: &backtest::Backtest| b.equity.last().map_or(capital, |(_, e)| *e);
    Ok(PaperSession {
        returns: returns(&candidate.equity),
        baseline_returns: returns(&baseline.equity),
        bars,
        fills: candidate.fills.len(),
        equity: last(&candidate),
        baseline_equity: last(&baseline),
        candidate: candidate.metrics,
        filled: candidate.fills,
        baseline: baseline.metrics,
        trap,
    })
}
