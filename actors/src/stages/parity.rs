//! The parity ledger: a WARM or LIMITED window's trades beside the backtest engine's on the
//! same bars, trade by trade, with every difference put down to a cause.
//!
//! The two fill lists are paired in order: a backtest fill goes with the first stage fill not
//! yet paired that trades the same way (buys with buys), about as much (within 5 %), no
//! earlier than it. What is left over
//! is a missed signal (the backtest traded, the stage did not) or an extra one. Each pair's
//! difference is split into:
//!
//! - **latency**: the stage filled in a later bar; the market's move between the two bars'
//!   opens, on the backtest's quantity;
//! - **slippage** (the paper venue) or **fill price** (an exchange): the price beyond the open
//!   of the bar the stage filled in, less the backtest's own slippage. A paper fill must be that
//!   open with the paper venue's slippage, else the bar changed since (**data**); an exchange's
//!   fill must lie within the bar's low and high, else it is unexplained;
//! - **fees**: the fee charged less the backtest's. A paper fee must be the paper venue's rate,
//!   else it is unexplained; an exchange charges what it charges;
//! - **quantity**: the stage filled another amount (a lot size, a partial fill).
//!
//! A backtest fill left over in the window's last bars, when the stage fills late, is latency:
//! its fill would have come after the window ended. Amounts are what each cause cost the stage
//! against the backtest, in the quote currency, marked at the window's last close (a missed
//! fill costs what it earned the backtest by then): with positions sized in units, as the
//! stages are, they add up to the backtest's final equity less the stage's.

use stratagem_events::{ParityAttribution, ParityCause, ParityLedger, ParityRow, StageFill};

use super::backtest::{CostModel, Fill};
use super::paper::PaperSession;
use super::runner::{backtest_window, StageError, StageSettings, StageWindow};
use crate::validator::sandbox::runtime::{LoadedStrategy, Sandbox, SandboxBar};

/// How the stage's fills were made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FillModel {
    /// The paper venue: each fill at the open of its bar, with these fees and slippage.
    Paper(CostModel),
    /// An exchange: its prices and fees as reported.
    Exchange,
}

/// How far apart, relatively, two fills' sizes may be and still be one trade (a venue's lot
/// rounding, a partial fill).
const SIZE_TOLERANCE: f64 = 0.05;

/// A relative tolerance for prices and fees that are the same number computed twice.
const SAME: f64 = 1e-9;

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= SAME * a.abs().max(b.abs()).max(1.0)
}

/// A fill as a stage records it: at its bar's open time.
pub fn stage_fill(f: &Fill) -> StageFill {
    StageFill {
        at: f.timestamp,
        quantity: f.quantity,
        price: f.price,
        fee: f.fee,
    }
}

/// The ledger of a paper `session` over the window `w` of `bars`, traded from `capital` under
/// the risk states `risk`: the same bars replayed through the backtest engine (the stage
/// settings' costs, fills at the next open), then [`ledger`].
///
/// # Errors
/// The sandbox could not start the strategy.
#[allow(clippy::too_many_arguments)]
pub fn of_session(
    sandbox: &Sandbox,
    candidate: &LoadedStrategy,
    bars: &[SandboxBar],
    w: StageWindow,
    capital: f64,
    s: &StageSettings,
    risk: &[stratagem_events::projection::RiskMark],
    session: &PaperSession,
) -> Result<ParityLedger, StageError> {
    let (replayed, _) = backtest_window(sandbox, candidate, bars, w, capital, s, 1, risk)?;
    let window = &bars[w.start..w.end];
    let backtest: Vec<StageFill> = replayed.fills.iter().map(stage_fill).collect();
    let stage: Vec<StageFill> = session.filled.iter().map(stage_fill).collect();
    Ok(ledger(
        window,
        crate::market::bar_interval(window).max(1),
        &backtest,
        &s.costs,
        &stage,
        FillModel::Paper(s.paper_costs),
        (
            replayed.equity.last().map_or(capital, |(_, e)| *e),
            session.equity,
        ),
    ))
}

/// The bar that `at` falls in (bars of `interval` seconds, stamped by their open).
fn bar_at(bars: &[SandboxBar], interval: i64, at: i64) -> Option<&SandboxBar> {
    let i = bars.partition_point(|b| b.timestamp <= at);
    let bar = bars.get(i.checked_sub(1)?)?;
    (at < bar.timestamp + interval).then_some(bar)
}

/// The open a fill of `quantity` at `price` came from, under `slippage_bps` (buys pay more).
fn open_of(price: f64, quantity: f64, slippage_bps: f64) -> f64 {
    price / (1.0 + quantity.signum() * slippage_bps / 10_000.0)
}

/// The ledger of `stage`'s fills (ending at `stage_equity`) against `backtest`'s (ending at
/// `backtest_equity`, made under `costs`) over `bars` (the window), bars of `interval` seconds.
pub fn ledger(
    bars: &[SandboxBar],
    interval: i64,
    backtest: &[StageFill],
    costs: &CostModel,
    stage: &[StageFill],
    model: FillModel,
    (backtest_equity, stage_equity): (f64, f64),
) -> ParityLedger {
    // Pair in order.
    let mut paired: Vec<Option<usize>> = vec![None; backtest.len()];
    let mut taken = vec![false; stage.len()];
    let mut cursor = 0;
    for (j, b) in backtest.iter().enumerate() {
        let found = (cursor..stage.len()).find(|&k| {
            !taken[k]
                && stage[k].quantity.signum() == b.quantity.signum()
                && (stage[k].quantity - b.quantity).abs() <= SIZE_TOLERANCE * b.quantity.abs()
                && stage[k].at >= b.at
        });
        if let Some(k) = found {
            taken[k] = true;
            paired[j] = Some(k);
            cursor = k + 1;
        }
    }
    let lag = paired
        .iter()
        .enumerate()
        .filter_map(|(j, k)| k.map(|k| stage[k].at - backtest[j].at))
        .max()
        .unwrap_or(0);
    let last_open = bars.last().map_or(i64::MIN, |b| b.timestamp);
    let close = bars.last().map_or(0.0, |b| b.close);
    // What a fill alone earned by the window's close (net of its fee).
    let earned = |f: &StageFill| f.quantity * (close - f.price) - f.fee;
    let mut rows: Vec<(i64, ParityRow)> = Vec::new();
    for (j, b) in backtest.iter().enumerate() {
        let row = match paired[j] {
            Some(k) => pair(bars, interval, b, &stage[k], costs, model, close),
            None if lag > 0 && b.at + lag > last_open => ParityRow {
                backtest: Some(*b),
                stage: None,
                attributions: vec![ParityAttribution {
                    cause: ParityCause::Latency,
                    amount: earned(b),
                    note: format!(
                        "filled {lag} s late, this fill would come after the window's last bar"
                    ),
                }],
                unexplained: None,
            },
            None => ParityRow {
                backtest: Some(*b),
                stage: None,
                attributions: vec![ParityAttribution {
                    cause: ParityCause::MissedSignal,
                    amount: earned(b),
                    note: format!(
                        "the backtest traded {:+} here; the stage did not",
                        b.quantity
                    ),
                }],
                unexplained: None,
            },
        };
        rows.push((b.at, row));
    }
    for (_, s) in stage.iter().enumerate().filter(|(k, _)| !taken[*k]) {
        rows.push((
            s.at,
            ParityRow {
                backtest: None,
                stage: Some(*s),
                attributions: vec![ParityAttribution {
                    cause: ParityCause::ExtraSignal,
                    amount: -earned(s),
                    note: format!(
                        "the stage traded {:+} here; the backtest did not",
                        s.quantity
                    ),
                }],
                unexplained: None,
            },
        ));
    }
    rows.sort_by_key(|(at, _)| *at);
    let rows: Vec<ParityRow> = rows.into_iter().map(|(_, r)| r).collect();
    ParityLedger {
        venue: match model {
            FillModel::Paper(_) => "paper".into(),
            FillModel::Exchange => "exchange".into(),
        },
        backtest_trades: backtest.len() as u64,
        stage_trades: stage.len() as u64,
        unexplained: rows.iter().filter(|r| r.unexplained.is_some()).count() as u64,
        rows,
        backtest_equity,
        stage_equity,
    }
}

/// The differences between a backtest fill `b` and the stage's fill `s` paired with it.
fn pair(
    bars: &[SandboxBar],
    interval: i64,
    b: &StageFill,
    s: &StageFill,
    costs: &CostModel,
    model: FillModel,
    close: f64,
) -> ParityRow {
    let mut row = ParityRow {
        backtest: Some(*b),
        stage: Some(*s),
        attributions: Vec::new(),
        unexplained: None,
    };
    let mut why = Vec::new();
    let open_b = open_of(b.price, b.quantity, costs.slippage_bps);
    // The bar the stage filled in; an exchange's fill after the last closed bar (the step's
    // orders go out once its bars closed) is judged against that bar's close.
    let last = bars.last();
    let found = bar_at(bars, interval, s.at)
        .copied()
        .or_else(|| match (model, last) {
            (FillModel::Exchange, Some(l)) if s.at >= l.timestamp + interval => Some(SandboxBar {
                timestamp: l.timestamp + interval,
                open: l.close,
                high: f64::INFINITY,
                low: f64::NEG_INFINITY,
                close: l.close,
                volume: 0.0,
            }),
            _ => None,
        });
    let Some(bar) = found else {
        row.unexplained = Some(format!(
            "no bar of the window holds the stage's fill at {}",
            s.at
        ));
        return row;
    };
    let q = b.quantity;
    // What the backtest would have paid in the stage's bar: its slippage on that open, its fee
    // on the stage's price.
    let reference = bar.open * (1.0 + q.signum() * costs.slippage_bps / 10_000.0);
    let fee_reference = s.quantity.abs() * s.price * costs.fee_bps / 10_000.0 + costs.fixed_fee;
    let late = bar.timestamp != b.at;
    // Latency: the market's move between the two bars' opens (and the fee on it).
    if late {
        row.attributions.push(ParityAttribution {
            cause: ParityCause::Latency,
            amount: (reference - b.price) * q + (fee_reference - b.fee),
            note: format!(
                "filled {} s later: the open moved from {open_b:.2} to {:.2}",
                s.at - b.at,
                bar.open
            ),
        });
    }
    match model {
        FillModel::Paper(paper) => {
            let expected = bar.open * (1.0 + s.quantity.signum() * paper.slippage_bps / 10_000.0);
            if !same(s.price, expected) {
                row.attributions.push(ParityAttribution {
                    cause: ParityCause::Data,
                    amount: (s.price - expected) * q,
                    note: format!(
                        "the stage filled at {:.2}; the store's bar now gives {expected:.2}",
                        s.price
                    ),
                });
            }
            if !same(expected, reference) {
                row.attributions.push(ParityAttribution {
                    cause: ParityCause::Slippage,
                    amount: (expected - reference) * q,
                    note: format!(
                        "slippage {:.1} bps against the backtest's {:.1}",
                        paper.slippage_bps, costs.slippage_bps
                    ),
                });
            }
            let fee = s.quantity.abs() * s.price * paper.fee_bps / 10_000.0 + paper.fixed_fee;
            if !same(s.fee, fee) {
                why.push(format!(
                    "a fee of {:.6} where the paper venue charges {fee:.6}",
                    s.fee
                ));
            }
        }
        FillModel::Exchange => {
            if !same(s.price, reference) {
                row.attributions.push(ParityAttribution {
                    cause: ParityCause::FillPrice,
                    amount: (s.price - reference) * q,
                    note: format!(
                        "filled at {:.2} in a bar that opened at {:.2}",
                        s.price, bar.open
                    ),
                });
            }
            let tolerance = bar.close.abs() * SAME;
            if s.price < bar.low - tolerance || s.price > bar.high + tolerance {
                why.push(format!(
                    "the fill at {:.2} is outside its bar's range {:.2}–{:.2}",
                    s.price, bar.low, bar.high
                ));
            }
        }
    }
    // The fee's rate (a late fill's fee on its own price is latency's).
    let fee_base = if late { fee_reference } else { b.fee };
    if !same(s.fee, fee_base) {
        row.attributions.push(ParityAttribution {
            cause: ParityCause::Fees,
            amount: s.fee - fee_base,
            note: format!(
                "a fee of {:.4} against the backtest's {:.4}",
                s.fee, fee_base
            ),
        });
    }
    if !same(s.quantity, b.quantity) {
        row.attributions.push(ParityAttribution {
            cause: ParityCause::Quantity,
            amount: (s.quantity - b.quantity) * (s.price - close),
            note: format!(
                "filled {:+} against the backtest's {:+}",
                s.quantity, b.quantity
            ),
        });
    }
    if !why.is_empty() {
        row.unexplained = Some(why.join("; "));
    }
    row
}

/// The ledger in one line: `12 trades beside 12: latency −34.20, fees 5.10; 0 unexplained`.
pub fn summary(l: &ParityLedger) -> String {
    let mut totals: Vec<(ParityCause, f64, usize)> = Vec::new();
    for a in l.rows.iter().flat_map(|r| &r.attributions) {
        match totals.iter_mut().find(|(c, _, _)| *c == a.cause) {
            Some(t) => {
                t.1 += a.amount;
                t.2 += 1;
            }
            None => totals.push((a.cause, a.amount, 1)),
        }
    }
    let causes = if totals.is_empty() {
        "no difference".to_string()
    } else {
        totals
            .iter()
            .map(|(c, amount, n)| format!("{} {amount:.2} ({n})", c.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{} trades beside the backtest's {}: {causes}; {} unexplained; equity {:.2} against {:.2}",
        l.stage_trades, l.backtest_trades, l.unexplained, l.stage_equity, l.backtest_equity
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars() -> Vec<SandboxBar> {
        (0..10)
            .map(|i| {
                let p = 100.0 + i as f64;
                SandboxBar {
                    timestamp: 60 * i,
                    open: p,
                    high: p + 2.0,
                    low: p - 1.0,
                    close: p + 1.0,
                    volume: 1.0,
                }
            })
            .collect()
    }

    fn fill(bars: &[SandboxBar], i: usize, q: f64, c: &CostModel) -> StageFill {
        let price = bars[i].open * (1.0 + q.signum() * c.slippage_bps / 10_000.0);
        StageFill {
            at: bars[i].timestamp,
            quantity: q,
            price,
            fee: q.abs() * price * c.fee_bps / 10_000.0,
        }
    }

    #[test]
    fn the_same_trades_have_no_difference() {
        let (b, c) = (bars(), CostModel::default());
        let fills = [fill(&b, 1, 2.0, &c), fill(&b, 4, -2.0, &c)];
        let l = ledger(&b, 60, &fills, &c, &fills, FillModel::Paper(c), (1.0, 1.0));
        assert_eq!((l.unexplained, l.rows.len()), (0, 2));
        assert!(l.rows.iter().all(|r| r.attributions.is_empty()));
    }

    #[test]
    fn a_paper_venue_that_fills_late_and_charges_more_is_latency_and_fees() {
        let b = bars();
        let c = CostModel::default();
        let paper = CostModel { fee_bps: 25.0, ..c };
        let backtest = [
            fill(&b, 1, 2.0, &c),
            fill(&b, 4, -2.0, &c),
            fill(&b, 8, 1.0, &c),
        ];
        // Two bars late: the last fill would come after the window.
        let stage = [fill(&b, 3, 2.0, &paper), fill(&b, 6, -2.0, &paper)];
        let l = ledger(
            &b,
            60,
            &backtest,
            &c,
            &stage,
            FillModel::Paper(paper),
            (0.0, 0.0),
        );
        assert_eq!(l.unexplained, 0, "{l:#?}");
        let causes: Vec<ParityCause> = l
            .rows
            .iter()
            .flat_map(|r| r.attributions.iter().map(|a| a.cause))
            .collect();
        assert_eq!(
            causes,
            [
                ParityCause::Latency,
                ParityCause::Fees,
                ParityCause::Latency,
                ParityCause::Fees,
                ParityCause::Latency
            ]
        );
        // Every difference is attributed: the amounts add up to the two equities' gap (units
        // marked at the last close).
        let close = b[9].close;
        let earned = |f: &[StageFill]| -> f64 {
            f.iter()
                .map(|f| f.quantity * (close - f.price) - f.fee)
                .sum()
        };
        let total: f64 = l
            .rows
            .iter()
            .flat_map(|r| &r.attributions)
            .map(|a| a.amount)
            .sum();
        assert!((total - (earned(&backtest) - earned(&stage))).abs() < 1e-9);
        // Bought two bars later at an open 2.00 higher: 4.00 more on 2 units.
        assert!((l.rows[0].attributions[0].amount - 4.0).abs() < 0.01);
        // Sold two bars later at an open 2.00 higher: 4.00 better.
        assert!((l.rows[1].attributions[0].amount + 4.0).abs() < 0.01);
    }

    #[test]
    fn an_exchange_fill_outside_its_bar_is_unexplained_and_a_lone_one_is_extra() {
        let (b, c) = (bars(), CostModel::default());
        let backtest = [fill(&b, 2, 1.0, &c)];
        let inside = StageFill {
            at: b[2].timestamp + 20,
            quantity: 1.0,
            price: b[2].high - 0.5,
            fee: 0.05,
        };
        let l = ledger(
            &b,
            60,
            &backtest,
            &c,
            &[inside],
            FillModel::Exchange,
            (0.0, 0.0),
        );
        assert_eq!(l.unexplained, 0);
        let causes: Vec<_> = l.rows[0].attributions.iter().map(|a| a.cause).collect();
        assert_eq!(causes, [ParityCause::FillPrice, ParityCause::Fees]);
        let outside = StageFill {
            price: b[2].high + 5.0,
            ..inside
        };
        let extra = StageFill {
            at: b[5].timestamp,
            quantity: -1.0,
            ..inside
        };
        let l = ledger(
            &b,
            60,
            &backtest,
            &c,
            &[outside, extra],
            FillModel::Exchange,
            (0.0, 0.0),
        );
        assert_eq!(l.unexplained, 1);
        assert!(l.rows[0].unexplained.as_ref().unwrap().contains("outside"));
        assert_eq!(l.rows[1].attributions[0].cause, ParityCause::ExtraSignal);
        // A backtest fill with no stage fill and no lateness to explain it: missed.
        let l = ledger(&b, 60, &backtest, &c, &[], FillModel::Exchange, (0.0, 0.0));
        assert_eq!(l.rows[0].attributions[0].cause, ParityCause::MissedSignal);
    }
}
