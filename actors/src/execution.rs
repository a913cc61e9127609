//! Execution venues: where a stage's orders go. `paper` (the default) is the backtest's fill
//! model (`stages::paper`); **Binance spot** is the exchange's signed REST API (testnet or live):
//!
//! - every request that touches the account is signed: the query string, with `timestamp`
//!   (the venue's clock, from `/api/v3/time`) and `recvWindow`, gets an HMAC-SHA256
//!   `signature` under the API secret, and the key goes in `X-MBX-APIKEY`;
//! - orders are made valid before they are sent, with the symbol's filters from
//!   `/api/v3/exchangeInfo`: `LOT_SIZE` (quantity floored to `stepSize`, within
//!   `minQty`/`maxQty`), `PRICE_FILTER` (price to `tickSize`), `NOTIONAL`/`MIN_NOTIONAL`;
//! - each order's `newClientOrderId` derives from what decided it ([`client_order_id`]: the
//!   stage run, the bar, the order's number in the bar), and [`BinanceSpot::place`] first asks
//!   the venue for that id: a retry after a lost reply, or after a crash, finds the order
//!   placed and never places a second one;
//! - `MAX_ORDER_NOTIONAL` refuses an order whose notional is larger, before it is sent.
//!
//! Live trading needs `EXECUTION_VENUE=binance`, the opt-in `LIVE_TRADING=1` and both keys;
//! [`ExecutionSettings::from_settings`] names whatever is missing. The keys are [`Secret`]s:
//! never in `Debug`, an error, an event, a log line or `config show`.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::generator::llm::Secret;

/// Why an order or a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecutionError {
    /// The venue could not be reached, or did not answer in time.
    #[error("binance: {0}")]
    Transport(String),
    /// The venue refused (its code and message).
    #[error("binance refused ({code}): {message}")]
    Refused {
        /// Binance's error code (`-2010`, …), or the HTTP status.
        code: i64,
        /// Its message.
        message: String,
    },
    /// The venue answered with something that is not its format.
    #[error("binance: the answer is not in its format: {0}")]
    Format(String),
    /// The order cannot be made valid under the symbol's filters or the risk limits.
    #[error("order refused before it was sent: {0}")]
    Invalid(String),
}

/// A symbol's trading rules, from `/api/v3/exchangeInfo`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SymbolFilters {
    /// `LOT_SIZE.stepSize`.
    pub step_size: f64,
    /// `LOT_SIZE.minQty`.
    pub min_qty: f64,
    /// `LOT_SIZE.maxQty`.
    pub max_qty: f64,
    /// `PRICE_FILTER.tickSize` (0: none).
    pub tick_size: f64,
    /// `NOTIONAL.minNotional` or `MIN_NOTIONAL.minNotional` (0: none).
    pub min_notional: f64,
}

/// Floors `x` to a multiple of `step` (decimal steps such as 0.00001 included).
fn floor_to(x: f64, step: f64) -> f64 {
    if step <= 0.0 {
        return x;
    }
    let n = (x / step + 1e-9).floor();
    // Rounded to the step's decimals, so 0.1 + 0.2 prints as 0.3.
    let decimals = (-step.log10()).ceil().max(0.0) as i32;
    let scale = 10f64.powi(decimals);
    (n * step * scale).round() / scale
}

impl SymbolFilters {
    /// The filters of `symbol` in an `exchangeInfo` answer.
    ///
    /// # Errors
    /// The symbol is not there, or its filters are not in Binance's format.
    pub fn parse(info: &serde_json::Value, symbol: &str) -> Result<SymbolFilters, ExecutionError> {
        let s = info["symbols"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["symbol"] == symbol))
            .ok_or_else(|| ExecutionError::Format(format!("no symbol {symbol} in exchangeInfo")))?;
        let filters = s["filters"]
            .as_array()
            .ok_or_else(|| ExecutionError::Format(format!("{symbol} has no filters")))?;
        let of = |kind: &str, field: &str| -> Option<f64> {
            filters
                .iter()
                .find(|f| f["filterType"] == kind)
                .and_then(|f| f[field].as_str())
                .and_then(|v| v.parse().ok())
        };
        let step_size = of("LOT_SIZE", "stepSize")
            .ok_or_else(|| ExecutionError::Format(format!("{symbol} has no LOT_SIZE")))?;
        Ok(SymbolFilters {
            step_size,
            min_qty: of("LOT_SIZE", "minQty").unwrap_or(0.0),
            max_qty: of("LOT_SIZE", "maxQty").unwrap_or(f64::MAX),
            tick_size: of("PRICE_FILTER", "tickSize").unwrap_or(0.0),
            min_notional: of("NOTIONAL", "minNotional")
                .or_else(|| of("MIN_NOTIONAL", "minNotional"))
                .unwrap_or(0.0),
        })
    }

    /// The base and quote assets of `symbol` in an `exchangeInfo` answer.
    ///
    /// # Errors
    /// The symbol is not there, or has no assets.
    pub fn assets(
        info: &serde_json::Value,
        symbol: &str,
    ) -> Result<(String, String), ExecutionError> {
        let s = info["symbols"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["symbol"] == symbol))
            .ok_or_else(|| ExecutionError::Format(format!("no symbol {symbol} in exchangeInfo")))?;
        match (s["baseAsset"].as_str(), s["quoteAsset"].as_str()) {
            (Some(b), Some(q)) => Ok((b.to_string(), q.to_string())),
            _ => Err(ExecutionError::Format(format!(
                "{symbol} has no baseAsset/quoteAsset"
            ))),
        }
    }

    /// `quantity` floored to the lot step and `price` to the tick, checked against the
    /// quantity bounds and the minimum notional (at `price`, the last price for a market
    /// order).
    ///
    /// # Errors
    /// [`ExecutionError::Invalid`], naming the rule.
    pub fn valid(&self, quantity: f64, price: f64) -> Result<(f64, f64), ExecutionError> {
        let q = floor_to(quantity, self.step_size);
        let p = floor_to(price, self.tick_size);
        if q < self.min_qty || q <= 0.0 {
            return Err(ExecutionError::Invalid(format!(
                "quantity {quantity} is {q} on the lot step {}, under the minimum {}",
                self.step_size, self.min_qty
            )));
        }
        if q > self.max_qty {
            return Err(ExecutionError::Invalid(format!(
                "quantity {q} is over the maximum {}",
                self.max_qty
            )));
        }
        if q * p < self.min_notional {
            return Err(ExecutionError::Invalid(format!(
                "notional {:.8} is under the minimum {}",
                q * p,
                self.min_notional
            )));
        }
        Ok((q, p))
    }
}

/// The `newClientOrderId` of the `n`-th order a stage run placed on the bar opening at `bar`:
/// the same decision gives the same id in every run and every retry (Binance allows 36
/// characters of `[A-Za-z0-9-_]`).
pub fn client_order_id(run_id: Uuid, bar: i64, n: u32) -> String {
    let digest = Sha256::digest(format!("{run_id}/{bar}/{n}").as_bytes());
    let hex: String = digest[..15].iter().map(|b| format!("{b:02x}")).collect();
    format!("sg-{hex}")
}

/// The HMAC-SHA256 of `query` under `secret`, hex: Binance's `signature`.
pub fn sign(secret: &str, query: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(query.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `BUY`.
    Buy,
    /// `SELL`.
    Sell,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

/// An order to send.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRequest {
    /// Its `newClientOrderId` ([`client_order_id`]).
    pub client_order_id: String,
    /// The symbol (`BTCUSDT`).
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Base-asset quantity, before the lot step.
    pub quantity: f64,
    /// The limit price; `None`: a market order.
    pub limit: Option<f64>,
    /// The last price (a market order's notional is checked at it).
    pub last_price: f64,
}

/// The venue's word on an order.
#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    /// Its `clientOrderId`.
    pub client_order_id: String,
    /// The venue's `orderId`.
    pub order_id: u64,
    /// `NEW`, `FILLED`, `PARTIALLY_FILLED`, `CANCELED`, …
    pub status: String,
    /// Quantity filled.
    pub executed_qty: f64,
    /// Quote quantity filled (price × quantity summed).
    pub quote_qty: f64,
    /// Whether this call placed it (false: it was on the venue already — a retry).
    pub placed: bool,
    /// The symbol's side (`BUY`/`SELL`).
    pub side: String,
    /// Fees charged on its fills (from the order's `fills`, else its trades).
    pub fee: f64,
    /// The asset they were charged in (empty when none).
    pub fee_asset: String,
    /// When it executed (`transactTime`, else `updateTime`/`time`), unix milliseconds.
    pub transact_time_ms: i64,
}

impl Ack {
    /// The average fill price (0 when nothing filled).
    pub fn average_price(&self) -> f64 {
        if self.executed_qty > 0.0 {
            self.quote_qty / self.executed_qty
        } else {
            0.0
        }
    }

    /// Units filled, bought (+) or sold (−).
    pub fn signed_quantity(&self) -> f64 {
        if self.side == "SELL" {
            -self.executed_qty
        } else {
            self.executed_qty
        }
    }

    /// Adds the fees of `fills` (`[{commission, commissionAsset}]`, an order's or its trades').
    fn charge(&mut self, fills: &[serde_json::Value]) {
        for f in fills {
            self.fee += f["commission"]
                .as_str()
                .and_then(|x| x.parse::<f64>().ok())
                .unwrap_or(0.0);
            if let Some(asset) = f["commissionAsset"].as_str() {
                self.fee_asset = asset.to_string();
            }
        }
    }
}

impl Ack {
    fn parse(v: &serde_json::Value, placed: bool) -> Result<Ack, ExecutionError> {
        let num = |k: &str| {
            v[k].as_str()
                .and_then(|x| x.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok(Ack {
            client_order_id: v["clientOrderId"]
                .as_str()
                .ok_or_else(|| {
                    ExecutionError::Format(format!("an order without clientOrderId: {v}"))
                })?
                .to_string(),
            order_id: v["orderId"]
                .as_u64()
                .ok_or_else(|| ExecutionError::Format(format!("an order without orderId: {v}")))?,
            status: v["status"].as_str().unwrap_or_default().to_string(),
            executed_qty: num("executedQty"),
            quote_qty: num("cummulativeQuoteQty"),
            placed,
            side: v["side"].as_str().unwrap_or_default().to_string(),
            fee: 0.0,
            fee_asset: String::new(),
            transact_time_ms: ["transactTime", "updateTime", "time"]
                .iter()
                .find_map(|k| v[*k].as_i64())
                .unwrap_or(0),
        })
    }
}

/// The execution settings: `EXECUTION_VENUE`, `LIVE_TRADING`, the keys, `BINANCE_TRADE_URL`,
/// `MAX_ORDER_NOTIONAL`.
#[derive(Debug, Clone)]
pub enum ExecutionSettings {
    /// The paper broker (default).
    Paper,
    /// Binance spot, signed.
    Binance {
        /// `BINANCE_TRADE_URL` (default `https://api.binance.com`; the testnet is
        /// `https://testnet.binance.vision`).
        url: String,
        /// `BINANCE_API_KEY`.
        key: Secret,
        /// `BINANCE_API_SECRET`.
        secret: Secret,
        /// `MAX_ORDER_NOTIONAL` (0: no cap).
        max_order_notional: f64,
    },
}

impl ExecutionSettings {
    /// The settings, checked: live trading needs its opt-in and both keys.
    ///
    /// # Errors
    /// What is missing or bad, named (never a key's value).
    pub fn from_settings(
        settings: &crate::workflow::settings::Settings,
    ) -> Result<ExecutionSettings, crate::setting::SettingError> {
        use crate::setting::SettingError;
        let venue = settings
            .text("EXECUTION_VENUE")
            .map(|v| v.to_ascii_lowercase())
            .unwrap_or_else(|| "paper".into());
        match venue.as_str() {
            "paper" => Ok(ExecutionSettings::Paper),
            "binance" => {
                let mut missing = Vec::new();
                if !settings.flag("LIVE_TRADING")? {
                    missing.push("LIVE_TRADING=1 (the opt-in to trade real money)");
                }
                let key = settings.text("BINANCE_API_KEY");
                let secret = settings.text("BINANCE_API_SECRET");
                if key.is_none() {
                    missing.push("BINANCE_API_KEY");
                }
                if secret.is_none() {
                    missing.push("BINANCE_API_SECRET");
                }
                if !missing.is_empty() {
                    return Err(SettingError::new(
                        "EXECUTION_VENUE",
                        format!(
                            "EXECUTION_VENUE=binance trades on the exchange and needs {}",
                            missing.join(", ")
                        ),
                    ));
                }
                Ok(ExecutionSettings::Binance {
                    url: settings
                        .text("BINANCE_TRADE_URL")
                        .unwrap_or_else(|| "https://api.binance.com".into()),
                    key: Secret::new(key.unwrap_or_default()),
                    secret: Secret::new(secret.unwrap_or_default()),
                    max_order_notional: settings.parsed(
                        "MAX_ORDER_NOTIONAL",
                        0.0,
                        |x: &f64| x.is_finite() && *x >= 0.0,
                        "an amount of 0 or more",
                    )?,
                })
            }
            other => Err(SettingError::new(
                "EXECUTION_VENUE",
                format!("EXECUTION_VENUE={other:?} is not paper or binance"),
            )),
        }
    }
}

/// A Binance spot trading client.
pub struct BinanceSpot {
    http: reqwest::Client,
    url: String,
    key: Secret,
    secret: Secret,
    max_order_notional: f64,
    /// The venue's clock minus ours, ms (from `/api/v3/time`).
    offset_ms: Option<i64>,
    /// Attempts of a request that got no answer.
    attempts: u32,
}

impl BinanceSpot {
    /// A client of the venue at `url` with these keys; a request unanswered after `timeout`
    /// counts as lost (10 s is Binance's advice).
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        url: &str,
        key: Secret,
        secret: Secret,
        max_order_notional: f64,
        timeout: Duration,
    ) -> Result<BinanceSpot, ExecutionError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ExecutionError::Transport(e.to_string()))?;
        Ok(BinanceSpot {
            http,
            url: url.trim_end_matches('/').to_string(),
            key,
            secret,
            max_order_notional,
            offset_ms: None,
            attempts: 3,
        })
    }

    async fn get_json(&self, path: &str) -> Result<serde_json::Value, ExecutionError> {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .map_err(|e| ExecutionError::Transport(e.to_string()))?;
        Self::answer(r).await
    }

    async fn answer(r: reqwest::Response) -> Result<serde_json::Value, ExecutionError> {
        let status = r.status().as_u16();
        let body = r
            .bytes()
            .await
            .map_err(|e| ExecutionError::Transport(e.to_string()))?;
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| ExecutionError::Format(format!("HTTP {status}: {e}")))?;
        if status >= 400 {
            return Err(ExecutionError::Refused {
                code: v["code"].as_i64().unwrap_or(i64::from(status)),
                message: v["msg"].as_str().unwrap_or_default().to_string(),
            });
        }
        Ok(v)
    }

    /// The venue's time now, ms (our clock moved by the venue's offset, asked once).
    async fn now_ms(&mut self) -> Result<i64, ExecutionError> {
        let ours = || time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000;
        if self.offset_ms.is_none() {
            let v = self.get_json("/api/v3/time").await?;
            let theirs = v["serverTime"]
                .as_i64()
                .ok_or_else(|| ExecutionError::Format(format!("its time is {v}")))?;
            self.offset_ms = Some(theirs - ours());
        }
        Ok(ours() + self.offset_ms.unwrap_or(0))
    }

    /// A signed request: `params`, then `recvWindow`, `timestamp` and `signature`.
    async fn signed(
        &mut self,
        method: reqwest::Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<serde_json::Value, ExecutionError> {
        let mut query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        query.push("recvWindow=5000".into());
        query.push(format!("timestamp={}", self.now_ms().await?));
        let query = query.join("&");
        let signature = sign(self.secret.expose(), &query);
        let r = self
            .http
            .request(
                method,
                format!("{}{path}?{query}&signature={signature}", self.url),
            )
            .header("X-MBX-APIKEY", self.key.expose())
            .send()
            .await
            .map_err(|e| ExecutionError::Transport(e.to_string()))?;
        Self::answer(r).await
    }

    /// The trading rules of `symbol`.
    ///
    /// # Errors
    /// The venue, or a symbol it does not list.
    pub async fn filters(&mut self, symbol: &str) -> Result<SymbolFilters, ExecutionError> {
        let info = self
            .get_json(&format!("/api/v3/exchangeInfo?symbol={symbol}"))
            .await?;
        SymbolFilters::parse(&info, symbol)
    }

    /// The filters of `symbol` and its base and quote assets.
    ///
    /// # Errors
    /// The venue, or a symbol it does not list.
    pub async fn symbol(
        &mut self,
        symbol: &str,
    ) -> Result<(SymbolFilters, (String, String)), ExecutionError> {
        let info = self
            .get_json(&format!("/api/v3/exchangeInfo?symbol={symbol}"))
            .await?;
        Ok((
            SymbolFilters::parse(&info, symbol)?,
            SymbolFilters::assets(&info, symbol)?,
        ))
    }

    /// Adds the fees of an order's trades (`/api/v3/myTrades`) to `ack`, when it filled.
    async fn charge_trades(&mut self, symbol: &str, ack: &mut Ack) -> Result<(), ExecutionError> {
        if ack.executed_qty <= 0.0 {
            return Ok(());
        }
        let params = [
            ("symbol", symbol.to_string()),
            ("orderId", ack.order_id.to_string()),
        ];
        let trades = self
            .signed(reqwest::Method::GET, "/api/v3/myTrades", &params)
            .await?;
        let trades = trades
            .as_array()
            .ok_or_else(|| ExecutionError::Format(format!("myTrades is not a list: {trades}")))?;
        ack.charge(trades);
        Ok(())
    }

    /// The venue's open orders on `symbol`.
    ///
    /// # Errors
    /// The venue, or an answer not in its format.
    pub async fn open_orders(&mut self, symbol: &str) -> Result<Vec<Ack>, ExecutionError> {
        let v = self
            .signed(
                reqwest::Method::GET,
                "/api/v3/openOrders",
                &[("symbol", symbol.to_string())],
            )
            .await?;
        v.as_array()
            .ok_or_else(|| ExecutionError::Format(format!("openOrders is not a list: {v}")))?
            .iter()
            .map(|o| Ack::parse(o, false))
            .collect()
    }

    /// The order with this client id, if the venue has it.
    ///
    /// # Errors
    /// The venue.
    pub async fn query(
        &mut self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<Ack>, ExecutionError> {
        let params = [
            ("symbol", symbol.to_string()),
            ("origClientOrderId", client_order_id.to_string()),
        ];
        match self
            .signed(reqwest::Method::GET, "/api/v3/order", &params)
            .await
        {
            Ok(v) => {
                let mut ack = Ack::parse(&v, false)?;
                self.charge_trades(symbol, &mut ack).await?;
                Ok(Some(ack))
            }
            // "Order does not exist."
            Err(ExecutionError::Refused { code: -2013, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Places `order` exactly once: made valid under `filters` and `MAX_ORDER_NOTIONAL`, then,
    /// unless the venue already has its client id, sent; a request without an answer is
    /// retried only after asking the venue for the id again.
    ///
    /// # Errors
    /// [`ExecutionError::Invalid`] before anything is sent; the venue's refusal; no answer
    /// after the attempts.
    pub async fn place(
        &mut self,
        order: &OrderRequest,
        filters: &SymbolFilters,
    ) -> Result<Ack, ExecutionError> {
        let price = order.limit.unwrap_or(order.last_price);
        let (quantity, price) = filters.valid(order.quantity, price)?;
        if self.max_order_notional > 0.0 && quantity * price > self.max_order_notional {
            return Err(ExecutionError::Invalid(format!(
                "notional {:.2} is over MAX_ORDER_NOTIONAL {:.2}",
                quantity * price,
                self.max_order_notional
            )));
        }
        let mut params = vec![
            ("symbol", order.symbol.clone()),
            ("side", order.side.as_str().to_string()),
            (
                "type",
                if order.limit.is_some() {
                    "LIMIT"
                } else {
                    "MARKET"
                }
                .to_string(),
            ),
        ];
        if order.limit.is_some() {
            params.push(("timeInForce", "GTC".into()));
            params.push(("price", format!("{price}")));
        }
        params.push(("quantity", format!("{quantity}")));
        params.push(("newClientOrderId", order.client_order_id.clone()));
        params.push(("newOrderRespType", "FULL".into()));
        let mut last = None;
        for _ in 0..self.attempts {
            if let Some(found) = self.query(&order.symbol, &order.client_order_id).await? {
                return Ok(found);
            }
            match self
                .signed(reqwest::Method::POST, "/api/v3/order", &params)
                .await
            {
                Ok(v) => {
                    let mut ack = Ack::parse(&v, true)?;
                    match v["fills"].as_array() {
                        Some(fills) => ack.charge(fills),
                        None => self.charge_trades(&order.symbol, &mut ack).await?,
                    }
                    return Ok(ack);
                }
                // No answer: it may have been placed. Ask before trying again.
                Err(e @ ExecutionError::Transport(_)) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ExecutionError::Transport("no answer".into())))
    }

    /// The account's balances with something in them: asset, free, locked.
    ///
    /// # Errors
    /// The venue.
    pub async fn balances(&mut self) -> Result<Vec<(String, f64, f64)>, ExecutionError> {
        let v = self
            .signed(reqwest::Method::GET, "/api/v3/account", &[])
            .await?;
        let num = |x: &serde_json::Value| x.as_str().and_then(|s| s.parse().ok()).unwrap_or(0.0);
        Ok(v["balances"]
            .as_array()
            .ok_or_else(|| ExecutionError::Format("an account without balances".into()))?
            .iter()
            .map(|b| {
                (
                    b["asset"].as_str().unwrap_or_default().to_string(),
                    num(&b["free"]),
                    num(&b["locked"]),
                )
            })
            .filter(|(_, free, locked)| *free > 0.0 || *locked > 0.0)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_binances_documented_one() {
        // The example of Binance's "SIGNED endpoint security" documentation.
        let secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(
            sign(secret, query),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
    }

    #[test]
    fn orders_are_made_valid_under_the_symbols_filters() {
        let info = serde_json::json!({"symbols": [{"symbol": "BTCUSDT", "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00", "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000.00", "stepSize": "0.00001"},
            {"filterType": "NOTIONAL", "minNotional": "5.00", "applyMinToMarket": true}
        ]}]});
        let f = SymbolFilters::parse(&info, "BTCUSDT").unwrap();
        assert_eq!(f.step_size, 0.00001);
        assert_eq!(f.min_notional, 5.0);
        let (q, p) = f.valid(0.123456789, 43_210.987).unwrap();
        assert_eq!((q, p), (0.12345, 43_210.98));
        // Under the minimum notional at that price, under the lot, over the maximum.
        assert!(f
            .valid(0.0001, 43_210.0)
            .unwrap_err()
            .to_string()
            .contains("minimum 5"));
        assert!(f.valid(0.000001, 43_210.0).is_err());
        assert!(f
            .valid(10_000.0, 43_210.0)
            .unwrap_err()
            .to_string()
            .contains("maximum"));
        assert!(SymbolFilters::parse(&info, "ETHUSDT").is_err());
    }

    #[test]
    fn a_client_order_id_is_the_same_for_the_same_decision_and_fits_binance() {
        let run = Uuid::now_v7();
        let a = client_order_id(run, 1_700_000_000, 0);
        assert_eq!(a, client_order_id(run, 1_700_000_000, 0));
        assert_ne!(a, client_order_id(run, 1_700_000_000, 1));
        assert_ne!(a, client_order_id(run, 1_700_000_060, 0));
        assert!(a.len() <= 36 && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
}
