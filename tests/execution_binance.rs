//! The Binance spot execution client against a loopback server speaking Binance's REST formats
//! (`/api/v3/time`, `/api/v3/exchangeInfo`, signed `/api/v3/order` and `/api/v3/account`): every
//! account request signed with HMAC-SHA256 and keyed, orders made valid under the symbol's
//! filters, and an order whose reply is lost placed exactly once (the venue counts).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::http::{LoopbackServer, Recorded, Reply};
use common::venue::{binance_trading, TradingBook, KEY, SECRET};
use stratagem_actors::execution::{client_order_id, BinanceSpot, OrderRequest, Side};
use stratagem_actors::generator::llm::Secret;

/// The loopback exchange, the market at 43,000.
fn exchange(book: Arc<Mutex<TradingBook>>) -> LoopbackServer {
    LoopbackServer::respond(move |r: &Recorded| {
        Some(
            binance_trading(r, &book, 43_000.0, 1_700_000_000_000).unwrap_or_else(|| {
                Reply::json(
                    404,
                    serde_json::json!({"code": -1, "msg": "no such endpoint"}),
                )
            }),
        )
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
    let book = Arc::new(Mutex::new(TradingBook {
        slow_posts: 1,
        balances: [("BTC".to_string(), 0.1), ("USDT".to_string(), 1_000.0)].into(),
        ..TradingBook::default()
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
    // Balances, signed the same way: moved by the two orders' 0.01334 BTC at 43,000.
    let balances = binance.balances().await.unwrap();
    let assets: Vec<&str> = balances.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(assets, ["BTC", "USDT"]);
    assert!((balances[0].1 - 0.11334).abs() < 1e-9, "{balances:?}");
    assert!((balances[1].1 - (1_000.0 - 0.01334 * 43_000.0)).abs() < 1e-6);
}

#[tokio::test]
async fn an_invalid_order_is_refused_before_it_is_sent_and_a_bad_signature_by_the_venue() {
    let book = Arc::new(Mutex::new(TradingBook::default()));
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
