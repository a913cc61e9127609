//! The stratagem strategy SDK: the contract every strategy follows.
//!
//! A strategy is a `pub struct …Strategy` implementing [`Strategy`]. Each bar, the host calls
//! [`Strategy::should_trade`] with the bar (the strategy keeps whatever history it needs); a
//! signal goes to [`Strategy::execute`], which turns it into an order: market, limit or stop,
//! with an optional stop-loss and take-profit ([`Order`], [`OrderKind`]). [`Account::current`]
//! reads the account (position, average price, equity, cash) as of the bar's close.
//! [`GoalValidator::gate`]
//! (the confidence gate) and [`RiskController::size`] (position sizing) are host functions, so
//! the host's limits apply; the host clamps every order to its risk limits again.
//!
//! This crate is trusted code of stratagem, compiled once to a wasm32 rlib. Its only `unsafe`
//! is the declaration of the host imports; strategies are compiled with `-F unsafe_code`.

/// One bar of market data. Prices in quote currency; `timestamp` in unix seconds (bar close).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// Close time, unix seconds.
    pub timestamp: i64,
    /// Open price.
    pub open: f64,
    /// High price.
    pub high: f64,
    /// Low price.
    pub low: f64,
    /// Close price.
    pub close: f64,
    /// Volume.
    pub volume: f64,
    /// The series it is of: its index among the strategy's legs (0 for a strategy over one).
    /// A strategy over several series sees every leg's bar of a time, leg 0 first, before any
    /// bar of the next time: each only once every leg has closed it.
    pub leg: usize,
}

/// Which way to be positioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Long.
    Long,
    /// Short.
    Short,
    /// No position.
    Flat,
}

impl Direction {
    /// The code passed to the host.
    pub fn code(self) -> i32 {
        match self {
            Direction::Long => 1,
            Direction::Short => -1,
            Direction::Flat => 0,
        }
    }
}

/// A trading signal with a confidence in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signal {
    /// Direction.
    pub direction: Direction,
    /// Confidence in [0, 1].
    pub confidence: f64,
}

impl Signal {
    /// A signal; confidence is clamped to [0, 1] (NaN becomes 0).
    pub fn new(direction: Direction, confidence: f64) -> Signal {
        let confidence = if confidence.is_nan() {
            0.0
        } else {
            confidence.clamp(0.0, 1.0)
        };
        Signal {
            direction,
            confidence,
        }
    }
}

/// How an order executes. Orders of a bar reach the market from the next bar (fills never
/// use the bar that was seen); an order works until it fills or the next order replaces it.
///
/// Intrabar rules: a bar's prices are taken to move from the open to the extreme nearer the
/// open (the low on a tie), then to the other extreme, then to the close. Along that path a stop
/// or limit fills where the price first reaches it; one already passed at the open fills at the
/// open (a gap fills at the open, not at its price). A stop-loss and a take-profit reached at the
/// same point: the stop-loss first. Market and stop fills pay the slippage and the taker fee;
/// limit fills (take-profits included) pay the maker fee and no slippage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OrderKind {
    /// At the next bar's open.
    Market,
    /// At this price or better: a buy at or below it, a sell at or above it.
    Limit(f64),
    /// Once the price trades through this price (a buy at or above it, a sell at or below it),
    /// as a market order.
    Stop(f64),
    /// Cancels the working order (the position and its bracket stay).
    Cancel,
}

/// An order: a target position in `direction` of `quantity` units, reached as its `kind` says,
/// with an optional stop-loss and take-profit (a bracket) on the position it opens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Order {
    /// Direction of the target position.
    pub direction: Direction,
    /// Units of the base asset.
    pub quantity: f64,
    /// Market, limit, stop or cancel.
    pub kind: OrderKind,
    /// Closes the position when the price goes against it to here (a long's is below its
    /// take-profit, a short's above).
    pub stop_loss: Option<f64>,
    /// Closes the position when the price goes its way to here.
    pub take_profit: Option<f64>,
    /// The leg (series) it trades: 0 for a strategy over one.
    pub leg: usize,
}

impl Order {
    /// A market order for a target position.
    pub fn market(direction: Direction, quantity: f64) -> Order {
        Order {
            direction,
            quantity,
            kind: OrderKind::Market,
            stop_loss: None,
            take_profit: None,
            leg: 0,
        }
    }

    /// Close any position.
    pub fn flat() -> Order {
        Order::market(Direction::Flat, 0.0)
    }

    /// A limit order for a target position: fills at `price` or better.
    pub fn limit(direction: Direction, quantity: f64, price: f64) -> Order {
        Order {
            kind: OrderKind::Limit(price),
            ..Order::market(direction, quantity)
        }
    }

    /// A stop order for a target position: becomes a market order once the price trades
    /// through `price`.
    pub fn stop(direction: Direction, quantity: f64, price: f64) -> Order {
        Order {
            kind: OrderKind::Stop(price),
            ..Order::market(direction, quantity)
        }
    }

    /// Cancels the working order.
    pub fn cancel() -> Order {
        Order {
            kind: OrderKind::Cancel,
            ..Order::flat()
        }
    }

    /// This order for the leg `leg` (a strategy over several series; 0 is the first).
    pub fn on_leg(self, leg: usize) -> Order {
        Order { leg, ..self }
    }

    /// This order with a stop-loss at `price` on the position it opens.
    pub fn with_stop_loss(self, price: f64) -> Order {
        Order {
            stop_loss: Some(price),
            ..self
        }
    }

    /// This order with a take-profit at `price` on the position it opens.
    pub fn with_take_profit(self, price: f64) -> Order {
        Order {
            take_profit: Some(price),
            ..self
        }
    }
}

/// The strategy's account as of the close of the bar it is looking at (fills up to that bar,
/// marked at its close): read-only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Account {
    /// Units held: positive long, negative short, 0 flat.
    pub position: f64,
    /// Average entry price of the position (0 when flat).
    pub average_price: f64,
    /// Cash plus the position at the close.
    pub equity: f64,
    /// Cash, in quote currency.
    pub cash: f64,
}

impl Account {
    /// The account now (the host keeps it; a strategy cannot change it but by orders).
    pub fn current() -> Account {
        let mut slot = [0u64; 4];
        // SAFETY: the host writes at most 32 bytes at `out`, bounds-checked against this
        // module's memory, and `slot` is 32 bytes.
        let given = unsafe { host::account(slot.as_mut_ptr()) };
        if given != 1 {
            return Account {
                position: 0.0,
                average_price: 0.0,
                equity: 0.0,
                cash: 0.0,
            };
        }
        Account {
            position: f64::from_bits(slot[0]),
            average_price: f64::from_bits(slot[1]),
            equity: f64::from_bits(slot[2]),
            cash: f64::from_bits(slot[3]),
        }
    }

    /// Whether a position is held.
    pub fn is_flat(&self) -> bool {
        self.position == 0.0
    }
}

/// What the market says beside bars.
pub struct Market;

impl Market {
    /// The funding rate of the perpetual traded as leg `leg`: the latest whose funding time
    /// the newest bar handed out has reached (a rate for one interval, 0.0001 is 0.01 %), or
    /// `None` when the host was given none (a spot leg, or no funding data).
    pub fn funding_rate(leg: usize) -> Option<f64> {
        let rate = host::funding(i32::try_from(leg).unwrap_or(i32::MAX));
        rate.is_finite().then_some(rate)
    }
}

/// What went wrong inside a strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyError {
    /// Our own description.
    pub message: String,
}

impl StrategyError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> StrategyError {
        StrategyError {
            message: message.into(),
        }
    }
}

impl core::fmt::Display for StrategyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The contract of a strategy.
pub trait Strategy {
    /// The series it trades (its legs): 1, or 2 for a pair (a spread, a perpetual against its
    /// spot). The host gives it every leg's bar of a time (`Bar::leg`), leg 0 first, once all
    /// have closed it; its orders name their leg (`Order::on_leg`).
    const LEGS: usize = 1;

    /// A fresh strategy with its default parameters.
    fn new() -> Self
    where
        Self: Sized;

    /// Sees the current bar; returns a signal when it wants to trade.
    ///
    /// # Errors
    /// A [`StrategyError`] is logged by the host and the bar is skipped.
    fn should_trade(&mut self, bar: &Bar) -> Result<Option<Signal>, StrategyError>;

    /// Turns a signal into an order (or none).
    ///
    /// # Errors
    /// A [`StrategyError`] is logged by the host and the bar is skipped.
    fn execute(&mut self, signal: Signal, bar: &Bar) -> Result<Option<Order>, StrategyError>;
}

#[cfg(target_arch = "wasm32")]
mod host {
    #[link(wasm_import_module = "stratagem")]
    unsafe extern "C" {
        pub safe fn gate(confidence: f64) -> i32;
        pub safe fn size(confidence: f64, price: f64) -> f64;
        pub safe fn order(leg: i32, direction: i32, quantity: f64, confidence: f64) -> i32;
        pub unsafe fn log(level: i32, ptr: *const u8, len: usize) -> i32;
        pub unsafe fn bars(out: *mut u64, max: i32, errors: i32, handed: *mut u32) -> i32;
        #[allow(clippy::too_many_arguments)]
        pub safe fn place(
            leg: i32,
            kind: i32,
            direction: i32,
            quantity: f64,
            price: f64,
            stop_loss: f64,
            take_profit: f64,
            confidence: f64,
        ) -> i32;
        pub unsafe fn account(out: *mut u64) -> i32;
        pub safe fn funding(leg: i32) -> f64;
    }
}

/// Native stand-ins for the host functions, with the sandbox's default risk limits, so the same
/// strategy can run natively (the per-bar cost benchmark compares the two).
#[cfg(not(target_arch = "wasm32"))]
pub mod host {
    use std::cell::RefCell;

    const CAPITAL: f64 = 100_000.0;
    const MIN_CONFIDENCE: f64 = 0.5;

    thread_local! {
        static ORDERS: RefCell<Vec<(i32, f64)>> = const { RefCell::new(Vec::new()) };
    }

    pub fn gate(confidence: f64) -> i32 {
        i32::from((MIN_CONFIDENCE..=1.0).contains(&confidence))
    }

    pub fn size(confidence: f64, price: f64) -> f64 {
        if price.is_finite() && price > 0.0 {
            CAPITAL * confidence.clamp(0.0, 1.0) / price
        } else {
            0.0
        }
    }

    pub fn order(_leg: i32, direction: i32, quantity: f64, confidence: f64) -> i32 {
        if direction != 0 && gate(confidence) == 0 {
            return -1;
        }
        // No price here: the cap is the capital, as before the wasm host's sizing.
        let quantity = quantity.min(CAPITAL);
        ORDERS.with(|o| o.borrow_mut().push((direction, quantity)));
        0
    }

    /// Lines the sandbox keeps by default: past them the host says it wants no more.
    const MAX_LOG_LINES: u32 = 1000;

    thread_local! {
        static LOG_LINES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }

    /// Counts the line as the sandbox does (nothing is printed): 1 while more are kept, else 0.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes (the SDK passes a `&str`).
    pub unsafe fn log(_level: i32, _ptr: *const u8, _len: usize) -> i32 {
        LOG_LINES.with(|n| {
            n.set(n.get().saturating_add(1));
            i32::from(n.get() < MAX_LOG_LINES)
        })
    }

    /// Any order natively: recorded as a market order (the native stand-in has no book).
    #[allow(clippy::too_many_arguments)]
    pub fn place(
        leg: i32,
        _kind: i32,
        direction: i32,
        quantity: f64,
        _price: f64,
        _stop_loss: f64,
        _take_profit: f64,
        confidence: f64,
    ) -> i32 {
        order(leg, direction, quantity, confidence)
    }

    /// The native stand-in's account: flat with its capital.
    ///
    /// # Safety
    /// `out` must point to 4 writable `u64`s (the SDK passes its slot).
    pub unsafe fn account(out: *mut u64) -> i32 {
        let view = [0.0, 0.0, CAPITAL, CAPITAL];
        for (i, v) in view.iter().enumerate() {
            // SAFETY: the caller's slot holds 4 words.
            unsafe { out.add(i).write(v.to_bits()) };
        }
        1
    }

    /// No bars natively: the native benchmark drives each bar itself.
    ///
    /// # Safety
    /// Never writes to `out` or reads `handed`.
    pub unsafe fn bars(_out: *mut u64, _max: i32, _errors: i32, _handed: *mut u32) -> i32 {
        0
    }

    /// No funding natively.
    pub fn funding(_leg: i32) -> f64 {
        f64::NAN
    }

    /// Starts a run: no orders, no lines logged.
    pub fn reset() {
        ORDERS.with(|o| o.borrow_mut().clear());
        LOG_LINES.with(|n| n.set(0));
        super::LOG_OPEN.store(true, core::sync::atomic::Ordering::Relaxed);
    }

    /// Takes the orders placed so far on this thread.
    pub fn take_orders() -> Vec<(i32, f64)> {
        ORDERS.with(|o| std::mem::take(&mut *o.borrow_mut()))
    }
}

/// The confidence gate (the seed's `agent_goals`): the host decides whether a confidence is
/// high enough to act on.
pub struct GoalValidator;

impl GoalValidator {
    /// Whether a signal of this confidence may trade.
    ///
    /// # Errors
    /// When the confidence is not a number in [0, 1].
    pub fn gate(confidence: f64) -> Result<bool, StrategyError> {
        if !(0.0..=1.0).contains(&confidence) {
            return Err(StrategyError::new("confidence must be within [0, 1]"));
        }
        Ok(host::gate(confidence) == 1)
    }
}

/// Position sizing (the seed's `risk_controller`): the host sizes the position within its
/// risk limits.
pub struct RiskController;

impl RiskController {
    /// Units of the base asset to hold for a signal of this confidence at this price.
    ///
    /// # Errors
    /// When the price is not positive or the host refuses to size.
    pub fn size(confidence: f64, price: f64) -> Result<f64, StrategyError> {
        if price.is_nan() || price <= 0.0 {
            return Err(StrategyError::new("price must be positive"));
        }
        let quantity = host::size(confidence, price);
        if quantity.is_finite() && quantity >= 0.0 {
            Ok(quantity)
        } else {
            Err(StrategyError::new("the host refused to size this position"))
        }
    }
}

/// Log levels understood by the host.
pub mod level {
    /// Debug.
    pub const DEBUG: i32 = 0;
    /// Info.
    pub const INFO: i32 = 1;
    /// Warning.
    pub const WARN: i32 = 2;
    /// Error.
    pub const ERROR: i32 = 3;
}

/// Whether the host still keeps log lines (it keeps a limited number per run).
static LOG_OPEN: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(true);

/// Sends a log line to the host (use the `log_*!` macros).
pub fn log(level: i32, message: &str) {
    // SAFETY: the host reads `len` bytes at `ptr` from this module's memory, bounds-checked.
    let more = unsafe { host::log(level, message.as_ptr(), message.len()) };
    if more == 0 {
        LOG_OPEN.store(false, core::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether a log line would still be kept: the `log_*!` macros format their line only then (a
/// line nobody keeps costs nothing). The host counts and caps lines whatever this says.
#[doc(hidden)]
pub fn log_wanted() -> bool {
    LOG_OPEN.load(core::sync::atomic::Ordering::Relaxed)
}

/// Logs at info level, with `format!` arguments.
#[macro_export]
macro_rules! log_info {
    ($($arg:tt)*) => {
        if $crate::log_wanted() {
            $crate::log($crate::level::INFO, &::std::format!($($arg)*))
        }
    };
}

/// Logs at warning level.
#[macro_export]
macro_rules! log_warn {
    ($($arg:tt)*) => {
        if $crate::log_wanted() {
            $crate::log($crate::level::WARN, &::std::format!($($arg)*))
        }
    };
}

/// Logs at debug level.
#[macro_export]
macro_rules! log_debug {
    ($($arg:tt)*) => {
        if $crate::log_wanted() {
            $crate::log($crate::level::DEBUG, &::std::format!($($arg)*))
        }
    };
}

/// Everything a strategy needs: `use stratagem_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{log_debug, log_info, log_warn};
    pub use crate::{
        place_order, Account, Bar, Direction, GoalValidator, Market, Order, OrderKind,
        RiskController, Signal, Strategy, StrategyError,
    };
}

/// Places an order with the host at `confidence`, as the order `execute` returns is placed.
/// A strategy over several series calls it for the other legs' orders of the same decision
/// (the host counts and caps the orders of a bar). Returns 0 when the host took it, -1 when it
/// refused it as malformed (or for a leg the strategy does not trade), -2 below its gate.
pub fn place_order(order: Order, confidence: f64) -> i32 {
    let (kind, price) = match order.kind {
        OrderKind::Market => (0, f64::NAN),
        OrderKind::Limit(price) => (1, price),
        OrderKind::Stop(price) => (2, price),
        OrderKind::Cancel => (3, f64::NAN),
    };
    let leg = i32::try_from(order.leg).unwrap_or(i32::MAX);
    if kind == 0 && order.stop_loss.is_none() && order.take_profit.is_none() {
        host::order(leg, order.direction.code(), order.quantity, confidence)
    } else {
        host::place(
            leg,
            kind,
            order.direction.code(),
            order.quantity,
            price,
            order.stop_loss.unwrap_or(f64::NAN),
            order.take_profit.unwrap_or(f64::NAN),
            confidence,
        )
    }
}

/// Drives one bar through a strategy: `should_trade`, then `execute`, then the order to the
/// host with the signal's confidence. The host refuses an order whose confidence is below its
/// gate, and sizes it itself (the quantity asked is at most what the host sizes). Returns 0, or
/// 1 when the strategy returned an error (logged). Called by the glue; a strategy calling it
/// gains nothing, as the host counts and caps its calls per bar.
#[doc(hidden)]
pub fn drive<S: Strategy>(strategy: &mut S, bar: Bar) -> i32 {
    let signal = match strategy.should_trade(&bar) {
        Ok(Some(signal)) => signal,
        Ok(None) => return 0,
        Err(e) => {
            log(level::ERROR, &e.message);
            return 1;
        }
    };
    match strategy.execute(signal, &bar) {
        Ok(Some(order)) => {
            place_order(order, signal.confidence);
            0
        }
        Ok(None) => 0,
        Err(e) => {
            log(level::ERROR, &e.message);
            1
        }
    }
}

/// Bars the host writes into this module's memory at once.
const FEED_BARS: usize = 256;

/// The bars of the batch the host wrote, and how many were handed to the strategy. The host
/// reads `handed` (its address is given with each request) whenever the strategy calls it, so
/// every order, size and account read is the host's at the newest bar handed out; a bar still
/// in the buffer is one the strategy has not reached and the SDK does not show it.
#[repr(C)]
struct Feed {
    handed: u32,
    len: u32,
    errors: u32,
    words: [u64; 7 * FEED_BARS],
}

thread_local! {
    static FEED: core::cell::RefCell<Feed> = const {
        core::cell::RefCell::new(Feed { handed: 0, len: 0, errors: 0, words: [0; 7 * FEED_BARS] })
    };
}

/// The next bar, reporting how the previous one went (`drive`'s result; 0 for the first).
/// The host writes bars already closed into this module's memory a batch at a time (one call
/// for up to 256 bars, not one per bar); they are handed out here one at a time, in order. A
/// bar is the newest the strategy has seen from the moment it is handed out, and every order
/// and size that follows is the host's at that bar (so taking bars early only loses them).
/// The host gives each batch its fuel (per bar, pooled over the batch), resets each bar's
/// host-call counts as it reaches it, and sets the (live) deadline. `None` ends the run's
/// batch. Called by the glue's loop: one call into the module runs a whole batch of bars.
#[doc(hidden)]
pub fn next_bar(previous: i32) -> Option<Bar> {
    FEED.with(|feed| {
        let mut feed = feed.borrow_mut();
        let feed = &mut *feed;
        if previous != 0 {
            feed.errors = feed.errors.saturating_add(1);
        }
        if feed.handed >= feed.len {
            let errors = core::mem::take(&mut feed.errors);
            // SAFETY: the host writes at most `FEED_BARS` bars (56 bytes each) at `out`,
            // bounds-checked against this module's memory, into `words`, which holds that many;
            // it only reads the 4 bytes at `handed`.
            let given = unsafe {
                host::bars(
                    feed.words.as_mut_ptr(),
                    FEED_BARS as i32,
                    errors as i32,
                    &mut feed.handed as *mut u32,
                )
            };
            feed.handed = 0;
            feed.len = given.clamp(0, FEED_BARS as i32) as u32;
            if feed.len == 0 {
                return None;
            }
        }
        let at = feed.handed as usize * 7;
        feed.handed += 1;
        let w = &feed.words[at..at + 7];
        Some(Bar {
            timestamp: w[0] as i64,
            open: f64::from_bits(w[1]),
            high: f64::from_bits(w[2]),
            low: f64::from_bits(w[3]),
            close: f64::from_bits(w[4]),
            volume: f64::from_bits(w[5]),
            leg: w[6] as usize,
        })
    })
}

/// Installs a panic hook that reports the panic message to the host before the module traps.
#[doc(hidden)]
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = match info.payload().downcast_ref::<&str>() {
            Some(s) => (*s).to_string(),
            None => info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "panic".to_string()),
        };
        log(4, &message);
    }));
}
