//! A websocket server on loopback for end-to-end tests: real TCP, a real websocket handshake,
//! text messages as an exchange's stream sends them.
#![allow(dead_code)]

use std::net::TcpListener as StdListener;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// Serves websocket connections in turn, each with its messages, then a close frame
/// (`graceful`) or a dropped connection; then the listener goes (a reconnect is refused). Returns
/// `ws://127.0.0.1:PORT{path}`.
pub fn serve_connections(connections: Vec<Vec<String>>, graceful: bool, path: &str) -> String {
    let std_listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            std_listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            for messages in connections {
                let (stream, _) = listener.accept().await.unwrap();
                let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
                for m in messages {
                    let _ = ws.send(Message::text(m)).await;
                }
                if graceful {
                    let _ = ws.close(None).await;
                    while ws.next().await.is_some() {}
                }
            }
        });
    });
    format!("ws://{addr}{path}")
}

/// A closed Binance kline message (`e: kline`, `k.x: true`) of the candle opening at `open_ms`.
pub fn binance_kline(open_ms: i64, interval_ms: i64, ohlcv: [f64; 5]) -> String {
    let [o, h, l, c, v] = ohlcv;
    format!(
        r#"{{"e":"kline","E":{},"s":"BTCUSDT","k":{{"t":{open_ms},"T":{},"s":"BTCUSDT","i":"1h","f":1,"L":2,"o":"{o}","c":"{c}","h":"{h}","l":"{l}","v":"{v}","n":2,"x":true,"q":"1","V":"1","Q":"1","B":"0"}}}}"#,
        open_ms + interval_ms + 5,
        open_ms + interval_ms - 1,
    )
}
