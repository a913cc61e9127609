//! What a loopback exchange answers, in the venues' real formats (Binance spot's
//! `/api/v3/klines`), and the real BTC bars of `data/` it serves.
#![allow(dead_code)]

use std::collections::BTreeMap;

use stratagem_actors::market::parse_timestamp;

/// A bar as the venue has it: open time (unix seconds), then open, high, low, close, volume.
pub type VenueBar = (i64, [f64; 5]);

/// The real bars of a file of `data/` (`timestamp,open,high,low,close,volume`).
pub fn real_bars(file: &str) -> Vec<VenueBar> {
    let path = format!("{}/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let n = |k: usize| f[k].parse::<f64>().unwrap();
            (
                parse_timestamp(f[0]).unwrap(),
                [n(1), n(2), n(3), n(4), n(5)],
            )
        })
        .collect()
}

/// The query of a request path, as a map.
pub fn query(path: &str) -> BTreeMap<String, String> {
    path.split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The klines Binance answers to `/api/v3/klines?…&startTime&endTime&limit` over `bars` of
/// `interval` seconds: those whose open time is inside `[startTime, endTime]` (ms), at most
/// `limit`, prices as strings, times in ms.
pub fn binance_klines(bars: &[VenueBar], path: &str, interval: i64) -> serde_json::Value {
    let q = query(path);
    let start: i64 = q["startTime"].parse().unwrap();
    let end: i64 = q["endTime"].parse().unwrap();
    let limit: usize = q["limit"].parse().unwrap();
    let rows: Vec<serde_json::Value> = bars
        .iter()
        .filter(|(t, _)| t * 1000 >= start && t * 1000 <= end)
        .take(limit)
        .map(|(t, [o, h, l, c, v])| {
            serde_json::json!([
                t * 1000,
                format!("{o:.8}"),
                format!("{h:.8}"),
                format!("{l:.8}"),
                format!("{c:.8}"),
                format!("{v:.8}"),
                (t + interval) * 1000 - 1,
                "0",
                100,
                "0",
                "0",
                "0"
            ])
        })
        .collect();
    serde_json::Value::Array(rows)
}

/// The API key and secret the loopback exchange accepts.
pub const KEY: &str = "test-api-key";
pub const SECRET: &str = "test-api-secret";

/// A loopback Binance spot account: its orders (in Binance's order format), how many it placed,
/// the POSTs whose reply it delays (a reply the client gives up on), its balances, the fee it
/// charges (a fraction of the quote amount, in the quote asset), and how long any POST's reply
/// takes.
#[derive(Default)]
pub struct TradingBook {
    pub orders: Vec<serde_json::Value>,
    pub placed: usize,
    pub slow_posts: usize,
    pub balances: BTreeMap<String, f64>,
    pub fee_rate: f64,
    /// How long every POST's reply takes (the order is placed at once).
    pub post_delay: std::time::Duration,
}

/// What a loopback Binance spot exchange answers to its account endpoints — `/api/v3/time`,
/// `/api/v3/exchangeInfo`, and, signed with [`SECRET`] and keyed with [`KEY`], `/api/v3/order`
/// (GET, POST), `/api/v3/openOrders`, `/api/v3/myTrades`, `/api/v3/account` — with the
/// market at `price` and its clock at `now_ms`. A market order fills at once, all of it, at
/// `price`; `None` for any other path.
pub fn binance_trading(
    r: &super::http::Recorded,
    book: &std::sync::Mutex<TradingBook>,
    price: f64,
    now_ms: i64,
) -> Option<super::http::Reply> {
    use super::http::Reply;
    use serde_json::json;
    let path = r.path.split('?').next().unwrap_or("");
    if path == "/api/v3/time" {
        return Some(Reply::json(200, json!({ "serverTime": now_ms })));
    }
    if path == "/api/v3/exchangeInfo" {
        let symbol = |s: &str, base: &str| {
            json!({"symbol": s, "baseAsset": base, "quoteAsset": "USDT", "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00", "tickSize": "0.01"},
                {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000.00", "stepSize": "0.00001"},
                {"filterType": "NOTIONAL", "minNotional": "5.00"}
            ]})
        };
        return Some(Reply::json(
            200,
            json!({"symbols": [symbol("BTCUSDT", "BTC"), symbol("ETHUSDT", "ETH")]}),
        ));
    }
    if !matches!(
        path,
        "/api/v3/order" | "/api/v3/openOrders" | "/api/v3/myTrades" | "/api/v3/account"
    ) {
        return None;
    }
    // Signed: the key in its header, the signature over the query before it.
    let (signed, signature) = r
        .path
        .split_once('?')
        .unwrap()
        .1
        .rsplit_once("&signature=")
        .unwrap();
    let refuse = |code: i64, msg: &str| Reply::json(400, json!({"code": code, "msg": msg}));
    if r.header("x-mbx-apikey") != Some(KEY) {
        return Some(refuse(
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        ));
    }
    if stratagem_actors::execution::sign(SECRET, signed) != signature {
        return Some(refuse(-1022, "Signature for this request is not valid."));
    }
    let q = query(&r.path);
    assert!(
        q.contains_key("timestamp") && q["recvWindow"] == "5000",
        "{}",
        r.path
    );
    let mut book = book.lock().unwrap();
    let trades_of = |o: &serde_json::Value| {
        json!([{
            "symbol": o["symbol"], "orderId": o["orderId"], "price": o["price"],
            "qty": o["executedQty"], "commission": o["commission"], "commissionAsset": "USDT",
            "time": o["transactTime"]
        }])
    };
    Some(match (r.method.as_str(), path) {
        ("GET", "/api/v3/order") => match book
            .orders
            .iter()
            .find(|o| o["clientOrderId"] == q["origClientOrderId"].as_str())
        {
            Some(o) => Reply::json(200, o.clone()),
            None => refuse(-2013, "Order does not exist."),
        },
        ("POST", "/api/v3/order") => {
            let qty: f64 = q["quantity"].parse().unwrap();
            let quote = qty * price;
            let fee = quote * book.fee_rate;
            let sign = if q["side"] == "SELL" { -1.0 } else { 1.0 };
            let base = q["symbol"].trim_end_matches("USDT").to_string();
            *book.balances.entry(base).or_default() += sign * qty;
            *book.balances.entry("USDT".into()).or_default() -= sign * quote + fee;
            book.placed += 1;
            let order = json!({
                "symbol": q["symbol"], "orderId": book.placed, "clientOrderId": q["newClientOrderId"],
                "transactTime": now_ms, "price": format!("{price:.8}"),
                "status": "FILLED", "type": q["type"], "side": q["side"],
                "executedQty": format!("{qty}"), "cummulativeQuoteQty": format!("{quote:.8}"),
                "commission": format!("{fee:.8}")
            });
            book.orders.push(order.clone());
            let mut full = order.clone();
            full["fills"] = json!([{
                "price": format!("{price:.8}"), "qty": format!("{qty}"),
                "commission": format!("{fee:.8}"), "commissionAsset": "USDT"
            }]);
            let reply = Reply::json(200, full);
            if book.slow_posts > 0 {
                book.slow_posts -= 1;
                reply.delayed(std::time::Duration::from_millis(1_500))
            } else {
                reply.delayed(book.post_delay)
            }
        }
        ("GET", "/api/v3/myTrades") => match book.orders.iter().find(|o| {
            o["orderId"].as_u64().map(|n| n.to_string()).as_deref() == Some(q["orderId"].as_str())
        }) {
            Some(o) => Reply::json(200, trades_of(o)),
            None => Reply::json(200, json!([])),
        },
        // Market orders fill at once: nothing stays open.
        ("GET", "/api/v3/openOrders") => Reply::json(200, json!([])),
        ("GET", "/api/v3/account") => Reply::json(
            200,
            json!({"balances": book.balances.iter().map(|(asset, free)| json!({
                "asset": asset, "free": format!("{free:.8}"), "locked": "0.00000000"
            })).collect::<Vec<_>>()}),
        ),
        _ => Reply::json(404, json!({"code": -1, "msg": "no such endpoint"})),
    })
}
