//! The backtest engine: turns the orders a strategy placed in the sandbox, bar by bar, into
//! fills, positions and a mark-to-market equity curve. Pure and deterministic.
//!
//! - The strategy only ever saw bars up to the one it acted on (the sandbox feeds one bar per
//!   call); an order placed during bar `i` fills at the **open of bar `i + 1`**, so a signal
//!   computed from a close can never trade at that close. Orders of the last bar do not fill.
//! - Orders are target positions (long `q`, short `q`, or flat); the fill trades the difference.
//! - Buys fill at open × (1 + slippage), sells at open × (1 − slippage); the fee is
//!   |traded notional| × fee rate. Both in basis points ([`CostModel`], defaults 10 and 5 bps).
//! - Equity = cash + position × close, at every bar's close.
//! - A trade is a round trip from flat (or a flip) back to flat (or the next flip); its profit
//!   is net of every fee paid while it was open.
//!
//! - Sizing ([`Sizing`]): the host sizes each order against the run's capital at the close it
//!   saw; that size, as a share of capital, is applied at the fill to the equity at that open
//!   and the fill price (`equity`, the default: returns compound), to the starting capital at
//!   the fill price (`fixed` notional), or taken as units as the host gave them (`units`).
//!   Exposure is capped at `max_leverage` × the equity at the open.
//! - Ruin: when the worst price of a bar (its low for a long, its high for a short) takes the
//!   equity to zero, the position is liquidated where the equity reaches zero (at the open when
//!   it gapped through) and the run stops there: equity never goes below zero.

use serde::Serialize;
use stratagem_events::StageMetrics;

use super::metrics::{self, RunRecord};
use crate::validator::sandbox::runtime::{HostOrder, SandboxBar};

/// How the host's order sizes become positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sizing {
    /// The order's share of capital, of the equity at the fill's open, at the fill price:
    /// returns compound.
    Equity,
    /// The order's share of the starting capital, at the fill price (fixed notional).
    Fixed,
    /// The host's quantities as they are (units sized at the signal's close).
    Units,
}

impl Sizing {
    /// The sizing of that name.
    pub fn parse(name: &str) -> Option<Sizing> {
        match name {
            "equity" => Some(Sizing::Equity),
            "fixed" => Some(Sizing::Fixed),
            "units" => Some(Sizing::Units),
            _ => None,
        }
    }
}

/// Fees and slippage, in basis points of traded notional, and how orders are sized.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostModel {
    /// Fee per side (default 10 bps, a typical taker fee).
    pub fee_bps: f64,
    /// Slippage against the open (default 5 bps).
    pub slippage_bps: f64,
    /// Sizing (default equity).
    pub sizing: Sizing,
    /// Largest exposure as a multiple of equity at the fill's open (default 1: no leverage).
    pub max_leverage: f64,
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            fee_bps: 10.0,
            slippage_bps: 5.0,
            sizing: Sizing::Equity,
            max_leverage: 1.0,
        }
    }
}

/// Where a run was liquidated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Liquidation {
    /// Index of the bar.
    pub bar: usize,
    /// Its close time, unix seconds.
    pub timestamp: i64,
    /// The price the position was closed at.
    pub price: f64,
}

/// One fill.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fill {
    /// Index of the bar whose open it filled at.
    pub bar: usize,
    /// That bar's close time, unix seconds.
    pub timestamp: i64,
    /// Units bought (+) or sold (−).
    pub quantity: f64,
    /// Price after slippage.
    pub price: f64,
    /// Fee paid.
    pub fee: f64,
    /// Position after the fill.
    pub position: f64,
}

/// A closed round trip.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trade {
    /// Bar it was opened at.
    pub entry_bar: usize,
    /// Bar it was closed at.
    pub exit_bar: usize,
    /// +1 long, −1 short.
    pub side: i8,
    /// Average entry price.
    pub entry_price: f64,
    /// Average exit price.
    pub exit_price: f64,
    /// Largest size held.
    pub quantity: f64,
    /// Profit net of its fees.
    pub pnl: f64,
}

/// The result of a backtest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backtest {
    /// (timestamp, equity): the start (the first bar's open) then each bar's close.
    pub equity: Vec<(i64, f64)>,
    /// Fills, in order.
    pub fills: Vec<Fill>,
    /// Closed trades.
    pub trades: Vec<Trade>,
    /// Every metric.
    pub metrics: StageMetrics,
    /// Where the equity reached zero and the run stopped, if it did.
    pub liquidated: Option<Liquidation>,
}

struct OpenTrade {
    entry_bar: usize,
    side: i8,
    cost: f64,
    max_quantity: f64,
    exit_value: f64,
    exit_quantity: f64,
    fees: f64,
}

/// Simulates `orders` over `bars` from `capital`.
pub fn simulate(
    bars: &[SandboxBar],
    orders: &[HostOrder],
    capital: f64,
    costs: CostModel,
    bars_per_year: f64,
    trials: u64,
) -> Backtest {
    let mut targets: Vec<Option<f64>> = vec![None; bars.len()];
    for o in orders {
        if let Some(slot) = targets.get_mut(o.bar) {
            *slot = Some(f64::from(o.direction) * o.quantity);
        }
    }
    let mut cash = capital;
    let mut position = 0.0_f64;
    let mut equity = Vec::with_capacity(bars.len() + 1);
    // The starting equity stands at the first bar's open: one interval before its close.
    let start = match bars {
        [first, second, ..] => first.timestamp - (second.timestamp - first.timestamp),
        [first] => first.timestamp,
        [] => 0,
    };
    equity.push((start, capital));
    let mut fills = Vec::new();
    let mut trades = Vec::new();
    let mut open: Option<OpenTrade> = None;
    let mut in_market = 0u64;
    let mut notional = 0.0;
    let mut liquidated = None;
    for (i, bar) in bars.iter().enumerate() {
        // The order placed during the previous bar fills at this bar's open.
        if let Some((p, asked)) = i.checked_sub(1).and_then(|p| targets[p].map(|t| (p, t))) {
            let at_open = cash + position * bar.open;
            let share = asked * bars[p].close / capital;
            let mut target = match costs.sizing {
                Sizing::Units => asked,
                Sizing::Equity => share * at_open.max(0.0) / bar.open,
                Sizing::Fixed => share * capital / bar.open,
            };
            let side = (target - position).signum();
            let price = bar.open * (1.0 + side * costs.slippage_bps / 10_000.0);
            match costs.sizing {
                Sizing::Units => {}
                Sizing::Equity => target = share * at_open.max(0.0) / price,
                Sizing::Fixed => target = share * capital / price,
            }
            // No more exposure than the leverage allows on the equity at the open.
            let cap = costs.max_leverage * at_open.max(0.0) / price;
            if costs.sizing != Sizing::Units && target.abs() > cap {
                target = cap.copysign(target);
            }
            let delta = target - position;
            if delta.abs() > f64::EPSILON {
                let price = bar.open * (1.0 + delta.signum() * costs.slippage_bps / 10_000.0);
                let fee = delta.abs() * price * costs.fee_bps / 10_000.0;
                cash -= delta * price + fee;
                notional += delta.abs() * price;
                book(&mut open, &mut trades, position, target, price, fee, i);
                position = target;
                fills.push(Fill {
                    bar: i,
                    timestamp: bar.timestamp,
                    quantity: delta,
                    price,
                    fee,
                    position,
                });
            }
        }
        if position.abs() > f64::EPSILON {
            in_market += 1;
            // Ruin: the bar's worst price for the position takes the equity to zero.
            let worst = if position > 0.0 { bar.low } else { bar.high };
            if cash + position * worst <= 0.0 {
                let zero = -cash / position;
                let price = if position > 0.0 {
                    zero.min(bar.open)
                } else {
                    zero.max(bar.open)
                };
                book(&mut open, &mut trades, position, 0.0, price, 0.0, i);
                fills.push(Fill {
                    bar: i,
                    timestamp: bar.timestamp,
                    quantity: -position,
                    price,
                    fee: 0.0,
                    position: 0.0,
                });
                notional += position.abs() * price;
                equity.push((bar.timestamp, 0.0));
                liquidated = Some(Liquidation {
                    bar: i,
                    timestamp: bar.timestamp,
                    price,
                });
                break;
            }
        }
        equity.push((bar.timestamp, cash + position * bar.close));
    }
    let curve: Vec<f64> = equity.iter().map(|(_, e)| *e).collect();
    let pnls: Vec<f64> = trades.iter().map(|t: &Trade| t.pnl).collect();
    let metrics = metrics::compute(&RunRecord {
        equity: &curve,
        trades: &pnls,
        bars_in_market: in_market,
        traded_notional: notional,
        bars_per_year,
        trials,
    });
    Backtest {
        equity,
        fills,
        trades,
        metrics,
        liquidated,
    }
}

/// Updates the open round trip for a fill from `before` to `after` at `price`.
fn book(
    open: &mut Option<OpenTrade>,
    trades: &mut Vec<Trade>,
    before: f64,
    after: f64,
    price: f64,
    fee: f64,
    bar: usize,
) {
    let side_of = |q: f64| {
        if q > f64::EPSILON {
            1i8
        } else if q < -f64::EPSILON {
            -1
        } else {
            0
        }
    };
    let (old_side, new_side) = (side_of(before), side_of(after));
    // Closing part: what is sold out of the old side.
    let closing = if old_side != 0 && new_side != old_side {
        before.abs()
    } else if old_side != 0 {
        (before.abs() - after.abs()).max(0.0)
    } else {
        0.0
    };
    let opening = if new_side != 0 && new_side != old_side {
        after.abs()
    } else if new_side != 0 {
        (after.abs() - before.abs()).max(0.0)
    } else {
        0.0
    };
    let total = closing + opening;
    let closing_fee = if total > 0.0 {
        fee * closing / total
    } else {
        0.0
    };
    if let Some(t) = open.as_mut() {
        if closing > 0.0 {
            t.exit_value += closing * price;
            t.exit_quantity += closing;
            t.fees += closing_fee;
        }
    }
    if old_side != 0 && new_side != old_side {
        if let Some(t) = open.take() {
            let entry_price = t.cost / t.max_quantity.max(f64::EPSILON);
            let exit_price = t.exit_value / t.exit_quantity.max(f64::EPSILON);
            let gross = f64::from(t.side) * (exit_price - entry_price) * t.exit_quantity;
            trades.push(Trade {
                entry_bar: t.entry_bar,
                exit_bar: bar,
                side: t.side,
                entry_price,
                exit_price,
                quantity: t.max_quantity,
                pnl: gross - t.fees,
            });
        }
    }
    if opening > 0.0 {
        let opening_fee = fee - closing_fee;
        match open.as_mut() {
            Some(t) => {
                t.cost += opening * price;
                t.max_quantity += opening;
                t.fees += opening_fee;
            }
            None => {
                *open = Some(OpenTrade {
                    entry_bar: bar,
                    side: new_side,
                    cost: opening * price,
                    max_quantity: opening,
                    exit_value: 0.0,
                    exit_quantity: 0.0,
                    fees: opening_fee,
                });
            }
        }
    }
}

/// The baseline: buy at the second bar's open with all capital and hold.
pub fn buy_and_hold(
    bars: &[SandboxBar],
    capital: f64,
    costs: CostModel,
    bars_per_year: f64,
) -> Backtest {
    let Some(second) = bars.get(1) else {
        return simulate(bars, &[], capital, costs, bars_per_year, 1);
    };
    let price = second.open * (1.0 + costs.slippage_bps / 10_000.0);
    let quantity = capital / (price * (1.0 + costs.fee_bps / 10_000.0));
    // All the capital at the second bar's open, as units: no resizing.
    let costs = CostModel {
        sizing: Sizing::Units,
        ..costs
    };
    simulate(
        bars,
        &[HostOrder {
            bar: 0,
            direction: 1,
            quantity,
            clamped: false,
        }],
        capital,
        costs,
        bars_per_year,
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(i: i64, open: f64, close: f64) -> SandboxBar {
        SandboxBar {
            timestamp: i * 3600,
            open,
            high: open.max(close),
            low: open.min(close),
            close,
            volume: 1.0,
        }
    }

    fn order(bar: usize, direction: i32, quantity: f64) -> HostOrder {
        HostOrder {
            bar,
            direction,
            quantity,
            clamped: false,
        }
    }

    const FREE: CostModel = CostModel {
        fee_bps: 0.0,
        slippage_bps: 0.0,
        sizing: Sizing::Units,
        max_leverage: 1.0,
    };

    #[test]
    fn an_order_fills_at_the_next_open_never_at_the_close_it_saw() {
        let bars = [
            bar(0, 100.0, 105.0),
            bar(1, 107.0, 110.0),
            bar(2, 111.0, 108.0),
        ];
        let bt = simulate(&bars, &[order(0, 1, 1.0)], 1000.0, FREE, 8760.0, 1);
        assert_eq!(bt.fills.len(), 1);
        assert_eq!((bt.fills[0].bar, bt.fills[0].price), (1, 107.0));
        // Equity: 1000 at the start and bar 0; then 1000 − 107 + 110 and 1000 − 107 + 108.
        let e: Vec<f64> = bt.equity.iter().map(|x| x.1).collect();
        assert_eq!(e, vec![1000.0, 1000.0, 1003.0, 1001.0]);
    }

    #[test]
    fn an_order_on_the_last_bar_does_not_fill() {
        let bars = [bar(0, 100.0, 101.0), bar(1, 101.0, 102.0)];
        assert!(
            simulate(&bars, &[order(1, 1, 1.0)], 1000.0, FREE, 8760.0, 1)
                .fills
                .is_empty()
        );
    }

    #[test]
    fn fees_and_slippage_are_charged_per_side() {
        let bars = [
            bar(0, 100.0, 100.0),
            bar(1, 100.0, 100.0),
            bar(2, 100.0, 100.0),
        ];
        let costs = CostModel {
            fee_bps: 10.0,
            slippage_bps: 5.0,
            ..FREE
        };
        let bt = simulate(
            &bars,
            &[order(0, 1, 2.0), order(1, 0, 0.0)],
            1000.0,
            costs,
            8760.0,
            1,
        );
        // Buy 2 at 100.05 (fee 0.2001), sell 2 at 99.95 (fee 0.1999): net −0.2 − 0.4 = −0.6.
        assert_eq!(bt.fills.len(), 2);
        assert!(
            (bt.fills[0].price - 100.05).abs() < 1e-9 && (bt.fills[1].price - 99.95).abs() < 1e-9
        );
        let last = bt.equity.last().unwrap().1;
        assert!((last - (1000.0 - 0.6)).abs() < 1e-9, "{last}");
        assert_eq!(bt.trades.len(), 1);
        assert!(
            (bt.trades[0].pnl - (-0.6)).abs() < 1e-9,
            "{:?}",
            bt.trades[0]
        );
    }

    #[test]
    fn a_flip_closes_one_trade_and_opens_another() {
        let bars = [
            bar(0, 10.0, 10.0),
            bar(1, 10.0, 12.0),
            bar(2, 12.0, 11.0),
            bar(3, 9.0, 9.0),
        ];
        let bt = simulate(
            &bars,
            &[order(0, 1, 1.0), order(1, -1, 1.0), order(2, 0, 0.0)],
            100.0,
            FREE,
            8760.0,
            1,
        );
        assert_eq!(bt.trades.len(), 2);
        assert_eq!((bt.trades[0].side, bt.trades[0].pnl), (1, 2.0)); // long 10 → 12
        assert_eq!((bt.trades[1].side, bt.trades[1].pnl), (-1, 3.0)); // short 12 → 9
        assert!((bt.equity.last().unwrap().1 - 105.0).abs() < 1e-12);
        assert!((bt.metrics.win_rate - 1.0).abs() < 1e-12);
    }

    #[test]
    fn buy_and_hold_without_costs_earns_exactly_the_price_return() {
        let bars: Vec<SandboxBar> = (0..50)
            .map(|i| bar(i, 100.0 + i as f64, 100.5 + i as f64 * 1.01))
            .collect();
        let bt = buy_and_hold(&bars, 10_000.0, FREE, 8760.0);
        let expected = bars.last().unwrap().close / bars[1].open - 1.0;
        assert!(
            (bt.metrics.total_return - expected).abs() < 1e-12,
            "{} vs {expected}",
            bt.metrics.total_return
        );
    }

    #[test]
    fn equity_sizing_compounds_at_the_fill_price() {
        // All in (the host's full size at the signal's close) on every long signal.
        let bars: Vec<SandboxBar> = [(100.0, 110.0), (120.0, 130.0), (125.0, 90.0), (95.0, 100.0)]
            .iter()
            .enumerate()
            .map(|(i, (o, c))| bar(i as i64, *o, *c))
            .collect();
        let capital = 1000.0;
        let all_in = |b: usize| order(b, 1, capital / bars[b].close);
        let costs = CostModel {
            sizing: Sizing::Equity,
            ..FREE
        };
        let bt = simulate(
            &bars,
            &[all_in(0), order(1, 0, 0.0), all_in(2)],
            capital,
            costs,
            8760.0,
            1,
        );
        // Long 1000/120 units at 120, sold at 125; then long all of 1041.67 at 95, marked at 100.
        let after_first = capital / 120.0 * 125.0;
        let expected = after_first / 95.0 * 100.0;
        let last = bt.equity.last().unwrap().1;
        assert!(
            (last - expected).abs() < 1e-9 * expected,
            "{last} vs {expected}"
        );
        assert!((bt.fills[2].quantity - after_first / 95.0).abs() < 1e-9);
        // Fixed notional: the second entry is sized on the starting capital.
        let fixed = simulate(
            &bars,
            &[all_in(0), order(1, 0, 0.0), all_in(2)],
            capital,
            CostModel {
                sizing: Sizing::Fixed,
                ..FREE
            },
            8760.0,
            1,
        );
        assert!((fixed.fills[2].quantity - capital / 95.0).abs() < 1e-9);
    }

    #[test]
    fn a_short_through_a_rally_is_liquidated_at_zero_equity_and_stops() {
        let bars: Vec<SandboxBar> = (0..40)
            .map(|i| {
                let p = 100.0 * 1.05f64.powi(i);
                bar(i.into(), p, p * 1.05)
            })
            .collect();
        let capital = 1000.0;
        let bt = simulate(
            &bars,
            &[order(0, -1, capital / bars[0].close)],
            capital,
            CostModel {
                sizing: Sizing::Equity,
                ..FREE
            },
            8760.0,
            1,
        );
        let l = bt.liquidated.expect("liquidated");
        assert_eq!(bt.equity.last().unwrap().1, 0.0);
        assert!(bt.equity.iter().all(|(_, e)| *e >= 0.0));
        assert_eq!(
            bt.equity.len(),
            l.bar + 2,
            "the run stops at the liquidation"
        );
        assert!((bt.metrics.max_drawdown - 1.0).abs() < 1e-12);
        assert_eq!(bt.trades.len(), 1);
        assert!(
            (bt.trades[0].pnl + capital).abs() < 1e-6,
            "{:?}",
            bt.trades[0]
        );
    }
}
