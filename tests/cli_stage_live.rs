//! A paper stage on a live feed: `stage ID warm --feed ws://…` against a websocket server on
//! loopback that speaks Binance's kline stream format.

mod common;

use common::{bin, ok};
use serde_json::Value;

fn kline(open_ms: i64, o: f64, c: f64) -> String {
    format!(
        r#"{{"e":"kline","E":{},"s":"BTCUSDT","k":{{"t":{open_ms},"T":{},"s":"BTCUSDT","i":"1h","f":1,"L":2,"o":"{o}","c":"{c}","h":"{}","l":"{}","v":"10","n":2,"x":true,"q":"1","V":"1","Q":"1","B":"0"}}}}"#,
        open_ms + 5,
        open_ms + 3_599_999,
        o.max(c) + 1.0,
        o.min(c) - 1.0
    )
}

/// Serves one websocket connection with `messages`, then a close frame.
fn serve(messages: Vec<String>) -> String {
    serve_connections(vec![messages], true)
}

fn serve_connections(connections: Vec<Vec<String>>, graceful: bool) -> String {
    common::ws::serve_connections(connections, graceful, "/ws/btcusdt@kline_1h")
}

fn promoted_to_warm(d: &std::path::Path) -> String {
    let submitted: Value = common::data(&ok(
        d,
        &["submit", "--title", "t", "--hypothesis", "h", "--json"],
    ))
    .unwrap();
    let generated: Value = common::data(&ok(
        d,
        &[
            "generate",
            "--opportunity",
            submitted["opportunity_id"].as_str().unwrap(),
            "--template",
            "mean_reversion",
            "--json",
        ],
    ))
    .unwrap();
    ok(d, &["validate", generated["path"].as_str().unwrap()]);
    let id = generated["strategy_id"].as_str().unwrap().to_string();
    ok(d, &["stage", &id, "cold"]);
    id
}

#[test]
fn warm_paper_trades_closed_candles_from_a_live_feed_beside_the_baseline() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let id = promoted_to_warm(&d);
    let t0 = 1_764_000_000_000;
    let url = serve(
        (0..3)
            .map(|i| {
                kline(
                    t0 + i * 3_600_000,
                    90_000.0 + 100.0 * i as f64,
                    90_100.0 + 100.0 * i as f64,
                )
            })
            .collect(),
    );
    let out = bin()
        .arg("--data-dir")
        .arg(&d)
        .args(["stage", &id, "warm", "--feed", &url, "--json"])
        .env("WARM_HOURS", "3")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let outcome: Value = common::data(&text)
        .unwrap_or_else(|_| panic!("{text}{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(outcome["stage"], "warm");
    assert_eq!(outcome["baseline"], "buy_and_hold");
    // Three candles without a warm-up give the strategy no fill: no verdict on its Sharpe.
    assert_eq!(
        outcome["gate"], "inconclusive: 0 order(s) filled over 3 bars (needs ≥ 1); rejected",
        "{outcome}"
    );
    assert_eq!(outcome["passed"], false);
    assert!(outcome["metrics"]["baseline_sharpe"].is_number());
    assert_eq!(
        out.status.code(),
        Some(if outcome["passed"] == true { 0 } else { 1 })
    );
    let trail = std::fs::read_to_string(d.join("strategy_stages.jsonl")).unwrap();
    assert!(trail
        .lines()
        .any(|l| l.contains("\"stage.completed\"") && l.contains("\"warm\"")));
}

#[test]
fn a_live_feed_that_ends_early_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let id = promoted_to_warm(&d);
    let url = serve(vec![kline(1_764_000_000_000, 90_000.0, 90_100.0)]);
    let out = bin()
        .arg("--data-dir")
        .arg(&d)
        .args(["stage", &id, "warm", "--feed", &url])
        .env("WARM_HOURS", "3")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "too few bars: bad input data");
    assert!(err.contains("the feed ended after 1 of 3 bars"), "{err}");
    let out = bin()
        .arg("--data-dir")
        .arg(&d)
        .args(["stage", &id, "cold", "--feed", &url])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--feed is for the paper stages"));
}

/// A stream dropped mid-stage is reconnected, and the candles it missed are fetched from the
/// venue's REST API first: the session sees every bar, as an uninterrupted stream gives them.
#[test]
fn a_dropped_stream_is_reconnected_and_the_bars_it_missed_are_backfilled() {
    let t0: i64 = 1_764_000_000_000;
    let prices = [90_000.0, 90_700.0, 89_400.0, 91_900.0, 90_300.0, 92_000.0];
    let candle = |i: usize| kline(t0 + i as i64 * 3_600_000, prices[i], prices[i] + 150.0);
    let warm = |url: &str, rest: &str| -> Value {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("data");
        let id = promoted_to_warm(&d);
        let out = bin()
            .arg("--data-dir")
            .arg(&d)
            .args(["stage", &id, "warm", "--feed", url, "--json"])
            .env("WARM_HOURS", "4")
            .env("BINANCE_REST_URL", rest)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        common::data(&text)
            .unwrap_or_else(|_| panic!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    };
    // The REST API serves the two candles the dropped stream will miss (open times 2 and 3).
    let rest = common::http::LoopbackServer::respond(move |r| {
        assert!(
            r.path
                .starts_with("/api/v3/klines?symbol=BTCUSDT&interval=1h"),
            "{}",
            r.path
        );
        let rows: Vec<Value> = (2..4)
            .map(|i: usize| {
                let (o, c) = (prices[i], prices[i] + 150.0);
                serde_json::json!([
                    t0 + i as i64 * 3_600_000,
                    o.to_string(),
                    (o.max(c) + 1.0).to_string(),
                    (o.min(c) - 1.0).to_string(),
                    c.to_string(),
                    "10",
                    t0 + i as i64 * 3_600_000 + 3_599_999,
                    "1",
                    2,
                    "1",
                    "1",
                    "0"
                ])
            })
            .collect();
        Some(common::http::Reply::json(200, Value::Array(rows)))
    });
    let whole = warm(&serve((0..6).map(candle).collect()), &rest.url);
    assert!(rest.requests().is_empty(), "nothing to backfill");
    let dropped = warm(
        // Dropped without a close frame: the connection just breaks.
        &serve_connections(
            vec![vec![candle(0), candle(1)], vec![candle(4), candle(5)]],
            false,
        ),
        &rest.url,
    );
    let asked = rest.requests();
    assert_eq!(asked.len(), 1);
    assert!(
        asked[0]
            .path
            .contains(&format!("startTime={}", t0 + 2 * 3_600_000)),
        "{}",
        asked[0].path
    );
    assert_eq!(dropped["metrics"]["bars"], 4, "{dropped}");
    assert_eq!(dropped["metrics"], whole["metrics"]);
    assert_eq!(dropped["gate"], whole["gate"]);
    assert!(whole["metrics"]["baseline_sharpe"].as_f64().unwrap().abs() > 0.0);
}
