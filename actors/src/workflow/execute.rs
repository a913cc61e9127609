//! Execution venues, behind one trait ([`ExecutionVenue`]): where the orders a stage's model
//! decides go.
//!
//! - **`paper`** (the default, [`PaperVenue`]): the fill model itself (next open, fees,
//!   slippage, a fill delay when set). Its fills are the model's, on the log in the stage's
//!   marks; nothing leaves the process, and nothing needs reconciling.
//! - **Binance spot** ([`Exchange`], `EXECUTION_VENUE=binance`, on the real clock): a LIMITED
//!   or FULL run sends the orders its paper model decides to the exchange, exactly once.
//!
//! The exchange's orders:
//!
//! - **Write-ahead.** Each fill of a mark becomes an `order.submitted` in the mark's own batch
//!   (atomic: a mark is never on the log without its orders), with a client order id derived
//!   from the decision ([`crate::execution::client_order_id`]: the run, the bar, the order's
//!   number in it).
//! - **Sent from the log.** [`ExecutionVenue::send_pending`] sends every order the log holds as
//!   submitted and not acknowledged or rejected; the client asks the venue for the id before
//!   each send, so an order whose reply was lost, or whose acknowledgement a crash kept off the
//!   log, is found, not placed again. Each answer is an `order.acknowledged` (fills, average
//!   price, fee, execution time) or an `order.rejected` (the venue's refusal, an order the
//!   symbol's filters or `MAX_ORDER_NOTIONAL` refuse, a halt before it was sent).
//! - **Reconciled at start** ([`ExecutionVenue::reconcile`]): the pending orders are asked
//!   for, the venue's open orders and balances compared with the log; the balances and every
//!   difference are one `venue.reconciled`.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::future::BoxFuture;
use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::{
    AppendRequest, Event, OrderAcknowledged, OrderRejected, OrderSubmitted, ParityLedger,
    RiskState, Stage, StageFill, VenueBalance, VenueReconciled,
};
use uuid::Uuid;

use super::data_dir::DataDir;
use super::Result;
use crate::execution::{
    client_order_id, BinanceSpot, ExecutionError, ExecutionSettings, OrderRequest, Side,
    SymbolFilters,
};
use crate::stages::paper::PaperVenue;
use crate::stages::parity::{ledger, FillModel};
use crate::stages::realclock::StageMarket;
use crate::stages::runner::{StageOutcome, StageSettings};
use crate::validator::sandbox::runtime::SandboxBar;

/// How long a request to the venue may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where a stage's orders go. The stage's model decides them (on the bars it consumed); the
/// venue fills them: by the model itself (paper) or on an exchange.
pub trait ExecutionVenue: Send {
    /// Its name on the log (`paper`, `binance`).
    fn name(&self) -> &str;

    /// Whether orders leave the process (an exchange) rather than fill in the model (paper).
    fn sends_orders(&self) -> bool;

    /// Compares the venue's account with the log (at start) and records what it finds;
    /// returns the differences, one line each.
    ///
    /// # Errors
    /// The venue cannot be reached (nothing is recorded); the log's.
    fn reconcile<'a>(
        &'a mut self,
        dir: &'a DataDir,
        projections: &'a mut ProjectionFiles,
    ) -> BoxFuture<'a, Result<Vec<String>>>;

    /// The write-ahead events of the orders of `fills` (the model's, of `run` of `strategy`
    /// on `symbol`), to be recorded in one batch with what decided them. None on paper: its
    /// fills are the model's own.
    fn submissions<'a>(
        &'a mut self,
        strategy: Uuid,
        run: (Uuid, Stage),
        symbol: &'a str,
        fills: &'a [StageFill],
    ) -> BoxFuture<'a, Vec<Event>>;

    /// Sends what the log holds as submitted and not answered, and records each answer;
    /// returns a line for each order not acknowledged.
    ///
    /// # Errors
    /// The log's.
    fn send_pending<'a>(
        &'a mut self,
        dir: &'a DataDir,
        projections: &'a mut ProjectionFiles,
    ) -> BoxFuture<'a, Result<Vec<String>>>;

    /// The parity ledger of run `run_id`'s fills on this venue against the backtest over its
    /// `window`, when they differ from the paper model's (whose ledger is in `outcome`).
    fn ledger(
        &self,
        projections: &ProjectionFiles,
        run_id: Uuid,
        outcome: &StageOutcome,
        window: &[SandboxBar],
        settings: &StageSettings,
    ) -> Option<ParityLedger>;
}

/// The venue the stages trade on: the exchange `EXECUTION_VENUE` names on the real clock,
/// else `paper` (its fill model from `paper`).
///
/// # Errors
/// A missing opt-in or key, named (see [`ExecutionSettings::from_settings`]).
pub fn venue(
    settings: &super::settings::Settings,
    market: &StageMarket,
    paper: PaperVenue,
) -> Result<Box<dyn ExecutionVenue>> {
    Ok(match (market, Exchange::from_settings(settings)?) {
        (StageMarket::Store { .. }, Some(exchange)) => Box::new(exchange),
        _ => Box::new(paper),
    })
}

impl ExecutionVenue for PaperVenue {
    fn name(&self) -> &str {
        "paper"
    }

    fn sends_orders(&self) -> bool {
        false
    }

    fn reconcile<'a>(
        &'a mut self,
        _dir: &'a DataDir,
        _projections: &'a mut ProjectionFiles,
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        // No account beyond the log: nothing can differ.
        Box::pin(async { Ok(Vec::new()) })
    }

    fn submissions<'a>(
        &'a mut self,
        _strategy: Uuid,
        _run: (Uuid, Stage),
        _symbol: &'a str,
        _fills: &'a [StageFill],
    ) -> BoxFuture<'a, Vec<Event>> {
        Box::pin(async { Vec::new() })
    }

    fn send_pending<'a>(
        &'a mut self,
        _dir: &'a DataDir,
        _projections: &'a mut ProjectionFiles,
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn ledger(
        &self,
        _projections: &ProjectionFiles,
        _run_id: Uuid,
        _outcome: &StageOutcome,
        _window: &[SandboxBar],
        _settings: &StageSettings,
    ) -> Option<ParityLedger> {
        None
    }
}

impl ExecutionVenue for Exchange {
    fn name(&self) -> &str {
        &self.name
    }

    fn sends_orders(&self) -> bool {
        true
    }

    fn reconcile<'a>(
        &'a mut self,
        dir: &'a DataDir,
        projections: &'a mut ProjectionFiles,
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(reconcile(dir, projections, self))
    }

    fn submissions<'a>(
        &'a mut self,
        strategy: Uuid,
        run: (Uuid, Stage),
        symbol: &'a str,
        fills: &'a [StageFill],
    ) -> BoxFuture<'a, Vec<Event>> {
        Box::pin(self.orders(strategy, run, symbol, fills))
    }

    fn send_pending<'a>(
        &'a mut self,
        dir: &'a DataDir,
        projections: &'a mut ProjectionFiles,
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(send_pending(dir, projections, self))
    }

    fn ledger(
        &self,
        projections: &ProjectionFiles,
        run_id: Uuid,
        outcome: &StageOutcome,
        window: &[SandboxBar],
        settings: &StageSettings,
    ) -> Option<ParityLedger> {
        exchange_ledger(projections, self, run_id, outcome, window, settings)
    }
}

/// The execution venue of the stages that trade (LIMITED on the real clock).
pub struct Exchange {
    /// Its name on the log.
    name: String,
    client: BinanceSpot,
    /// Each symbol's filters and assets, asked once.
    symbols: BTreeMap<String, (SymbolFilters, (String, String))>,
}

impl Exchange {
    /// The exchange `EXECUTION_VENUE` names; `None` for the paper venue.
    fn from_settings(settings: &super::settings::Settings) -> Result<Option<Exchange>> {
        match ExecutionSettings::from_settings(settings)
            .map_err(|e| super::WorkflowError::Usage(e.to_string()))?
        {
            ExecutionSettings::Paper => Ok(None),
            ExecutionSettings::Binance {
                url,
                key,
                secret,
                max_order_notional,
            } => Ok(Some(Exchange {
                name: "binance".into(),
                client: BinanceSpot::new(&url, key, secret, max_order_notional, TIMEOUT)
                    .map_err(|e| super::WorkflowError::refused(e.to_string()))?,
                symbols: BTreeMap::new(),
            })),
        }
    }

    async fn symbol(
        &mut self,
        symbol: &str,
    ) -> std::result::Result<(SymbolFilters, (String, String)), ExecutionError> {
        if let Some(s) = self.symbols.get(symbol) {
            return Ok(s.clone());
        }
        let s = self.client.symbol(symbol).await?;
        self.symbols.insert(symbol.to_string(), s.clone());
        Ok(s)
    }

    /// The `order.submitted` events of `fills` (the model's, of `stage` of run `run_id` of
    /// `strategy` on `symbol`): one order each.
    async fn orders(
        &mut self,
        strategy: Uuid,
        (run_id, stage): (Uuid, Stage),
        symbol: &str,
        fills: &[StageFill],
    ) -> Vec<Event> {
        if fills.is_empty() {
            return Vec::new();
        }
        // The assets are for the account's books; a symbol the venue cannot tell about now is
        // submitted without them (sending it says why it cannot be traded).
        let (base, quote) = match self.symbol(symbol).await {
            Ok((_, assets)) => assets,
            Err(_) => (String::new(), String::new()),
        };
        let mut n_at: BTreeMap<i64, u32> = BTreeMap::new();
        fills
            .iter()
            .map(|f| {
                let n = n_at.entry(f.at).or_default();
                let id = client_order_id(run_id, f.at, *n);
                *n += 1;
                Event::from(OrderSubmitted {
                    strategy_id: strategy,
                    run_id,
                    stage,
                    venue: self.name.clone(),
                    symbol: symbol.to_string(),
                    base_asset: base.clone(),
                    quote_asset: quote.clone(),
                    client_order_id: id,
                    quantity: f.quantity,
                    decided_at: f.at,
                    model_price: f.price,
                })
            })
            .collect()
    }

    /// The acknowledgement event of `ack` for `order`.
    fn acknowledged(order: &OrderSubmitted, ack: &crate::execution::Ack) -> Event {
        Event::from(OrderAcknowledged {
            strategy_id: order.strategy_id,
            run_id: order.run_id,
            client_order_id: order.client_order_id.clone(),
            venue_order_id: ack.order_id,
            status: ack.status.clone(),
            executed_quantity: ack.signed_quantity(),
            average_price: ack.average_price(),
            fee: ack.fee,
            fee_asset: ack.fee_asset.clone(),
            transact_time_ms: ack.transact_time_ms,
            found: !ack.placed,
        })
    }
}

/// Records `events` about order `client_order_id` once.
async fn record_once(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    client_order_id: &str,
    events: Vec<Event>,
) -> Result<()> {
    dir.append(
        projections,
        AppendRequest::new(events).idempotent(format!("order:{client_order_id}")),
    )
    .await?;
    Ok(())
}

/// Sends every order the log holds as submitted and not yet answered, oldest first, and
/// records each answer. While trading is halted none is sent: each is rejected as such. A venue
/// that cannot be reached leaves the rest pending (sent at the next call, asked for first).
/// Returns a line for each order not acknowledged, and the first transport error.
///
/// # Errors
/// The log's.
async fn send_pending(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    exchange: &mut Exchange,
) -> Result<Vec<String>> {
    let mut pending: Vec<OrderSubmitted> = projections
        .state()
        .venue
        .pending
        .values()
        .cloned()
        .collect();
    pending.sort_by(|a, b| {
        (a.decided_at, &a.client_order_id).cmp(&(b.decided_at, &b.client_order_id))
    });
    let mut lines = Vec::new();
    for order in pending {
        let reject = |reason: String| {
            Event::from(OrderRejected {
                strategy_id: order.strategy_id,
                run_id: order.run_id,
                client_order_id: order.client_order_id.clone(),
                reason,
            })
        };
        if projections.state().risk.state == RiskState::Halted {
            let why = "trading was halted before it was sent".to_string();
            lines.push(format!("order {}: {why}", order.client_order_id));
            record_once(dir, projections, &order.client_order_id, vec![reject(why)]).await?;
            continue;
        }
        let filters = match exchange.symbol(&order.symbol).await {
            Ok((f, _)) => f,
            Err(e @ ExecutionError::Transport(_)) => {
                lines.push(format!("{}: {e}; the orders wait", exchange.name));
                break;
            }
            Err(e) => {
                let why = format!("{} cannot trade {}: {e}", exchange.name, order.symbol);
                lines.push(format!("order {}: {why}", order.client_order_id));
                record_once(dir, projections, &order.client_order_id, vec![reject(why)]).await?;
                continue;
            }
        };
        let request = OrderRequest {
            client_order_id: order.client_order_id.clone(),
            symbol: order.symbol.clone(),
            side: if order.quantity > 0.0 {
                Side::Buy
            } else {
                Side::Sell
            },
            quantity: order.quantity.abs(),
            limit: None,
            last_price: order.model_price,
        };
        match exchange.client.place(&request, &filters).await {
            Ok(ack) => {
                let event = Exchange::acknowledged(&order, &ack);
                record_once(dir, projections, &order.client_order_id, vec![event]).await?;
            }
            Err(e @ (ExecutionError::Invalid(_) | ExecutionError::Refused { .. })) => {
                lines.push(format!("order {}: {e}", order.client_order_id));
                record_once(
                    dir,
                    projections,
                    &order.client_order_id,
                    vec![reject(e.to_string())],
                )
                .await?;
            }
            Err(e) => {
                lines.push(format!("{}: {e}; the orders wait", exchange.name));
                break;
            }
        }
    }
    Ok(lines)
}

/// Compares the venue's account with the log (at start): each pending order is asked for (one
/// the venue has is acknowledged now, a difference), the venue's open orders of ours the log
/// does not know are differences, and its balances are compared with the last reconciliation's
/// moved by the log's fills since. Records the balances and the differences as one
/// `venue.reconciled`; returns the differences.
///
/// # Errors
/// The venue cannot be reached (nothing is recorded); the log's.
async fn reconcile(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    exchange: &mut Exchange,
) -> Result<Vec<String>> {
    let venue = |e: ExecutionError| {
        super::WorkflowError::refused(format!("cannot reconcile with the venue: {e}"))
    };
    let state = projections.state().venue.clone();
    let mut differences = Vec::new();
    let mut found = Vec::new();
    for order in state.pending.values() {
        if let Some(ack) = exchange
            .client
            .query(&order.symbol, &order.client_order_id)
            .await
            .map_err(venue)?
        {
            differences.push(format!(
                "order {} ({:+} {}) is on the venue ({}, {} filled) but its acknowledgement was not on the log: recorded now",
                order.client_order_id, order.quantity, order.symbol, ack.status, ack.executed_qty
            ));
            found.push((order.clone(), ack));
        }
    }
    let mut symbols: Vec<&String> = state.assets.keys().collect();
    symbols.sort();
    for symbol in symbols {
        for open in exchange.client.open_orders(symbol).await.map_err(venue)? {
            if open.client_order_id.starts_with("sg-")
                && !state.known.contains_key(&open.client_order_id)
            {
                differences.push(format!(
                    "the venue holds an open order {} on {symbol} ({} {}) that the log does not know",
                    open.client_order_id, open.side, open.executed_qty
                ));
            }
        }
    }
    let balances: Vec<VenueBalance> = exchange
        .client
        .balances()
        .await
        .map_err(venue)?
        .into_iter()
        .map(|(asset, free, locked)| VenueBalance {
            asset,
            free,
            locked,
        })
        .collect();
    if !state.balances.is_empty() {
        // What the acknowledgements found now moved too.
        let mut moved = state.moved.clone();
        for (order, ack) in &found {
            if let Some((base, quote)) = state.assets.get(&order.symbol) {
                *moved.entry(base.clone()).or_default() += ack.signed_quantity();
                *moved.entry(quote.clone()).or_default() -=
                    ack.signed_quantity() * ack.average_price();
                *moved.entry(ack.fee_asset.clone()).or_default() -= ack.fee;
            }
        }
        let held = |list: &[VenueBalance], asset: &str| {
            list.iter()
                .find(|b| b.asset == asset)
                .map_or(0.0, |b| b.free + b.locked)
        };
        let mut assets: Vec<&str> = balances
            .iter()
            .map(|b| b.asset.as_str())
            .chain(state.balances.iter().map(|b| b.asset.as_str()))
            .chain(moved.keys().map(String::as_str))
            .filter(|a| !a.is_empty())
            .collect();
        assets.sort_unstable();
        assets.dedup();
        for asset in assets {
            let before = held(&state.balances, asset);
            let by_fills = moved.get(asset).copied().unwrap_or(0.0);
            let expected = before + by_fills;
            let now = held(&balances, asset);
            if (now - expected).abs() > 1e-8 * expected.abs().max(1.0) {
                differences.push(format!(
                    "{asset}: the venue holds {now}, the log expects {expected} ({before} at the last reconciliation, {by_fills:+} by its fills since)"
                ));
            }
        }
    }
    let mut events: Vec<Event> = found
        .iter()
        .map(|(order, ack)| Exchange::acknowledged(order, ack))
        .collect();
    events.push(Event::from(VenueReconciled {
        venue: exchange.name.clone(),
        balances,
        differences: differences.clone(),
    }));
    dir.append(projections, AppendRequest::new(events)).await?;
    Ok(differences)
}

/// The parity ledger of LIMITED run `run_id` on the exchange: the fills the venue made (the
/// log's acknowledgements) against the backtest's over the same `window` of bars (those of
/// the run's paper ledger in `outcome`). `None` while an order of the run waits for its answer,
/// or when the run has no paper ledger.
fn exchange_ledger(
    projections: &ProjectionFiles,
    exchange: &Exchange,
    run_id: Uuid,
    outcome: &StageOutcome,
    window: &[SandboxBar],
    settings: &StageSettings,
) -> Option<ParityLedger> {
    let state = projections.state();
    let paper = outcome.parity.as_ref()?;
    if window.is_empty() || state.venue.pending.values().any(|o| o.run_id == run_id) {
        return None;
    }
    let backtest: Vec<_> = paper.rows.iter().filter_map(|r| r.backtest).collect();
    // The strategy's own orders: decided inside the window (not the order that closes the run).
    let last = window.last().map_or(i64::MIN, |b| b.timestamp);
    let fills: Vec<_> = state
        .venue
        .fills
        .get(&run_id)
        .into_iter()
        .flatten()
        .filter(|(decided, _)| *decided <= last)
        .map(|(_, f)| *f)
        .collect();
    let close = window.last().map_or(0.0, |b| b.close);
    let capital = settings.capital * outcome.capital_fraction;
    let equity = capital
        + fills
            .iter()
            .map(|f| f.quantity * (close - f.price) - f.fee)
            .sum::<f64>();
    let mut l = ledger(
        window,
        crate::market::bar_interval(window).max(1),
        &backtest,
        &settings.costs,
        &fills,
        FillModel::Exchange,
        (paper.backtest_equity, equity),
    );
    l.venue = exchange.name.clone();
    Some(l)
}

/// Ends run `run_id` (of `stage`) of `strategy` on `symbol` flat on `venue`: what its
/// acknowledged fills hold is closed by one more order (decided at `after`, the bar after its
/// last, priced at `close`), recorded first and sent. Nothing when the run holds nothing there
/// (on paper it never does: the model's book is the run's), or an order of it still waits
/// for its answer (the next call closes it).
///
/// # Errors
/// The log's.
#[allow(clippy::too_many_arguments)]
pub async fn close_run(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    venue: &mut dyn ExecutionVenue,
    strategy: Uuid,
    (run_id, stage): (Uuid, Stage),
    symbol: &str,
    after: i64,
    close: f64,
) -> Result<Vec<String>> {
    let state = projections.state();
    if state.venue.pending.values().any(|o| o.run_id == run_id) {
        return Ok(Vec::new());
    }
    let held: f64 = state
        .venue
        .fills
        .get(&run_id)
        .map_or(0.0, |f| f.iter().map(|(_, f)| f.quantity).sum());
    if held.abs() <= 1e-12 {
        return Ok(Vec::new());
    }
    let close = StageFill {
        at: after,
        quantity: -held,
        price: close,
        fee: 0.0,
    };
    let order = venue
        .submissions(strategy, (run_id, stage), symbol, &[close])
        .await;
    if !order.is_empty() {
        dir.append(
            projections,
            AppendRequest::new(order).idempotent(format!("close-run:{run_id}")),
        )
        .await?;
    }
    venue.send_pending(dir, projections).await
}

/// A stay (a LIMITED or FULL run trading on, read by the monitor) on `venue`: the fills of its
/// model after the last bar it sent an order for are sent as orders (recorded first, in one
/// batch), then every pending order. Nothing on paper.
///
/// # Errors
/// The log's.
pub async fn trade_stay(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    venue: &mut dyn ExecutionVenue,
    strategy: Uuid,
    (run_id, stage): (Uuid, Stage),
    symbol: &str,
    fills: &[StageFill],
) -> Result<Vec<String>> {
    let through = projections
        .state()
        .venue
        .submitted_through
        .get(&run_id)
        .copied()
        .unwrap_or(i64::MIN);
    let new: Vec<StageFill> = fills.iter().filter(|f| f.at > through).copied().collect();
    if let (Some(first), Some(last)) = (new.first(), new.last()) {
        let key = format!("stay-orders:{run_id}:{}-{}", first.at, last.at);
        let orders = venue
            .submissions(strategy, (run_id, stage), symbol, &new)
            .await;
        if !orders.is_empty() {
            dir.append(projections, AppendRequest::new(orders).idempotent(key))
                .await?;
        }
    }
    venue.send_pending(dir, projections).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::settings::Settings;

    fn paper() -> PaperVenue {
        PaperVenue::of(&StageSettings::default())
    }

    fn on_store(settings: &Settings) -> StageMarket {
        settings.stage_market(false).unwrap()
    }

    fn binance(extra: &[(&str, &str)]) -> Settings {
        let mut pairs = vec![
            ("EXECUTION_VENUE", "binance"),
            ("BINANCE_TRADE_URL", "http://127.0.0.1:9"),
            ("STAGE_MARKET", "binance:BTCUSDT:1h"),
        ];
        pairs.extend_from_slice(extra);
        Settings::from_pairs(pairs)
    }

    #[test]
    fn the_exchange_trades_only_on_the_real_clock_and_paper_everywhere_else() {
        let live = binance(&[
            ("LIVE_TRADING", "1"),
            ("BINANCE_API_KEY", "k"),
            ("BINANCE_API_SECRET", "s"),
        ]);
        let on_exchange = venue(&live, &on_store(&live), paper()).unwrap();
        assert_eq!(on_exchange.name(), "binance");
        assert!(on_exchange.sends_orders());
        // The recording's simulated clock never sends an order anywhere.
        let recorded = venue(&live, &StageMarket::Recorded, paper()).unwrap();
        assert_eq!(recorded.name(), "paper");
        assert!(!recorded.sends_orders());
        // Paper is the default.
        let default = Settings::from_pairs([("STAGE_MARKET", "binance:BTCUSDT:1h")]);
        let v = venue(&default, &on_store(&default), paper()).unwrap();
        assert_eq!(v.name(), "paper");
    }

    #[test]
    fn an_exchange_without_its_opt_in_and_keys_names_what_is_missing() {
        let s = binance(&[]);
        let e = venue(&s, &on_store(&s), paper()).err().unwrap().to_string();
        for missing in ["LIVE_TRADING=1", "BINANCE_API_KEY", "BINANCE_API_SECRET"] {
            assert!(e.contains(missing), "{e}");
        }
    }

    #[tokio::test]
    async fn paper_fills_in_its_model_so_nothing_is_sent_recorded_or_reconciled() {
        let root = tempfile::tempdir().unwrap();
        let dir = DataDir::open(root.path()).unwrap();
        let mut projections = dir.projections().unwrap();
        let mut v: Box<dyn ExecutionVenue> = Box::new(paper());
        let fill = StageFill {
            at: 3_600,
            quantity: 0.5,
            price: 100.0,
            fee: 0.05,
        };
        let run = (Uuid::now_v7(), Stage::Limited);
        let orders = v.submissions(Uuid::now_v7(), run, "BTCUSDT", &[fill]).await;
        assert!(orders.is_empty());
        assert!(v
            .reconcile(&dir, &mut projections)
            .await
            .unwrap()
            .is_empty());
        assert!(v
            .send_pending(&dir, &mut projections)
            .await
            .unwrap()
            .is_empty());
        let lines = trade_stay(
            &dir,
            &mut projections,
            v.as_mut(),
            Uuid::now_v7(),
            run,
            "BTCUSDT",
            &[fill],
        )
        .await
        .unwrap();
        assert!(lines.is_empty());
        // Nothing reached the log.
        assert_eq!(projections.state().venue.pending.len(), 0);
        assert_eq!(projections.state().venue.known.len(), 0);
    }
}
