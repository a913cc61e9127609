//! The live kline feed against a real websocket server on loopback that speaks Binance's kline
//! stream format: only closed candles, each once, in order; other messages ignored; a
//! malformed kline named; the end of the stream seen.

use futures_util::{SinkExt, StreamExt};
use stratagem_actors::stages::feed::{parse_binance_kline, KlineFeed};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

fn kline(open_ms: i64, o: &str, h: &str, l: &str, c: &str, closed: bool) -> String {
    format!(
        r#"{{"e":"kline","E":{},"s":"BTCUSDT","k":{{"t":{open_ms},"T":{},"s":"BTCUSDT","i":"1h","f":100,"L":200,"o":"{o}","c":"{c}","h":"{h}","l":"{l}","v":"12.5","n":100,"x":{closed},"q":"1.0","V":"5.0","Q":"0.5","B":"0"}}}}"#,
        open_ms + 1000,
        open_ms + 3_599_999
    )
}

async fn serve(messages: Vec<Message>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        for m in messages {
            if ws.send(m).await.is_err() {
                return;
            }
        }
        let _ = ws.close(None).await;
        while ws.next().await.is_some() {}
    });
    format!("ws://{addr}/ws/btcusdt@kline_1h")
}

#[tokio::test]
async fn only_closed_candles_arrive_once_and_in_order() {
    let t0 = 1_700_000_000_000;
    let url = serve(vec![
        Message::text(r#"{"result":null,"id":1}"#),
        Message::text(kline(t0, "100", "101", "99", "100.5", false)),
        Message::text(kline(t0, "100", "102", "99", "101.5", true)),
        Message::Ping(vec![1, 2, 3].into()),
        Message::text(kline(t0, "100", "102", "99", "101.5", true)),
        Message::text(format!(
            r#"{{"stream":"btcusdt@kline_1h","data":{}}}"#,
            kline(t0 + 3_600_000, "101.5", "103", "101", "102", true)
        )),
    ])
    .await;
    let mut feed = KlineFeed::connect(&url).await.unwrap();
    let first = feed.next_closed().await.unwrap().unwrap();
    assert_eq!(
        (
            first.timestamp,
            first.open,
            first.high,
            first.low,
            first.close,
            first.volume
        ),
        (1_700_003_600, 100.0, 102.0, 99.0, 101.5, 12.5)
    );
    let second = feed.next_closed().await.unwrap().unwrap();
    assert_eq!((second.timestamp, second.close), (1_700_007_200, 102.0));
    assert!(
        feed.next_closed().await.unwrap().is_none(),
        "the stream ended"
    );
}

#[tokio::test]
async fn a_malformed_kline_is_named_and_not_quoted() {
    let url = serve(vec![Message::text(
        r#"{"e":"kline","k":{"T":1,"o":"NaN-secret","h":"1","l":"1","c":"1","v":"1","x":true}}"#,
    )])
    .await;
    let mut feed = KlineFeed::connect(&url).await.unwrap();
    let err = feed.next_closed().await.unwrap_err().to_string();
    assert!(
        err.contains("malformed kline message: `o` is not a number") && !err.contains("secret"),
        "{err}"
    );
    assert!(parse_binance_kline("{not json")
        .unwrap_err()
        .to_string()
        .contains("not JSON"));
    assert!(KlineFeed::connect("ws://127.0.0.1:1/ws").await.is_err());
}
