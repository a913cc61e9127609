//! The Binance spot execution client against a loopback server speaking Binance's REST formats
//! (`/api/v3/time`, `/api/v3/exchangeInfo`, signed `/api/v3/order` and `/api/v3/account`): every
//! account request signed with HMAC-SHA256 and keyed, orders made valid under the symbol's
//! filters, and an order whose reply is lost placed exactly once (the venue counts).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::http::{LoopbackServer, Recorded, Reply};
use common::venue::query;
use stratagem_actors::execution::{client_order_id, sign, BinanceSpot, OrderRequest, Side};
use stratagem_actors::generator::llm::Secret;

const KEY: &str = "test-api-key";
const SECRET: &str = "test-api-secret";

/// The loopback exchange: its orders by client id, how many it placed, and the POSTs whose
/// reply it delays (a reply the client gives up on).
#[derive(Default)]
struct Book {
    orders: Vec<serde_json::Value>,
    placed: usize,
    slow_posts: usize,
}

fn exchange(book: Arc<Mutex<Book>>) -> LoopbackServer {
    LoopbackServer::respond(move |r: &Recorded| {
        let path = r.path.split('?').next().unwrap_or("");
        if path == "/api/v3/time" {
            return Some(Reply::json(
                200,
                serde_json::json!({"serverTime": 1_700_000_000_000i64}),
            ));
        }
        if path == "/api/v3/exchangeInfo" {
            return Some(Reply::json(
                200,
                serde_json::json!({"symbols": [{"symbol": "BTCUSDT", "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00", "tickSize": "0.01"},
                    {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000.00", "stepSize": "0.00001"},
                    {"filterType": "NOTIONAL", "minNotional": "5.00"}
                ]}]}),
            ));
        }
        // Signed: the key in its header, the signature over the query before it.
        let (signed, signature) = r
            .path
            .split_once('?')
            .unwrap()
            .1
            .rsplit_once("&signature=")
            .unwrap();
        let refuse =
            |code: i64, msg: &str| Reply::json(400, serde_json::json!({"code": code, "msg": msg}));
        if r.header("x-mbx-apikey") != Some(KEY) {
            return Some(refuse(
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            ));
        }
        if sign(SECRET, signed) != signature {
            return Some(refuse(-1022, "Signature for this request is not valid."));
        }
        let q = query(&r.path);
        assert!(
            q.contains_key("timestamp") && q["recvWindow"] == "5000",
            "{}",
            r.path
        );
        let mut book = book.lock().unwrap();
        match (r.method.as_str(), path) {
            ("GET", "/api/v3/order") => Some(
                match book
                    .orders
                    .iter()
                    .find(|o| o["clientOrderId"] == q["origClientOrderId"].as_str())
                {
                    Some(o) => Reply::json(200, o.clone()),
                    None => refuse(-2013, "Order does not exist."),
                },
            ),
            ("POST", "/api/v3/order") => {
                let qty: f64 = q["quantity"].parse().unwrap();
                book.placed += 1;
                let order = serde_json::json!({
                    "symbol": q["symbol"], "orderId": book.placed, "clientOrderId": q["newClientOrderId"],
                    "status": "FILLED", "type": q["type"], "side": q["side"],
                    "executedQty": format!("{qty}"), "cummulativeQuoteQty": format!("{:.8}", qty * 43_000.0)
                });
                book.orders.push(order.clone());
                let reply = Reply::json(200, order);
                Some(if book.slow_posts > 0 {
                    book.slow_posts -= 1;
                    reply.delayed(Duration::from_millis(1_500))
                } else {
                    reply
                })
            }
            ("GET", "/api/v3/account") => Some(Reply::json(
                200,
                serde_json::json!({"balances": [
                    {"asset": "BTC", "free": "0.12345", "locked": "0.00000"},
                    {"asset": "USDT", "free": "1000.5", "locked": "10.0"},
                    {"asset": "ETH", "free": "0.00000000", "locked": "0.00000000"}
                ]}),
            )),
            _ => Some(Reply::json(
                404,
                serde_json::json!({"code": -1, "msg": "no such endpoint"}),
            )),
        }
    })
}

fn client(url: &str, secret: &str) -> BinanceSpot {
    BinanceSpot::new(
        url,
        Secret::new(KEY),
        Secret::new(secret),
        0.0,
        Duration::from_secs(1),
    )
    .unwrap()
}

fn order(n: u32, quantity: f64) -> OrderRequest {
    OrderRequest {
        client_order_id: client_order_id(uuid::Uuid::nil(), 1_700_000_000, n),
        symbol: "BTCUSDT".into(),
        side: Side::Buy,
        quantity,
        limit: None,
        last_price: 43_000.0,
    }
}

#[tokio::test]
async fn an_order_whose_reply_is_lost_is_placed_exactly_once() {
    let book = Arc::new(Mutex::new(Book {
        slow_posts: 1,
        ..Book::default()
    }));
    let venue = exchange(book.clone());
    let mut binance = client(&venue.url, SECRET);
    let filters = binance.filters("BTCUSDT").await.unwrap();
    // The reply of the first POST comes after the client gave up: it asks for the id again,
    // finds the order, and sends nothing more.
    let ack = binance.place(&order(0, 0.0123456), &filters).await.unwrap();
    assert!(!ack.placed, "{ack:?}");
    assert_eq!(ack.executed_qty, 0.01234, "floored to the lot step");
    // Placing the same decision again (a restart) finds it too.
    let again = binance.place(&order(0, 0.0123456), &filters).await.unwrap();
    assert_eq!((again.order_id, again.placed), (ack.order_id, false));
    // Another decision is another order.
    let other = binance.place(&order(1, 0.001), &filters).await.unwrap();
    assert!(other.placed);
    assert_eq!(book.lock().unwrap().placed, 2, "each order once");
    let posts = venue
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 2);
    // Balances, signed the same way.
    let balances = binance.balances().await.unwrap();
    assert_eq!(
        balances,
        [
            ("BTC".to_string(), 0.12345, 0.0),
            ("USDT".to_string(), 1000.5, 10.0)
        ]
    );
}

#[tokio::test]
async fn an_invalid_order_is_refused_before_it_is_sent_and_a_bad_signature_by_the_venue() {
    let book = Arc::new(Mutex::new(Book::default()));
    let venue = exchange(book.clone());
    let mut binance = client(&venue.url, SECRET);
    let filters = binance.filters("BTCUSDT").await.unwrap();
    let small = binance
        .place(&order(0, 0.0001), &filters)
        .await
        .unwrap_err();
    assert!(small.to_string().contains("under the minimum 5"), "{small}");
    let mut capped = BinanceSpot::new(
        &venue.url,
        Secret::new(KEY),
        Secret::new(SECRET),
        100.0,
        Duration::from_secs(1),
    )
    .unwrap();
    let big = capped.place(&order(0, 0.01), &filters).await.unwrap_err();
    assert!(
        big.to_string().contains("over MAX_ORDER_NOTIONAL 100.00"),
        "{big}"
    );
    assert!(venue.requests().iter().all(|r| r.method != "POST"));
    let mut wrong = client(&venue.url, "not-the-secret");
    let refused = wrong.place(&order(2, 0.001), &filters).await.unwrap_err();
    assert!(refused.to_string().contains("-1022"), "{refused}");
    assert!(!format!("{refused} {refused:?}").contains("not-the-secret"));
    assert_eq!(book.lock().unwrap().placed, 0);
}

#[test]
fn live_trading_refuses_to_start_without_its_opt_in_and_keys_and_never_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let offline = common::offline();
    let offline = offline.to_str().unwrap();
    let run = |env: &[(&str, &str)]| {
        common::run_with(d, &["--create", "run", "--once", "--offline", offline], env)
    };
    let out = run(&[("EXECUTION_VENUE", "binance")]);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("EXECUTION_VENUE=binance trades on the exchange and needs LIVE_TRADING=1 (the opt-in to trade real money), BINANCE_API_KEY, BINANCE_API_SECRET"),
        "{err}"
    );
    let key = "k3y-that-must-not-leak";
    let out = run(&[
        ("EXECUTION_VENUE", "binance"),
        ("LIVE_TRADING", "1"),
        ("BINANCE_API_KEY", key),
    ]);
    let err = common::stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("needs BINANCE_API_SECRET") && !err.contains("LIVE_TRADING"),
        "{err}"
    );
    assert!(!err.contains(key) && !common::stdout(&out).contains(key));
    // Set, they are still never shown: not by `config show`, not on the log.
    let secret = "s3cret-that-must-not-leak";
    let env = [
        ("EXECUTION_VENUE", "binance"),
        ("LIVE_TRADING", "1"),
        ("BINANCE_API_KEY", key),
        ("BINANCE_API_SECRET", secret),
    ];
    let shown = common::run_with(d, &["--create", "config", "show", "--json"], &env);
    let text = format!("{}{}", common::stdout(&shown), common::stderr(&shown));
    assert!(shown.status.success(), "{text}");
    assert!(
        text.contains("BINANCE_API_SECRET") && !text.contains(secret) && !text.contains(key),
        "{text}"
    );
    let out = run(&[("EXECUTION_VENUE", "paper")]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let export = common::run_with(d, &["audit", "export", "--json"], &env);
    assert!(export.status.success(), "{}", common::stderr(&export));
    // The audit trail, every event of the log: no key in it.
    let mut trail = String::new();
    for entry in std::fs::read_dir(d).unwrap().flatten() {
        if entry.path().extension().is_some_and(|x| x == "jsonl") {
            trail.push_str(&std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    assert!(trail.len() > 1_000, "{trail}");
    assert!(!trail.contains(secret) && !trail.contains(key));
}
