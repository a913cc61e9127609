//! The backtest engine: turns the orders a strategy placed in the sandbox, bar by bar, into
//! fills, positions and a mark-to-market equity curve. Pure and deterministic.
//!
//! - The strategy only ever saw bars up to the one it acted on (the sandbox feeds one bar per
//!   call); an order placed during bar `i` fills at the **open of bar `i + 1`**, so a signal
//!   computed from a close can never trade at that close. Orders of the last bar do not fill.
//! - Orders are target positions (long `q`, short `q`, or flat); the fill trades the difference.
//!   The last order placed during a bar replaces the working order from the next bar on.
//! - Kinds ([`OrderKind`]): a market order fills at the next open; a limit or stop order works
//!   until it fills, another order replaces it, or a cancel removes it. An order may carry a
//!   stop-loss and a take-profit (a bracket) for the position it opens; the bracket stays with
//!   the position until it goes flat or flips.
//! - Intrabar path: a bar's prices move from the open to the extreme nearer the open (the low
//!   on a tie), to the other extreme, to the close. Along it, a working order or a bracket
//!   fires where the price first reaches its level; one already through at a point fires there
//!   (a gap through a stop fills at the open, beyond the stop; a limit gapped through fills at
//!   the better open). At one point, the stop-loss goes first, then the entry, then the
//!   take-profit. At most 8 fills in a bar.
//! - Market and stop fills (stop-losses too) take liquidity: the price moves against them by the
//!   slippage and they pay the taker fee `fee_bps`; limit fills (take-profits too) pay
//!   `maker_fee_bps` and no slippage. Each fill also pays `fixed_fee`. A short pays
//!   `borrow_bps_per_year` on its notional at each close, for the time since the previous close.
//! - Buys fill at open × (1 + slippage), sells at open × (1 − slippage); the fee is
//!   |traded notional| × fee rate. Both in basis points ([`CostModel`], defaults 10 and 5 bps).
//! - Equity = cash + position × close, at every bar's close.
//! - A trade is a round trip from flat (or a flip) back to flat (or the next flip); its profit
//!   is net of every fee (and borrow) paid while it was open.
//!
//! - Sizing ([`Sizing`]): the host sizes each order against the run's capital at the close it
//!   saw; that size, as a share of capital, is applied at the fill to the equity at that open
//!   and the fill price (`equity`, the default: returns compound), to the starting capital at
//!   the fill price (`fixed` notional), or taken as units as the host gave them (`units`).
//!   Exposure is capped at `max_leverage` × the equity at the open.
//! - Ruin: when the worst price on the bar's path while a position is held (its low for a long,
//!   its high for a short) takes the equity to zero, the position is liquidated where the
//!   equity reaches zero (at the open when it gapped through) and the run stops there: equity
//!   never goes below zero.
//! - [`Book`] is this account one bar at a time: [`simulate`] runs it over recorded orders, and
//!   the sandbox keeps one beside a strategy that reads its account ([`AccountView`]).

use serde::Serialize;
use stratagem_events::StageMetrics;

use super::metrics::{self, RunRecord};
use crate::validator::sandbox::runtime::{HostOrder, OrderKind, SandboxBar};

/// How the host's order sizes become positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct CostModel {
    /// Fee per side (default 10 bps, a typical taker fee).
    pub fee_bps: f64,
    /// Slippage against the open (default 5 bps).
    pub slippage_bps: f64,
    /// Sizing (default equity).
    pub sizing: Sizing,
    /// Largest exposure as a multiple of equity at the fill's open (default 1: no leverage).
    pub max_leverage: f64,
    /// Fee of a resting limit order's fill (a limit entry, a take-profit), bps (default 10).
    pub maker_fee_bps: f64,
    /// A fixed fee per fill, in quote currency (default 0).
    pub fixed_fee: f64,
    /// Borrow (or funding) cost of a short, bps of its notional per year, charged at each close
    /// for the time since the previous one (default 0).
    pub borrow_bps_per_year: f64,
    /// Keep the position within `max_leverage` × equity at its fills (units sizing included)
    /// and at every close: a position the market carried over it (a short through a rally, a
    /// long bought on margin through a fall) is cut back to it at the close, a taker fill
    /// (default off; the stays on the real clock, where strategies share one account).
    pub hold_within_leverage: bool,
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            fee_bps: 10.0,
            slippage_bps: 5.0,
            sizing: Sizing::Equity,
            max_leverage: 1.0,
            maker_fee_bps: 10.0,
            fixed_fee: 0.0,
            borrow_bps_per_year: 0.0,
            hold_within_leverage: false,
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
    /// Funding paid (+) or received (−) at each funding time a position was held through (a
    /// perpetual's book given its funding rates); in the equity, and in the round trips' P&L.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub funding: Vec<FundingPayment>,
}

/// One funding payment of a perpetual's position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FundingPayment {
    /// The funding time, unix seconds.
    pub time: i64,
    /// The rate.
    pub rate: f64,
    /// The position held then.
    pub position: f64,
    /// The mark: the close of the bar the funding time falls in.
    pub mark: f64,
    /// Paid out of cash: `position × mark × rate` (a long pays a positive rate).
    pub paid: f64,
}

#[derive(Debug, Clone)]
struct OpenTrade {
    entry_bar: usize,
    side: i8,
    cost: f64,
    max_quantity: f64,
    exit_value: f64,
    exit_quantity: f64,
    fees: f64,
}

/// Seconds in a (365-day) year, for the borrow rate.
const SECONDS_PER_YEAR: f64 = 31_536_000.0;

/// Most fills in one bar (entries, stop-losses and take-profits together): a bound on the
/// intrabar loop whatever the prices.
const MAX_FILLS_PER_BAR: usize = 8;

/// Whether a fill adds liquidity (a resting limit order: the maker fee) or takes it (market and
/// stop orders: the taker fee and slippage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Liquidity {
    Maker,
    Taker,
}

/// Which of the working orders fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fired {
    StopLoss,
    Entry,
    TakeProfit,
}

/// The entry order working in the book: the last order placed, until it fills or another
/// replaces it.
#[derive(Debug, Clone, Copy)]
struct Working {
    order: HostOrder,
    /// The order's share of the capital (the host's size at the close it saw ÷ capital).
    share: f64,
}

/// The account as a strategy sees it after a bar's close.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AccountView {
    /// Units held: + long, − short, 0 flat.
    pub position: f64,
    /// Average entry price of the position (0 when flat).
    pub average_price: f64,
    /// Cash + position × the close.
    pub equity: f64,
    /// Cash, in quote currency.
    pub cash: f64,
}

/// The simulated account, one bar at a time: [`simulate`] runs it over recorded orders, and the
/// sandbox runs it beside a strategy that reads its account ([`AccountView`]), with the same
/// results.
#[derive(Debug, Clone)]
pub struct Book {
    capital: f64,
    costs: CostModel,
    cash: f64,
    position: f64,
    average_price: f64,
    working: Option<Working>,
    /// The position's stop-loss and take-profit, set by the fill of an order carrying them.
    bracket: (Option<f64>, Option<f64>),
    /// The previous bar (its close sizes the orders placed during it; its time starts the
    /// borrow interval).
    previous: Option<SandboxBar>,
    index: usize,
    equity: Vec<(i64, f64)>,
    fills: Vec<Fill>,
    trades: Vec<Trade>,
    open: Option<OpenTrade>,
    in_market: u64,
    notional: f64,
    liquidated: Option<Liquidation>,
    /// The perpetual's funding rates, and the next one not yet passed.
    rates: Vec<crate::bars::funding::FundingRate>,
    next_rate: usize,
    funding: Vec<FundingPayment>,
}

impl Book {
    /// An empty account of `capital`.
    pub fn new(capital: f64, costs: CostModel) -> Book {
        Book {
            capital,
            costs,
            cash: capital,
            position: 0.0,
            average_price: 0.0,
            working: None,
            bracket: (None, None),
            previous: None,
            index: 0,
            equity: vec![(0, capital)],
            fills: Vec::new(),
            trades: Vec::new(),
            open: None,
            in_market: 0,
            notional: 0.0,
            liquidated: None,
            rates: Vec::new(),
            next_rate: 0,
            funding: Vec::new(),
        }
    }

    /// This book as a perpetual's: at each funding time in `rates` a bar reaches (after the
    /// bar before it closed, up to its own close), the position then held pays
    /// `position × close × rate`.
    pub fn with_funding(mut self, rates: Vec<crate::bars::funding::FundingRate>) -> Book {
        self.rates = rates;
        self
    }

    /// The account after the last bar stepped.
    pub fn view(&self) -> AccountView {
        let close = self.previous.map_or(0.0, |b| b.close);
        AccountView {
            position: self.position,
            average_price: self.average_price,
            equity: self.cash + self.position * close,
            cash: self.cash,
        }
    }

    /// Whether the account was liquidated (it takes no more bars).
    pub fn is_liquidated(&self) -> bool {
        self.liquidated.is_some()
    }

    /// Runs one bar: `placed` are the orders placed during the previous bar (the last one
    /// replaces the working order; a cancel removes it). A market order fills at this bar's
    /// open; working stop and limit orders and the position's bracket fire along the bar's
    /// path (see the module's rules); the position is marked at the close.
    pub fn step(&mut self, bar: &SandboxBar, placed: &[HostOrder]) {
        if self.liquidated.is_some() {
            return;
        }
        let i = self.index;
        self.index += 1;
        if i == 0 {
            self.equity[0].0 = bar.timestamp;
        } else if i == 1 {
            // The starting equity stands at the first bar's open: one interval before its close.
            if let Some(first) = self.previous {
                self.equity[0].0 = first.timestamp - (bar.timestamp - first.timestamp);
            }
        }
        if let (Some(order), Some(previous)) = (placed.last(), self.previous) {
            self.working = match order.kind {
                OrderKind::Cancel => None,
                _ => Some(Working {
                    order: *order,
                    share: f64::from(order.direction) * order.quantity * previous.close
                        / self.capital,
                }),
            };
        }
        let mut held = false;
        let mut fills = 0;
        // A market order fills at the open; with nothing else working and no bracket, the
        // position then stands through the bar and only its worst price matters (the common
        // case, kept cheap). Otherwise the bar's path is walked.
        if self.bracket == (None, None)
            && self
                .working
                .is_none_or(|w| w.order.kind == OrderKind::Market)
        {
            if self.working.is_some() {
                self.fire(i, bar, Fired::Entry, bar.open);
                fills += 1;
            }
            if self.bracket == (None, None) && self.working.is_none() {
                if self.position.abs() > f64::EPSILON {
                    held = true;
                    let worst = if self.position > 0.0 {
                        bar.low
                    } else {
                        bar.high
                    };
                    self.ruined(i, bar, bar.open, worst);
                }
                return self.close_bar(bar, held);
            }
        }
        let path = path_of(bar);
        'segments: for w in path.windows(2) {
            let (mut x, b) = (w[0], w[1]);
            loop {
                let next = if fills < MAX_FILLS_PER_BAR {
                    self.next_trigger(x, b)
                } else {
                    None
                };
                let until = next.map_or(b, |(_, level)| level);
                if self.position.abs() > f64::EPSILON && until != x {
                    held = true;
                }
                if self.ruined(i, bar, x, until) {
                    break 'segments;
                }
                let Some((fired, level)) = next else { break };
                self.fire(i, bar, fired, level);
                fills += 1;
                x = level;
            }
        }
        self.close_bar(bar, held);
    }

    /// Ends the bar: its exposure, a short's borrow, and the mark at the close (zero when the
    /// bar liquidated the account).
    fn close_bar(&mut self, bar: &SandboxBar, held: bool) {
        if self.liquidated.is_some() {
            self.in_market += 1;
            self.equity.push((bar.timestamp, 0.0));
            self.previous = Some(*bar);
            return;
        }
        let held = held || self.position.abs() > f64::EPSILON;
        if held {
            self.in_market += 1;
        }
        // Borrow on a short, for the time since the previous close.
        if self.position < -f64::EPSILON && self.costs.borrow_bps_per_year > 0.0 {
            if let Some(previous) = self.previous {
                let years = (bar.timestamp - previous.timestamp).max(0) as f64 / SECONDS_PER_YEAR;
                let fee =
                    -self.position * bar.close * self.costs.borrow_bps_per_year / 10_000.0 * years;
                self.cash -= fee;
                if let Some(t) = self.open.as_mut() {
                    t.fees += fee;
                }
            }
        }
        self.pay_funding(bar);
        if self.costs.hold_within_leverage {
            self.hold_within_leverage(bar);
        }
        self.equity
            .push((bar.timestamp, self.cash + self.position * bar.close));
        self.previous = Some(*bar);
    }

    /// Pays the funding of every funding time up to this bar's close on the position held at
    /// the close (a run holds nothing at its first bar's close: no order fills before the
    /// second bar, so funding before the run is never paid).
    fn pay_funding(&mut self, bar: &SandboxBar) {
        while let Some(r) = self
            .rates
            .get(self.next_rate)
            .filter(|r| r.time <= bar.timestamp)
        {
            let r = *r;
            self.next_rate += 1;
            if self.position.abs() <= f64::EPSILON {
                continue;
            }
            let paid = self.position * bar.close * r.rate;
            self.cash -= paid;
            if let Some(t) = self.open.as_mut() {
                t.fees += paid;
            }
            self.funding.push(FundingPayment {
                time: r.time,
                rate: r.rate,
                position: self.position,
                mark: bar.close,
                paid,
            });
        }
    }

    /// Cuts a position over `max_leverage` × equity at `bar`'s close back to it: a taker fill at
    /// the close of just the amount that leaves it there after its own slippage and fee.
    fn hold_within_leverage(&mut self, bar: &SandboxBar) {
        let (p, c) = (self.position, bar.close);
        let equity = self.cash + p * c;
        let l = self.costs.max_leverage;
        if p.abs() <= f64::EPSILON || c <= 0.0 || p.abs() * c <= l * equity {
            return;
        }
        let i = self.index.saturating_sub(1);
        let (s, f) = (
            self.costs.slippage_bps / 10_000.0,
            self.costs.fee_bps / 10_000.0,
        );
        // Selling a long (buying back a short) of `a` units at P = c(1 − σs) costs a·c·s in
        // slippage and f·a·P in fees: (|p| − a)·c ≤ l·(E − a·c·s − f·a·P − fixed) gives a.
        let price = c * (1.0 - p.signum() * s);
        let over = p.abs() * c - l * (equity - self.costs.fixed_fee);
        let room = c - l * (c * s + f * price);
        let a = if equity <= 0.0 || room <= 0.0 {
            p.abs()
        } else {
            // A hair more, so rounding never leaves it over.
            (over / room * (1.0 + 1e-9)).min(p.abs())
        };
        self.trade(i, bar, p - a.copysign(p), c, Liquidity::Taker);
    }

    /// The first working order (entry, stop-loss, take-profit) to fire on the way from `x` to
    /// `b`, and the price level where it does: at `x` itself when it is already through.
    fn next_trigger(&self, x: f64, b: f64) -> Option<(Fired, f64)> {
        // When the price is at or below `level` (`below`), or at or above it.
        let reach = |level: f64, below: bool| -> Option<f64> {
            let (now, later) = if below {
                (x <= level, b <= level)
            } else {
                (x >= level, b >= level)
            };
            if now {
                Some(x)
            } else if later {
                Some(level)
            } else {
                None
            }
        };
        let mut best: Option<(Fired, f64)> = None;
        let mut consider = |fired: Fired, at: Option<f64>| {
            if let Some(at) = at {
                let closer = best.is_none_or(|(_, b)| (at - x).abs() < (b - x).abs());
                if closer {
                    best = Some((fired, at));
                }
            }
        };
        let long = self.position > f64::EPSILON;
        let short = self.position < -f64::EPSILON;
        if long || short {
            // A long's stop sells when the price falls to it; a short's buys when it rises.
            if let Some(stop) = self.bracket.0 {
                consider(Fired::StopLoss, reach(stop, long));
            }
        }
        if let Some(w) = &self.working {
            let at = match w.order.kind {
                OrderKind::Market => Some(x),
                OrderKind::Limit | OrderKind::Stop => {
                    let buy = self.target(w, w.order.price) > self.position;
                    // A buy limit fills at or below its price, a buy stop at or above it.
                    let below = (w.order.kind == OrderKind::Limit) == buy;
                    reach(w.order.price, below)
                }
                OrderKind::Cancel => None,
            };
            consider(Fired::Entry, at);
        }
        if long || short {
            if let Some(take) = self.bracket.1 {
                consider(Fired::TakeProfit, reach(take, short));
            }
        }
        best
    }

    /// The position the working order asks for at a fill near `price`.
    fn target(&self, w: &Working, price: f64) -> f64 {
        let asked = f64::from(w.order.direction) * w.order.quantity;
        let equity = (self.cash + self.position * price).max(0.0);
        match self.costs.sizing {
            Sizing::Units => asked,
            Sizing::Equity => w.share * equity / price,
            Sizing::Fixed => w.share * self.capital / price,
        }
    }

    /// Executes what fired at `level`.
    fn fire(&mut self, i: usize, bar: &SandboxBar, fired: Fired, level: f64) {
        match fired {
            Fired::StopLoss => self.trade(i, bar, 0.0, level, Liquidity::Taker),
            Fired::TakeProfit => self.trade(i, bar, 0.0, level, Liquidity::Maker),
            Fired::Entry => {
                let Some(w) = self.working.take() else { return };
                let liquidity = if w.order.kind == OrderKind::Limit {
                    Liquidity::Maker
                } else {
                    Liquidity::Taker
                };
                let before = self.position;
                let target = self.sized(&w, level, liquidity);
                self.trade(i, bar, target, level, liquidity);
                let flipped = before * self.position < 0.0 || before.abs() <= f64::EPSILON;
                if w.order.stop_loss.is_some() || w.order.take_profit.is_some() {
                    self.bracket = (w.order.stop_loss, w.order.take_profit);
                } else if flipped {
                    self.bracket = (None, None);
                }
            }
        }
        if self.position.abs() <= f64::EPSILON {
            self.bracket = (None, None);
        }
    }

    /// The target of the working order filled at `level`: on equity or fixed notional at the
    /// fill price (after slippage), capped by the leverage on the equity at `level`.
    fn sized(&self, w: &Working, level: f64, liquidity: Liquidity) -> f64 {
        // The host's units as they are, unless the position is held within the leverage.
        if self.costs.sizing == Sizing::Units && !self.costs.hold_within_leverage {
            return self.target(w, level);
        }
        let equity = (self.cash + self.position * level).max(0.0);
        let side = (self.target(w, level) - self.position).signum();
        let price = self.fill_price(level, side, liquidity);
        let mut target = self.target(w, price);
        if self.costs.sizing == Sizing::Equity {
            // The share of the equity at `level`, at the price paid.
            target = w.share * equity / price;
        }
        let cap = self.costs.max_leverage * equity / price;
        if target.abs() > cap {
            target = cap.copysign(target);
        }
        target
    }

    /// The price a fill at `level` pays on `side` (+1 buy, −1 sell): takers pay the slippage.
    fn fill_price(&self, level: f64, side: f64, liquidity: Liquidity) -> f64 {
        match liquidity {
            Liquidity::Taker => level * (1.0 + side * self.costs.slippage_bps / 10_000.0),
            Liquidity::Maker => level,
        }
    }

    /// Trades from the position to `target` at `level`, with the fees of `liquidity`.
    fn trade(&mut self, i: usize, bar: &SandboxBar, target: f64, level: f64, liquidity: Liquidity) {
        let delta = target - self.position;
        if delta.abs() <= f64::EPSILON {
            return;
        }
        let price = self.fill_price(level, delta.signum(), liquidity);
        let bps = match liquidity {
            Liquidity::Taker => self.costs.fee_bps,
            Liquidity::Maker => self.costs.maker_fee_bps,
        };
        let fee = delta.abs() * price * bps / 10_000.0 + self.costs.fixed_fee;
        self.cash -= delta * price + fee;
        self.notional += delta.abs() * price;
        book(
            &mut self.open,
            &mut self.trades,
            self.position,
            target,
            price,
            fee,
            i,
        );
        self.average_price = average_price(self.position, target, self.average_price, price);
        self.position = target;
        self.fills.push(Fill {
            bar: i,
            timestamp: bar.timestamp,
            quantity: delta,
            price,
            fee,
            position: target,
        });
    }

    /// Ruin on the way from `x` to `until` with the position held: when the worse of the two
    /// takes the equity to zero, the position is closed where it reaches zero (at `x` when it
    /// was already through) and the book stops. Returns whether it did.
    fn ruined(&mut self, i: usize, bar: &SandboxBar, x: f64, until: f64) -> bool {
        let position = self.position;
        if position.abs() <= f64::EPSILON {
            return false;
        }
        let worst = if position > 0.0 {
            x.min(until)
        } else {
            x.max(until)
        };
        if self.cash + position * worst > 0.0 {
            return false;
        }
        let zero = -self.cash / position;
        let price = if position > 0.0 {
            zero.min(x)
        } else {
            zero.max(x)
        };
        book(
            &mut self.open,
            &mut self.trades,
            position,
            0.0,
            price,
            0.0,
            i,
        );
        self.fills.push(Fill {
            bar: i,
            timestamp: bar.timestamp,
            quantity: -position,
            price,
            fee: 0.0,
            position: 0.0,
        });
        self.notional += position.abs() * price;
        self.cash += position * price;
        self.position = 0.0;
        self.average_price = 0.0;
        self.liquidated = Some(Liquidation {
            bar: i,
            timestamp: bar.timestamp,
            price,
        });
        true
    }

    /// The run's result, with its metrics.
    pub fn finish(self, bars_per_year: f64, trials: u64) -> Backtest {
        let curve: Vec<f64> = self.equity.iter().map(|(_, e)| *e).collect();
        let pnls: Vec<f64> = self.trades.iter().map(|t: &Trade| t.pnl).collect();
        let metrics = metrics::compute(&RunRecord {
            equity: &curve,
            trades: &pnls,
            bars_in_market: self.in_market,
            traded_notional: self.notional,
            bars_per_year,
            trials,
        });
        Backtest {
            equity: self.equity,
            fills: self.fills,
            trades: self.trades,
            metrics,
            liquidated: self.liquidated,
            funding: self.funding,
        }
    }
}

/// The bar's path: open, the extreme nearer the open (the low on a tie), the other extreme,
/// close.
fn path_of(bar: &SandboxBar) -> [f64; 4] {
    if bar.high - bar.open < bar.open - bar.low {
        [bar.open, bar.high, bar.low, bar.close]
    } else {
        [bar.open, bar.low, bar.high, bar.close]
    }
}

/// The average entry price after a fill from `before` to `after` at `price`.
fn average_price(before: f64, after: f64, average: f64, price: f64) -> f64 {
    if after.abs() <= f64::EPSILON {
        0.0
    } else if before * after < 0.0 || before.abs() <= f64::EPSILON {
        price
    } else if after.abs() > before.abs() {
        (average * before.abs() + price * (after.abs() - before.abs())) / after.abs()
    } else {
        average
    }
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
    simulate_with_funding(
        bars,
        orders,
        capital,
        costs,
        bars_per_year,
        trials,
        Vec::new(),
    )
}

/// Simulates `orders` over `bars` from `capital`, a perpetual's book paying `rates`
/// ([`Book::with_funding`]).
pub fn simulate_with_funding(
    bars: &[SandboxBar],
    orders: &[HostOrder],
    capital: f64,
    costs: CostModel,
    bars_per_year: f64,
    trials: u64,
    rates: Vec<crate::bars::funding::FundingRate>,
) -> Backtest {
    let mut sorted;
    let mut orders = orders;
    if !orders.windows(2).all(|w| w[0].bar <= w[1].bar) {
        sorted = orders.to_vec();
        sorted.sort_by_key(|o| o.bar);
        orders = &sorted;
    }
    let mut book = Book::new(capital, costs).with_funding(rates);
    // One mark per bar: the curve is sized once, not regrown (and copied) as it fills.
    book.equity.reserve(bars.len());
    let mut next = 0;
    for (i, bar) in bars.iter().enumerate() {
        // The orders placed during the previous bar.
        let start = next;
        while orders.get(next).is_some_and(|o| o.bar < i) {
            next += 1;
        }
        let placed = &orders[start..next];
        let from = placed
            .iter()
            .position(|o| o.bar + 1 == i)
            .unwrap_or(placed.len());
        book.step(bar, &placed[from..]);
        if book.is_liquidated() {
            break;
        }
    }
    book.finish(bars_per_year, trials)
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
    buy_and_hold_paying(bars, capital, costs, bars_per_year, Vec::new())
}

/// As [`buy_and_hold`], a perpetual held paying its funding `rates` at each funding time.
pub fn buy_and_hold_paying(
    bars: &[SandboxBar],
    capital: f64,
    costs: CostModel,
    bars_per_year: f64,
    rates: Vec<crate::bars::funding::FundingRate>,
) -> Backtest {
    let Some(second) = bars.get(1) else {
        return simulate_with_funding(bars, &[], capital, costs, bars_per_year, 1, rates);
    };
    let price = second.open * (1.0 + costs.slippage_bps / 10_000.0);
    let quantity = capital / (price * (1.0 + costs.fee_bps / 10_000.0));
    // All the capital at the second bar's open, as units: no resizing.
    let costs = CostModel {
        sizing: Sizing::Units,
        ..costs
    };
    simulate_with_funding(
        bars,
        &[HostOrder::market(0, 1, quantity)],
        capital,
        costs,
        bars_per_year,
        1,
        rates,
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
        HostOrder::market(bar, direction, quantity)
    }

    const FREE: CostModel = CostModel {
        fee_bps: 0.0,
        slippage_bps: 0.0,
        sizing: Sizing::Units,
        max_leverage: 1.0,
        maker_fee_bps: 0.0,
        fixed_fee: 0.0,
        borrow_bps_per_year: 0.0,
        hold_within_leverage: false,
    };

    #[test]
    fn a_position_the_market_carries_over_the_leverage_is_cut_back_at_the_close() {
        // A short of all the capital through a rally of 2 % a bar, with fees and slippage.
        let bars: Vec<SandboxBar> = (0..30)
            .map(|i| {
                let p = 100.0 * 1.02f64.powi(i);
                SandboxBar {
                    timestamp: 3600 * i64::from(i),
                    open: p,
                    high: p * 1.01,
                    low: p * 0.99,
                    close: p * 1.01,
                    volume: 1.0,
                }
            })
            .collect();
        let orders = [order(0, -1, 10.0)];
        let costs = CostModel {
            sizing: Sizing::Units,
            ..CostModel::default()
        };
        let exposure = |b: &Backtest| -> Vec<(f64, f64)> {
            b.equity[1..]
                .iter()
                .enumerate()
                .map(|(k, (_, e))| {
                    let held = b
                        .fills
                        .iter()
                        .take_while(|f| f.bar <= k)
                        .last()
                        .map_or(0.0, |f| f.position);
                    (held.abs() * bars[k].close, *e)
                })
                .collect()
        };
        let loose = simulate(&bars, &orders, 1_000.0, costs, 8760.0, 1);
        assert!(exposure(&loose).iter().any(|(n, e)| n > e));
        let held = CostModel {
            hold_within_leverage: true,
            ..costs
        };
        let b = simulate(&bars, &orders, 1_000.0, held, 8760.0, 1);
        for (n, e) in exposure(&b) {
            assert!(n <= e, "{n} over {e}");
        }
        // Cut at the closes where it went over, each a buy back at the close plus slippage.
        assert!(b.fills.len() > 10, "{:?}", b.fills);
        for f in &b.fills[1..] {
            assert!(f.quantity > 0.0 && f.position < 0.0);
            let close = bars[f.bar].close;
            assert!((f.price - close * 1.0005).abs() < 1e-9);
        }
        // A long within its equity is left alone.
        let long = simulate(&bars, &[order(0, 1, 9.0)], 1_000.0, held, 8760.0, 1);
        assert_eq!(long.fills.len(), 1);
    }

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

    /// A backtest of `orders` over `bars` from 1,000 on hourly bars.
    fn run(bars: &[SandboxBar], orders: &[HostOrder], costs: CostModel) -> Backtest {
        simulate(bars, orders, 1000.0, costs, 8760.0, 1)
    }

    /// Taker 10 bps and 5 bps of slippage, maker 2 bps.
    const TAKER_MAKER: CostModel = CostModel {
        fee_bps: 10.0,
        maker_fee_bps: 2.0,
        slippage_bps: 5.0,
        ..FREE
    };

    fn ohlc(i: i64, open: f64, high: f64, low: f64, close: f64) -> SandboxBar {
        SandboxBar {
            timestamp: i * 3600,
            open,
            high,
            low,
            close,
            volume: 1.0,
        }
    }

    fn kind(bar: usize, direction: i32, quantity: f64, kind: OrderKind, price: f64) -> HostOrder {
        HostOrder {
            kind,
            price,
            ..HostOrder::market(bar, direction, quantity)
        }
    }

    #[test]
    fn a_limit_buy_fills_at_its_price_or_at_a_better_open_with_the_maker_fee() {
        let costs = TAKER_MAKER;
        // Bar 1 opens above the limit and trades down through it: filled at 95, no slippage.
        let bars = [
            ohlc(0, 100.0, 100.0, 100.0, 100.0),
            ohlc(1, 100.0, 101.0, 94.0, 99.0),
            ohlc(2, 99.0, 99.0, 99.0, 99.0),
        ];
        let bt = run(&bars, &[kind(0, 1, 1.0, OrderKind::Limit, 95.0)], costs);
        assert_eq!(bt.fills.len(), 1);
        assert_eq!((bt.fills[0].bar, bt.fills[0].price), (1, 95.0));
        assert!((bt.fills[0].fee - 95.0 * 2.0 / 10_000.0).abs() < 1e-12);
        // Gapped below the limit at the open: filled at the open, the better price.
        let gap = [
            ohlc(0, 100.0, 100.0, 100.0, 100.0),
            ohlc(1, 90.0, 92.0, 89.0, 91.0),
        ];
        let bt = run(&gap, &[kind(0, 1, 1.0, OrderKind::Limit, 95.0)], costs);
        assert_eq!(bt.fills[0].price, 90.0);
        // Never reached: it works on, unfilled, until another order replaces it.
        let never = [
            ohlc(0, 100.0, 100.0, 100.0, 100.0),
            ohlc(1, 100.0, 101.0, 96.0, 99.0),
            ohlc(2, 99.0, 100.0, 97.0, 98.0),
            ohlc(3, 98.0, 98.0, 94.0, 95.0),
        ];
        let bt = run(
            &never,
            &[
                kind(0, 1, 1.0, OrderKind::Limit, 95.0),
                kind(1, 0, 0.0, OrderKind::Cancel, 0.0),
            ],
            costs,
        );
        assert!(bt.fills.is_empty(), "cancelled before bar 3 reached it");
        let bt = run(&never, &[kind(0, 1, 1.0, OrderKind::Limit, 95.0)], costs);
        assert_eq!((bt.fills[0].bar, bt.fills[0].price), (3, 95.0));
    }

    #[test]
    fn a_stop_buy_fills_where_the_price_trades_through_it_or_at_the_open_past_it() {
        let costs = TAKER_MAKER;
        let bars = [
            ohlc(0, 100.0, 100.0, 100.0, 100.0),
            ohlc(1, 100.0, 106.0, 99.0, 104.0),
        ];
        let bt = run(&bars, &[kind(0, 1, 1.0, OrderKind::Stop, 105.0)], costs);
        // A taker: the stop's price plus the slippage, the taker fee.
        let price = 105.0 * 1.0005;
        assert!((bt.fills[0].price - price).abs() < 1e-9);
        assert!((bt.fills[0].fee - price * 10.0 / 10_000.0).abs() < 1e-9);
        let gap = [
            ohlc(0, 100.0, 100.0, 100.0, 100.0),
            ohlc(1, 108.0, 109.0, 107.0, 108.0),
        ];
        let bt = run(&gap, &[kind(0, 1, 1.0, OrderKind::Stop, 105.0)], costs);
        assert!(
            (bt.fills[0].price - 108.0 * 1.0005).abs() < 1e-9,
            "{:?}",
            bt.fills
        );
    }

    #[test]
    fn a_bracket_exits_at_its_stop_or_its_target_along_the_bars_path() {
        let bracketed = |stop: f64, take: f64| HostOrder {
            stop_loss: Some(stop),
            take_profit: Some(take),
            ..HostOrder::market(0, 1, 1.0)
        };
        // Bar 2 goes up to 112 first (its high is nearer the open), then down to 93: the
        // take-profit at 110 fills first.
        let bars = [
            ohlc(0, 100.0, 100.0, 100.0, 100.0),
            ohlc(1, 100.0, 101.0, 99.0, 100.0),
            ohlc(2, 105.0, 112.0, 93.0, 95.0),
            ohlc(3, 95.0, 95.0, 95.0, 95.0),
        ];
        let bt = run(&bars, &[bracketed(94.0, 110.0)], FREE);
        assert_eq!(bt.fills.len(), 2, "{:?}", bt.fills);
        assert_eq!((bt.fills[1].bar, bt.fills[1].price), (2, 110.0));
        assert_eq!(bt.trades[0].pnl, 10.0);
        // The low nearer the open: down to 93 first, the stop-loss at 94 fills.
        let mut down = bars;
        down[2] = ohlc(2, 96.0, 112.0, 93.0, 95.0);
        let bt = run(&down, &[bracketed(94.0, 110.0)], FREE);
        assert_eq!((bt.fills[1].bar, bt.fills[1].price), (2, 94.0));
        // Gapped through the stop at the open: out at the open, below the stop.
        let mut gap = bars;
        gap[2] = ohlc(2, 90.0, 91.0, 89.0, 90.0);
        let bt = run(&gap, &[bracketed(94.0, 110.0)], FREE);
        assert_eq!((bt.fills[1].bar, bt.fills[1].price), (2, 90.0));
        assert_eq!(bt.trades[0].pnl, -10.0);
        // A short's bracket is the other way round.
        let short = HostOrder {
            stop_loss: Some(111.0),
            take_profit: Some(94.0),
            ..HostOrder::market(0, -1, 1.0)
        };
        let bt = run(&bars, &[short], FREE);
        assert_eq!((bt.fills[1].bar, bt.fills[1].price), (2, 111.0));
        assert_eq!(bt.trades[0].pnl, -11.0);
    }

    #[test]
    fn a_fixed_fee_per_fill_and_the_borrow_of_a_short_are_charged() {
        let day = |i: i64, p: f64| SandboxBar {
            timestamp: i * 86_400,
            ..ohlc(0, p, p, p, p)
        };
        let bars: Vec<SandboxBar> = (0..12).map(|i| day(i, 100.0)).collect();
        let costs = CostModel {
            fixed_fee: 1.5,
            borrow_bps_per_year: 365.0 * 100.0,
            ..FREE
        };
        let bt = simulate(
            &bars,
            &[order(0, -1, 2.0), order(10, 0, 0.0)],
            1000.0,
            costs,
            365.0,
            1,
        );
        // Short 2 × 100 = 200 of notional for bars 1 … 10 at 1 % a day: 10 days (the first
        // close is a day after the fill's bar began): 2 per day for 10 closes.
        assert_eq!(bt.fills.len(), 2);
        let borrow = 200.0 * 0.01 * 10.0;
        let last = bt.equity.last().unwrap().1;
        assert!((last - (1000.0 - 3.0 - borrow)).abs() < 1e-9, "{last}");
        assert!((bt.trades[0].pnl - (-3.0 - borrow)).abs() < 1e-9);
    }

    #[test]
    fn the_account_view_is_the_book_after_each_close() {
        let bars = [
            bar(0, 100.0, 100.0),
            bar(1, 100.0, 110.0),
            bar(2, 110.0, 120.0),
        ];
        let mut book = Book::new(1000.0, FREE);
        book.step(&bars[0], &[]);
        assert_eq!(book.view().equity, 1000.0);
        book.step(&bars[1], &[order(0, 1, 2.0)]);
        let v = book.view();
        assert_eq!((v.position, v.average_price), (2.0, 100.0));
        assert_eq!((v.cash, v.equity), (800.0, 1020.0));
        book.step(&bars[2], &[order(1, 1, 3.0)]);
        let v = book.view();
        assert!((v.average_price - (200.0 + 110.0) / 3.0).abs() < 1e-12);
        assert_eq!(v.equity, 1000.0 - 200.0 - 110.0 + 360.0);
    }

    #[test]
    fn a_perpetuals_book_pays_funding_on_the_position_held_at_each_funding_time() {
        use crate::bars::funding::FundingRate;
        // The recorded FTX BTC-PERP minutes; funding each hour on the hour.
        let bars = crate::market::embedded("ftx-1m").unwrap();
        let bars = &bars[..600];
        let hours: Vec<i64> = bars
            .iter()
            .map(|b| b.timestamp)
            .filter(|t| t % 3600 == 0)
            .collect();
        assert!(hours.len() >= 9);
        let rates: Vec<FundingRate> = hours
            .iter()
            .enumerate()
            .map(|(i, t)| FundingRate {
                time: *t,
                rate: if i % 2 == 0 { 0.0001 } else { -0.00005 },
            })
            .collect();
        for direction in [1, -1] {
            // One unit held from the second bar to the end.
            let orders = [HostOrder::market(0, direction, 1.0)];
            let plain = simulate(bars, &orders, 100_000.0, FREE, 525_600.0, 1);
            let perp =
                simulate_with_funding(bars, &orders, 100_000.0, FREE, 525_600.0, 1, rates.clone());
            // Every funding time after the entry is paid, at its bar's close.
            let expected: Vec<(i64, f64)> = rates
                .iter()
                .filter(|r| r.time > bars[1].timestamp - 1)
                .map(|r| {
                    let bar = bars.iter().find(|b| b.timestamp == r.time).unwrap();
                    (r.time, f64::from(direction) * bar.close * r.rate)
                })
                .collect();
            let paid: Vec<(i64, f64)> = perp.funding.iter().map(|p| (p.time, p.paid)).collect();
            assert_eq!(paid, expected);
            // In the equity, and nowhere else.
            let total: f64 = expected.iter().map(|(_, p)| p).sum();
            let (end_plain, end_perp) = (
                plain.equity.last().unwrap().1,
                perp.equity.last().unwrap().1,
            );
            assert!(
                (end_plain - total - end_perp).abs() < 1e-6,
                "{end_plain} {total} {end_perp}"
            );
            assert_eq!(plain.fills, perp.fills);
        }
        // Bought and held as a baseline, the perpetual pays the funding of its position too.
        let held = buy_and_hold(bars, 100_000.0, FREE, 525_600.0);
        let paying = buy_and_hold_paying(bars, 100_000.0, FREE, 525_600.0, rates);
        let position = held.fills[0].quantity;
        let total: f64 = paying.funding.iter().map(|p| p.paid).sum();
        assert!(paying.funding.len() >= 9 && paying.funding.iter().all(|p| p.position == position));
        assert!(
            (held.equity.last().unwrap().1 - total - paying.equity.last().unwrap().1).abs() < 1e-6
        );
    }
}
