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

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Where a resilient feed fetches the bars a dropped connection missed.
pub struct Backfill {
    client: crate::bars::venues::VenueClient,
    series: crate::bars::Series,
}

/// A kline stream. A plain one ([`KlineFeed::connect`]) ends when the exchange closes it; a
/// resilient one ([`KlineFeed::resilient`]) reconnects after a drop or a close and first
/// fetches from the venue's REST API the closed candles it missed meanwhile, so no bar is
/// skipped; a bar the venue cannot give either is counted in [`KlineFeed::unfilled`].
pub struct KlineFeed {
    socket: Option<Socket>,
    url: String,
    /// Close time (unix s) of the last bar returned.
    last: Option<i64>,
    backfill: Option<Backfill>,
    reconnects_left: u32,
    pending: std::collections::VecDeque<SandboxBar>,
    /// A bar received whose missed predecessors are being fetched (kept across a cancel).
    waiting: Option<SandboxBar>,
    backfilled: usize,
    unfilled: usize,
}

/// The symbol and interval of a kline stream URL (`…/ws/btcusdt@kline_1h`).
fn stream_of(url: &str) -> Option<(String, crate::bars::Interval)> {
    let name = url.rsplit('/').next()?;
    let (symbol, interval) = name.split_once("@kline_")?;
    Some((
        symbol.to_ascii_uppercase(),
        crate::bars::Interval::parse(interval)?,
    ))
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
        Ok(KlineFeed {
            socket: Some(socket),
            url: url.to_string(),
            last: None,
            backfill: None,
            reconnects_left: 0,
            pending: std::collections::VecDeque::new(),
            waiting: None,
            backfilled: 0,
            unfilled: 0,
        })
    }

    /// Connects to a Binance kline stream (`…/ws/btcusdt@kline_1h`) that reconnects up to
    /// `max_reconnects` times and backfills what it missed from Binance's REST API at `urls`.
    ///
    /// # Errors
    /// [`FeedError::Connection`], or a URL that names no symbol and interval.
    pub async fn resilient(
        url: &str,
        urls: crate::bars::venues::VenueUrls,
        max_reconnects: u32,
    ) -> Result<KlineFeed, FeedError> {
        let (symbol, interval) = stream_of(url).ok_or_else(|| {
            FeedError::Connection("the stream URL does not end in <symbol>@kline_<interval>".into())
        })?;
        let series = crate::bars::Series::new(crate::bars::Venue::Binance, &symbol, interval)
            .map_err(|e| FeedError::Connection(e.to_string()))?;
        let client = crate::bars::venues::VenueClient::new(crate::bars::Venue::Binance, urls)
            .map_err(|e| FeedError::Connection(e.to_string()))?;
        let mut feed = KlineFeed::connect(url).await?;
        feed.backfill = Some(Backfill { client, series });
        feed.reconnects_left = max_reconnects;
        Ok(feed)
    }

    /// Bars fetched from REST after a drop.
    pub fn backfilled(&self) -> usize {
        self.backfilled
    }

    /// Bars missed that the venue could not give either.
    pub fn unfilled(&self) -> usize {
        self.unfilled
    }

    /// The bars between the last one returned and `bar`, from the venue's REST API, then `bar`.
    async fn fill_up_to(&mut self, bar: SandboxBar) -> Result<(), FeedError> {
        if let (Some(last), Some(b)) = (self.last, self.backfill.as_mut()) {
            let step = b.series.interval.seconds();
            // Open times of the missing bars: from the last bar's close to `bar`'s open.
            let (from, to) = (last, bar.timestamp - step);
            if to > from {
                let got = b
                    .client
                    .fetch(&b.series, from, to)
                    .await
                    .map_err(|e| FeedError::Connection(format!("backfill: {e}")))?;
                let missing = usize::try_from((to - from) / step).unwrap_or(0);
                self.unfilled += missing.saturating_sub(got.len());
                self.backfilled += got.len();
                if got.len() < missing {
                    tracing::warn!(
                        missing,
                        got = got.len(),
                        "the venue could not fill every bar the feed missed"
                    );
                }
                self.pending.extend(got.iter().map(|k| SandboxBar {
                    timestamp: k.open_time + step,
                    open: k.open,
                    high: k.high,
                    low: k.low,
                    close: k.close,
                    volume: k.volume,
                }));
            }
        }
        self.pending.push_back(bar);
        Ok(())
    }

    /// After a drop or a close: reconnects when it may (`Ok(true)`), trying a few times with a
    /// growing pause; `Ok(false)` when it may not or cannot (the stream has ended).
    async fn reconnect(&mut self) -> Result<bool, FeedError> {
        const ATTEMPTS: u32 = 5;
        self.socket = None;
        if self.backfill.is_none() || self.reconnects_left == 0 {
            return Ok(false);
        }
        self.reconnects_left -= 1;
        let mut wait = std::time::Duration::from_millis(200);
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(2));
            }
            match tokio_tungstenite::connect_async(self.url.as_str()).await {
                Ok((socket, _)) => {
                    self.socket = Some(socket);
                    return Ok(true);
                }
                Err(e) => tracing::warn!(error = %e, attempt, "kline stream reconnect failed"),
            }
        }
        Ok(false)
    }

    /// The next closed candle, newer than the last one returned; `Ok(None)` when the exchange
    /// closes the stream (a resilient feed reconnects instead, while it may).
    ///
    /// Cancel safety: cancel-safe; a candle is only consumed when it is returned.
    ///
    /// # Errors
    /// [`FeedError`] on a broken connection or a malformed kline.
    pub async fn next_closed(&mut self) -> Result<Option<SandboxBar>, FeedError> {
        loop {
            if let Some(bar) = self.pending.pop_front() {
                self.last = Some(bar.timestamp);
                return Ok(Some(bar));
            }
            if let Some(bar) = self.waiting {
                // Cancelled mid-fetch, this starts again; the bar is not lost.
                self.fill_up_to(bar).await?;
                self.waiting = None;
                continue;
            }
            let Some(socket) = self.socket.as_mut() else {
                return Ok(None);
            };
            let message = match socket.next().await {
                None | Some(Ok(Message::Close(_))) => {
                    if self.reconnect().await? {
                        continue;
                    }
                    return Ok(None);
                }
                Some(Err(e)) => {
                    if self.reconnect().await? {
                        continue;
                    }
                    return Err(FeedError::Connection(e.to_string()));
                }
                Some(Ok(m)) => m,
            };
            match message {
                Message::Text(text) => {
                    if let Some(bar) = parse_binance_kline(text.as_str())? {
                        if self.last.is_none_or(|last| bar.timestamp > last) {
                            self.waiting = Some(bar);
                        }
                    }
                }
                Message::Ping(payload) => {
                    socket
                        .send(Message::Pong(payload))
                        .await
                        .map_err(|e| FeedError::Connection(e.to_string()))?;
                }
                _ => {}
            }
        }
    }
}
