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
