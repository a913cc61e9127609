//! Live bars from a public exchange websocket: Binance kline streams
//! (`wss://stream.binance.com:9443/ws/btcusdt@kline_1h`, or the combined-stream wrapper
//! `{"stream": …, "data": …}`). Only **closed** candles (`"x": true`) become bars, each once and
//! in order: a strategy never acts on a candle that is still moving.
//!
//! Message format (Binance "Kline/Candlestick Streams"): `k.t`/`k.T` open and close time in ms,
//! `k.o`/`k.h`/`k.l`/`k.c`/`k.v` as decimal strings, `k.x` closed. A bar's timestamp is its close
//! time (`(T + 1) / 1000` seconds), as everywhere else.

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;

use crate::validator::sandbox::runtime::SandboxBar;

/// Why the feed failed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The connection could not be made or broke.
    #[error("exchange websocket: {0}")]
    Connection(String),
    /// A kline message did not parse (the text is not quoted back: it is outside input).
    #[error("malformed kline message: {0}")]
    Malformed(String),
}

#[derive(Deserialize)]
struct Envelope {
    e: Option<String>,
    k: Option<Kline>,
    data: Option<Box<Envelope>>,
}

#[derive(Deserialize)]
struct Kline {
    #[serde(rename = "T")]
    close_time: i64,
    o: String,
    h: String,
    l: String,
    c: String,
    v: String,
    x: bool,
}

/// A closed candle of a kline message; `Ok(None)` for other messages and open candles.
///
/// # Errors
/// [`FeedError::Malformed`] for a kline message with missing or non-numeric fields.
pub fn parse_binance_kline(text: &str) -> Result<Option<SandboxBar>, FeedError> {
    let envelope: Envelope = match serde_json::from_str(text) {
        Ok(e) => e,
        Err(e) => {
            return Err(FeedError::Malformed(format!(
                "not JSON: line {} column {}",
                e.line(),
                e.column()
            )))
        }
    };
    let envelope = match envelope.data {
        Some(inner) => *inner,
        None => envelope,
    };
    if envelope.e.as_deref() != Some("kline") {
        return Ok(None);
    }
    let k = envelope
        .k
        .ok_or_else(|| FeedError::Malformed("a kline event without `k`".into()))?;
    if !k.x {
        return Ok(None);
    }
    let num = |name: &str, v: &str| -> Result<f64, FeedError> {
        let x: f64 = v
            .parse()
            .map_err(|_| FeedError::Malformed(format!("`{name}` is not a number")))?;
        if x.is_finite() && x >= 0.0 {
            Ok(x)
        } else {
            Err(FeedError::Malformed(format!("`{name}` is out of range")))
        }
    };
    let bar = SandboxBar {
        timestamp: (k.close_time + 1) / 1000,
        open: num("o", &k.o)?,
        high: num("h", &k.h)?,
        low: num("l", &k.l)?,
        close: num("c", &k.c)?,
        volume: num("v", &k.v)?,
    };
    if bar.low <= 0.0 || bar.high < bar.low {
        return Err(FeedError::Malformed("prices out of order".into()));
    }
    Ok(Some(bar))
}

/// A connected kline stream.
pub struct KlineFeed {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    last: Option<i64>,
}

impl KlineFeed {
    /// Connects to a kline stream URL (`ws://` or `wss://`).
    ///
    /// # Errors
    /// [`FeedError::Connection`].
    pub async fn connect(url: &str) -> Result<KlineFeed, FeedError> {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| FeedError::Connection(e.to_string()))?;
        Ok(KlineFeed { socket, last: None })
    }

    /// The next closed candle, newer than the last one returned; `Ok(None)` when the exchange
    /// closes the stream.
    ///
    /// Cancel safety: cancel-safe; a candle is only consumed when it is returned.
    ///
    /// # Errors
    /// [`FeedError`] on a broken connection or a malformed kline.
    pub async fn next_closed(&mut self) -> Result<Option<SandboxBar>, FeedError> {
        while let Some(message) = self.socket.next().await {
            match message.map_err(|e| FeedError::Connection(e.to_string()))? {
                Message::Text(text) => {
                    if let Some(bar) = parse_binance_kline(text.as_str())? {
                        if self.last.is_none_or(|last| bar.timestamp > last) {
                            self.last = Some(bar.timestamp);
                            return Ok(Some(bar));
                        }
                    }
                }
                Message::Ping(payload) => {
                    self.socket
                        .send(Message::Pong(payload))
                        .await
                        .map_err(|e| FeedError::Connection(e.to_string()))?;
                }
                Message::Close(_) => return Ok(None),
                _ => {}
            }
        }
        Ok(None)
    }
}
