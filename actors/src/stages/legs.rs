//! Strategies over several series (legs): the series aligned by time, interleaved for the
//! sandbox, and a multi-leg book simulated from the orders.
//!
//! - [`align`] keeps the times every series has a bar at: a time one series has no bar for (an
//!   FX weekend beside a crypto series that trades through it) is not a step, so a strategy
//!   never sees one leg's bar of a time before every leg has closed it.
//! - [`interleave`] lays the aligned bars out for the sandbox: every leg's bar of a time, leg 0
//!   first, before any bar of the next time (bar `i` is of leg `i % legs`, step `i / legs`).
//! - [`simulate_legs`] fills each leg's orders in its own book ([`Book`]: the same fill rules,
//!   fees and slippage per leg as a single series), each with its share of the capital (the
//!   host sizes each leg's orders within it); the portfolio's equity is the legs' summed at
//!   each step, and its metrics are computed on that curve with every leg's round trips. An
//!   order placed at step `t` (whichever leg's bar the strategy was looking at) fills from the
//!   leg's bar of step `t + 1`.

use serde::Serialize;
use stratagem_events::StageMetrics;

use stratagem_events::projection::RiskMark;

use crate::bars::funding::FundingRate;

use super::backtest::{Backtest, CostModel, Fill};
use super::metrics::{self, RunRecord};
use super::paper::{PaperSession, PaperVenue};
use super::runner::StageWindow;
use crate::validator::sandbox::runtime::{
    Deadline, HostOrder, LoadedStrategy, OrderKind, RiskLimits, Sandbox, SandboxBar, SandboxError,
    SandboxLimits, SandboxTrap,
};

/// Series aligned by time.
#[derive(Debug, Clone, PartialEq)]
pub struct Aligned {
    /// Each leg's bars, one per common time, in order.
    pub legs: Vec<Vec<SandboxBar>>,
    /// Bars of each series left out: their time is missing from another series.
    pub dropped: Vec<usize>,
}

impl Aligned {
    /// Steps (common times).
    pub fn steps(&self) -> usize {
        self.legs.first().map_or(0, Vec::len)
    }

    /// The steps `range` of every leg.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Aligned {
        Aligned {
            legs: self
                .legs
                .iter()
                .map(|l| l[range.start.min(l.len())..range.end.min(l.len())].to_vec())
                .collect(),
            dropped: vec![0; self.legs.len()],
        }
    }
}

/// Aligns series by their bars' times: the times all of them have, each series' bar at each.
/// Each series must be in time order (bar files are).
pub fn align(series: &[&[SandboxBar]]) -> Aligned {
    let n = series.len();
    let mut legs: Vec<Vec<SandboxBar>> = vec![Vec::new(); n];
    let mut at = vec![0usize; n];
    if n == 0 {
        return Aligned {
            legs,
            dropped: Vec::new(),
        };
    }
    // The latest of the current times; every series catches up to it.
    while let Some(latest) = (0..n)
        .map(|k| series[k].get(at[k]).map(|b| b.timestamp))
        .collect::<Option<Vec<i64>>>()
        .and_then(|ts| ts.into_iter().max())
    {
        let mut all = true;
        for k in 0..n {
            while series[k].get(at[k]).is_some_and(|b| b.timestamp < latest) {
                at[k] += 1;
            }
            if series[k].get(at[k]).is_none_or(|b| b.timestamp != latest) {
                all = false;
            }
        }
        if all {
            for k in 0..n {
                legs[k].push(series[k][at[k]]);
                at[k] += 1;
            }
        }
    }
    let dropped = (0..n).map(|k| series[k].len() - legs[k].len()).collect();
    Aligned { legs, dropped }
}

/// The aligned bars as the sandbox takes them: every leg's bar of a step, leg 0 first.
pub fn interleave(aligned: &Aligned) -> Vec<SandboxBar> {
    let steps = aligned.steps();
    let mut out = Vec::with_capacity(steps * aligned.legs.len());
    for t in 0..steps {
        for leg in &aligned.legs {
            out.push(leg[t]);
        }
    }
    out
}

/// One fill of a leg.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LegFill {
    /// The leg.
    pub leg: usize,
    /// The fill (its `bar` is the step).
    #[serde(flatten)]
    pub fill: Fill,
}

/// The result of a multi-leg backtest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegsBacktest {
    /// Each leg's own book.
    pub legs: Vec<Backtest>,
    /// The portfolio's equity: the start, then each step's close, the legs' summed.
    pub equity: Vec<(i64, f64)>,
    /// Every leg's fills, in time order (leg 0 first within a step).
    pub fills: Vec<LegFill>,
    /// The portfolio's metrics.
    pub metrics: StageMetrics,
    /// The capital of each leg.
    pub capital_per_leg: f64,
}

/// Each leg's orders, with their bar turned into the step they were placed at.
pub fn orders_by_leg(orders: &[HostOrder], legs: usize) -> Vec<Vec<HostOrder>> {
    let mut out: Vec<Vec<HostOrder>> = vec![Vec::new(); legs];
    for o in orders {
        if let Some(v) = out.get_mut(o.leg) {
            v.push(HostOrder {
                bar: o.bar / legs.max(1),
                ..*o
            });
        }
    }
    out
}

/// Simulates a multi-leg strategy's `orders` (placed during the interleaved run, `steps` steps
/// of it) over the aligned bars, from `capital` split evenly over the legs.
pub fn simulate_legs(
    aligned: &Aligned,
    orders: &[HostOrder],
    steps: usize,
    capital: f64,
    costs: CostModel,
    bars_per_year: f64,
    trials: u64,
) -> LegsBacktest {
    simulate_by_leg(
        aligned,
        &orders_by_leg(orders, aligned.legs.len().max(1)),
        steps,
        capital,
        costs,
        bars_per_year,
        trials,
        &[],
    )
}

/// As [`simulate_legs`], the orders given by leg (each `bar` a step: [`orders_by_leg`]), each
/// leg with a funding schedule in `funding` (by leg; a leg without one — a spot leg — pays
/// none) paying it in its book.
#[allow(clippy::too_many_arguments)]
pub fn simulate_by_leg(
    aligned: &Aligned,
    by_leg: &[Vec<HostOrder>],
    steps: usize,
    capital: f64,
    costs: CostModel,
    bars_per_year: f64,
    trials: u64,
    funding: &[Vec<crate::bars::funding::FundingRate>],
) -> LegsBacktest {
    let n = aligned.legs.len().max(1);
    let capital_per_leg = capital / n as f64;
    let legs: Vec<Backtest> = aligned
        .legs
        .iter()
        .zip(by_leg)
        .enumerate()
        .map(|(k, (bars, orders))| {
            super::backtest::simulate_with_funding(
                &bars[..steps.min(bars.len())],
                orders,
                capital_per_leg,
                costs,
                bars_per_year,
                trials,
                funding.get(k).cloned().unwrap_or_default(),
            )
        })
        .collect();
    let equity = summed(&legs);
    let mut fills: Vec<LegFill> = legs
        .iter()
        .enumerate()
        .flat_map(|(leg, b)| b.fills.iter().map(move |f| LegFill { leg, fill: *f }))
        .collect();
    fills.sort_by_key(|f| (f.fill.bar, f.leg));
    let curve: Vec<f64> = equity.iter().map(|(_, e)| *e).collect();
    let pnls: Vec<f64> = legs
        .iter()
        .flat_map(|b| b.trades.iter().map(|t| t.pnl))
        .collect();
    let in_market = legs
        .iter()
        .map(|b| (b.metrics.exposure * b.metrics.bars as f64).round() as u64)
        .max()
        .unwrap_or(0);
    let notional: f64 = fills
        .iter()
        .map(|f| (f.fill.quantity * f.fill.price).abs())
        .sum();
    let metrics = metrics::compute(&RunRecord {
        equity: &curve,
        trades: &pnls,
        bars_in_market: in_market,
        traded_notional: notional,
        bars_per_year,
        trials,
    });
    LegsBacktest {
        legs,
        equity,
        fills,
        metrics,
        capital_per_leg,
    }
}

/// The legs' equity summed point by point (a leg stopped by ruin keeps its last mark).
fn summed(legs: &[Backtest]) -> Vec<(i64, f64)> {
    let points = legs.iter().map(|b| b.equity.len()).max().unwrap_or(0);
    (0..points)
        .map(|j| {
            let t = legs
                .iter()
                .find_map(|b| b.equity.get(j).map(|(t, _)| *t))
                .unwrap_or_default();
            let e = legs
                .iter()
                .map(|b| b.equity.get(j).or(b.equity.last()).map_or(0.0, |(_, e)| *e))
                .sum();
            (t, e)
        })
        .collect()
}

impl LegsBacktest {
    /// The portfolio as one backtest (its summed equity, every leg's fills and round trips, its
    /// metrics), for the tear sheet.
    pub fn portfolio(&self) -> Backtest {
        let mut trades: Vec<_> = self.legs.iter().flat_map(|b| b.trades.clone()).collect();
        trades.sort_by_key(|t| (t.entry_bar, t.exit_bar));
        Backtest {
            equity: self.equity.clone(),
            fills: self.fills.iter().map(|f| f.fill).collect(),
            trades,
            metrics: self.metrics.clone(),
            liquidated: self.legs.iter().find_map(|b| b.liquidated),
            funding: self.legs.iter().flat_map(|b| b.funding.clone()).collect(),
        }
    }
}

/// One leg of a multi-leg book, summed up: what the trades CSV's rows of the leg add to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LegSummary {
    /// Fills of the leg.
    pub fills: usize,
    /// Its closed round trips.
    pub trades: usize,
    /// Fees it paid.
    pub fees: f64,
    /// Funding it paid (+) or received (−).
    pub funding_paid: f64,
    /// Funding payments it made or received.
    pub funding_payments: usize,
    /// Its equity at the end (its share of the capital at the start).
    pub final_equity: f64,
    /// Its return on its share.
    pub total_return: f64,
}

/// A multi-leg book's exposure at each step's close, as fractions of the portfolio's equity
/// then: **net** = Σ position × close over the legs (signed: a hedged pair is near 0), **gross**
/// = Σ |position × close|.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookExposure {
    /// (timestamp, net, gross) at each step's close.
    #[serde(skip)]
    pub curve: Vec<(i64, f64, f64)>,
    /// Mean net exposure.
    pub net_mean: f64,
    /// Largest |net exposure|.
    pub net_max_abs: f64,
    /// Mean gross exposure.
    pub gross_mean: f64,
    /// Largest gross exposure.
    pub gross_max: f64,
}

impl LegsBacktest {
    /// Each leg summed up.
    pub fn summaries(&self) -> Vec<LegSummary> {
        self.legs
            .iter()
            .map(|b| LegSummary {
                fills: b.fills.len(),
                trades: b.trades.len(),
                fees: b.fills.iter().map(|f| f.fee).sum(),
                funding_paid: b.funding.iter().map(|f| f.paid).sum(),
                funding_payments: b.funding.len(),
                final_equity: b.equity.last().map_or(self.capital_per_leg, |(_, e)| *e),
                total_return: b.metrics.total_return,
            })
            .collect()
    }

    /// The book's net and gross exposure at each step it ran, on the `aligned` bars it ran
    /// over: each leg's position after its last fill at or before the step, at the step's
    /// close, over the portfolio's equity then.
    pub fn exposure(&self, aligned: &Aligned) -> BookExposure {
        let steps = self.equity.len().saturating_sub(1).min(aligned.steps());
        let mut next = vec![0usize; self.legs.len()];
        let mut position = vec![0.0f64; self.legs.len()];
        let mut curve = Vec::with_capacity(steps);
        for t in 0..steps {
            let (mut net, mut gross) = (0.0, 0.0);
            for (k, book) in self.legs.iter().enumerate() {
                while let Some(f) = book.fills.get(next[k]).filter(|f| f.bar <= t) {
                    position[k] = f.position;
                    next[k] += 1;
                }
                let notional = position[k] * aligned.legs[k][t].close;
                net += notional;
                gross += notional.abs();
            }
            let equity = self.equity[t + 1].1;
            let (net, gross) = if equity > 0.0 {
                (net / equity, gross / equity)
            } else {
                (0.0, 0.0)
            };
            curve.push((aligned.legs[0][t].timestamp, net, gross));
        }
        let n = curve.len().max(1) as f64;
        BookExposure {
            net_mean: curve.iter().map(|c| c.1).sum::<f64>() / n,
            net_max_abs: curve.iter().map(|c| c.1.abs()).fold(0.0, f64::max),
            gross_mean: curve.iter().map(|c| c.2).sum::<f64>() / n,
            gross_max: curve.iter().map(|c| c.2).fold(0.0, f64::max),
            curve,
        }
    }
}

/// The baseline of a multi-leg strategy: each leg bought and held with its share of the
/// capital (a perpetual leg paying its `funding`, by leg), the legs' equity summed.
pub fn buy_and_hold_legs(
    aligned: &Aligned,
    steps: usize,
    capital: f64,
    costs: CostModel,
    (bars_per_year, funding): (f64, &[Vec<FundingRate>]),
) -> Backtest {
    let n = aligned.legs.len().max(1);
    let each: Vec<Backtest> = aligned
        .legs
        .iter()
        .enumerate()
        .map(|(k, bars)| {
            super::backtest::buy_and_hold_paying(
                &bars[..steps.min(bars.len())],
                capital / n as f64,
                costs,
                bars_per_year,
                funding.get(k).cloned().unwrap_or_default(),
            )
        })
        .collect();
    let equity = summed(&each);
    let curve: Vec<f64> = equity.iter().map(|(_, e)| *e).collect();
    let metrics = metrics::compute(&RunRecord {
        equity: &curve,
        trades: &[],
        bars_in_market: steps as u64,
        traded_notional: 0.0,
        bars_per_year,
        trials: 1,
    });
    Backtest {
        equity,
        fills: each.iter().flat_map(|b| b.fills.clone()).collect(),
        trades: Vec::new(),
        metrics,
        liquidated: None,
        funding: Vec::new(),
    }
}

/// A stage's run of a strategy over several series: fed the steps `w.feed_start..w.end` of
/// `aligned` interleaved (the warm-up first, then its account opened), each leg with its share
/// of `capital`. Returns its orders placed inside the window by leg (each `bar` a step of the
/// window; first, the position each leg held at the end of the warm-up, taken at step 0),
/// kept under the risk states `risk_states` leg by leg, and the trap that stopped it. A
/// perpetual leg's funding rates (`funding`, by leg) are what the strategy reads of it.
///
/// # Errors
/// [`SandboxError`] when the module cannot start (or trades another number of series).
#[allow(clippy::too_many_arguments)]
pub fn run_window(
    sandbox: &Sandbox,
    strategy: &LoadedStrategy,
    aligned: &Aligned,
    w: StageWindow,
    capital: f64,
    costs: CostModel,
    (limits, deadline): (&SandboxLimits, Deadline),
    risk_states: &[RiskMark],
    funding: &[Vec<FundingRate>],
) -> Result<(Vec<Vec<HostOrder>>, Option<SandboxTrap>), SandboxError> {
    let n = aligned.legs.len().max(1);
    let risk = RiskLimits {
        legs: n,
        ..RiskLimits::with_account(capital / n as f64, costs)
    };
    let mut live = sandbox
        .start(strategy, limits, &risk, deadline)?
        .with_funding(funding.to_vec());
    let warm = interleave(&aligned.slice(w.feed_start..w.start));
    let window = aligned.slice(w.start..w.end);
    live.feed_all(&warm);
    live.open_account();
    live.feed_all(&interleave(&window));
    let run = live.finish();
    let offset = warm.len();
    // The position a leg holds at the end of the warm-up (its last market order there, when
    // not flat) is taken at the window's first step: a strategy that entered before its window
    // and holds (a carry held while the funding lasts) holds in it too.
    let carried = (0..n).filter_map(|leg| {
        run.orders
            .iter()
            .rfind(|o| o.bar < offset && o.leg == leg && o.kind == OrderKind::Market)
            .filter(|o| o.direction != 0)
            .map(|o| HostOrder { bar: leg, ..*o })
    });
    let placed: Vec<HostOrder> = carried
        .chain(
            run.orders
                .iter()
                .filter(|o| o.bar >= offset)
                .map(|o| HostOrder {
                    bar: o.bar - offset,
                    ..*o
                }),
        )
        .collect();
    let by_leg = orders_by_leg(&placed, n)
        .iter()
        .zip(&window.legs)
        .map(|(orders, bars)| super::risk::filter(orders, bars, risk_states))
        .collect();
    Ok((by_leg, run.trap))
}

/// COLD's or FULL's backtest of a strategy over several series: the window `w` of `aligned`
/// (steps), its book from `capital`, each perpetual leg paying its `funding`.
///
/// # Errors
/// [`SandboxError`] when the module cannot start.
#[allow(clippy::too_many_arguments)]
pub fn backtest_window(
    sandbox: &Sandbox,
    strategy: &LoadedStrategy,
    aligned: &Aligned,
    w: StageWindow,
    capital: f64,
    costs: CostModel,
    bars_per_year: f64,
    trials: u64,
    (risk_states, funding): (&[RiskMark], &[Vec<FundingRate>]),
) -> Result<(LegsBacktest, Option<SandboxTrap>), SandboxError> {
    let (by_leg, trap) = run_window(
        sandbox,
        strategy,
        aligned,
        w,
        capital,
        costs,
        (&SandboxLimits::backtest(), Deadline::WholeRun),
        risk_states,
        funding,
    )?;
    let window = aligned.slice(w.start..w.end);
    let result = simulate_by_leg(
        &window,
        &by_leg,
        window.steps(),
        capital,
        costs,
        bars_per_year,
        trials,
        funding,
    );
    Ok((result, trap))
}

/// A WARM or LIMITED session of a strategy over several series on the window `w` of `aligned`:
/// the paper venue fills each leg's orders (its costs, its delay) in the leg's book (a
/// perpetual leg paying its `funding`), beside its
/// baseline, **each of its legs bought and held** with its share (a champion trades other
/// series: it is no yardstick for a book of these), on the same steps.
///
/// # Errors
/// [`SandboxError`] when the module cannot start.
#[allow(clippy::too_many_arguments)]
pub fn paper_session(
    sandbox: &Sandbox,
    candidate: &LoadedStrategy,
    aligned: &Aligned,
    w: StageWindow,
    capital: f64,
    venue: PaperVenue,
    bars_per_year: f64,
    (risk_states, funding): (&[RiskMark], &[Vec<FundingRate>]),
) -> Result<PaperSession, SandboxError> {
    let (by_leg, trap) = run_window(
        sandbox,
        candidate,
        aligned,
        w,
        capital,
        venue.costs,
        (&SandboxLimits::default(), Deadline::PerBar),
        risk_states,
        funding,
    )?;
    let late: Vec<Vec<HostOrder>> = by_leg.iter().map(|o| venue.delayed(o)).collect();
    let window = aligned.slice(w.start..w.end);
    let steps = window.steps();
    let book = simulate_by_leg(
        &window,
        &late,
        steps,
        capital,
        venue.costs,
        bars_per_year,
        1,
        funding,
    );
    let baseline = buy_and_hold_legs(
        &window,
        steps,
        capital,
        venue.costs,
        (bars_per_year, funding),
    );
    let last = |equity: &[(i64, f64)]| equity.last().map_or(capital, |(_, e)| *e);
    Ok(PaperSession {
        returns: super::paper::returns(&book.equity),
        baseline_returns: super::paper::returns(&baseline.equity),
        bars: window.legs.first().cloned().unwrap_or_default(),
        fills: book.fills.len(),
        equity: last(&book.equity),
        baseline_equity: last(&baseline.equity),
        filled: book.fills.iter().map(|f| f.fill).collect(),
        candidate: book.metrics,
        baseline: baseline.metrics,
        trap,
    })
}

/// Two legs for validating a strategy over two series without a second recording: the
/// validation bars, and an earlier window of the same recording restamped to their times (real
/// bars, so the strategy's arithmetic meets real prices; the pair's relation is not tested
/// here, only that the code runs safely, deterministically and trades).
pub fn validation_legs(bars: &[SandboxBar], all: &[SandboxBar], legs: usize) -> Vec<SandboxBar> {
    let steps = bars.len();
    let mut series: Vec<Vec<SandboxBar>> = vec![bars.to_vec()];
    for k in 1..legs {
        let from = all.len().saturating_sub(steps * (k + 1));
        let window = &all[from..(from + steps).min(all.len())];
        series.push(
            window
                .iter()
                .zip(bars)
                .map(|(b, at)| SandboxBar {
                    timestamp: at.timestamp,
                    ..*b
                })
                .collect(),
        );
    }
    let refs: Vec<&[SandboxBar]> = series.iter().map(Vec::as_slice).collect();
    interleave(&align(&refs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(t: i64, close: f64) -> SandboxBar {
        SandboxBar {
            timestamp: t,
            open: close,
            high: close,
            low: close,
            close,
            volume: 1.0,
        }
    }

    #[test]
    fn only_the_times_every_series_has_are_steps() {
        let a: Vec<SandboxBar> = [1, 2, 3, 4, 6].iter().map(|t| bar(*t, 10.0)).collect();
        let b: Vec<SandboxBar> = [2, 3, 5, 6, 7].iter().map(|t| bar(*t, 20.0)).collect();
        let aligned = align(&[&a, &b]);
        let times: Vec<i64> = aligned.legs[0].iter().map(|b| b.timestamp).collect();
        assert_eq!(times, [2, 3, 6]);
        assert_eq!(
            aligned.legs[1]
                .iter()
                .map(|b| b.timestamp)
                .collect::<Vec<_>>(),
            [2, 3, 6]
        );
        assert_eq!(aligned.dropped, [2, 2]);
        let flat = interleave(&aligned);
        assert_eq!(
            flat.iter()
                .map(|b| (b.timestamp, b.close))
                .collect::<Vec<_>>(),
            [
                (2, 10.0),
                (2, 20.0),
                (3, 10.0),
                (3, 20.0),
                (6, 10.0),
                (6, 20.0)
            ]
        );
        // An order placed while looking at leg 1's bar of step 1 is leg 0's at step 1.
        let o = HostOrder {
            leg: 0,
            ..HostOrder::market(3, 1, 1.0)
        };
        assert_eq!(orders_by_leg(&[o], 2)[0][0].bar, 1);
    }
}
