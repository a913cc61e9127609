//! Market-data clients of the venues, and the download that pages through them into the store.
//!
//! Hand-written on the sources' HTTP client (`sources/http.rs`: timeouts, body caps, retries
//! that honour `Retry-After`), because the well-kept crates of this field do not fit here:
//! `barter-data` streams live market data over websockets only (no REST history), and its
//! releases need a newer compiler than 1.95; a kline page is one GET and a JSON array.
//!
//! - **Binance spot**: `GET {BINANCE_REST_URL}/api/v3/klines?symbol&interval&startTime&endTime
//!   &limit=1000`; each kline is `[open time ms, "open", "high", "low", "close", "volume",
//!   close time ms, …]`. The request weight used this minute (`X-MBX-USED-WEIGHT-1M`) is
//!   watched: past `BINANCE_WEIGHT_LIMIT` the download waits for the next minute. 429 and 418
//!   answers are retried after their `Retry-After`; a wait longer than a minute ends the
//!   download with the venue's words, keeping every page stored so far.
//! - **Binance USD-M futures** (perpetuals, `binance-futures`): `GET {BINANCE_FUTURES_URL}
//!   /fapi/v1/klines`, the spot klines' format and limits; its clock `GET /fapi/v1/time`.
//! - **Coinbase Exchange**: `GET {COINBASE_REST_URL}/products/{id}/candles?granularity&start
//!   &end`, at most 300 candles, newest first, each `[time s, low, high, open, close, volume]`.
//!
//! A page asks for a range of open times; the venue's answer covers that range (a bar it does
//! not send is a gap it has), or, when full, up to its last bar. Only closed bars are asked for:
//! the download ends at the open time of the bar forming now.

use std::time::Duration;

use super::{iso, BarStore, Interval, Series, StoreError, StoredBar, Venue};
use crate::sources::http::{FetchError, HttpClient, HttpPolicy};

/// Where the venues are (settings, so a testnet or a loopback server can stand in).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VenueUrls {
    /// `BINANCE_REST_URL` (default `https://api.binance.com`).
    pub binance: String,
    /// `COINBASE_REST_URL` (default `https://api.exchange.coinbase.com`).
    pub coinbase: String,
    /// `BINANCE_WS_URL`: the kline streams' base (default `wss://stream.binance.com:9443/ws`).
    pub binance_ws: String,
    /// `BINANCE_WEIGHT_LIMIT`: request weight a minute past which the download waits (default
    /// 1000; Binance allows 6000).
    pub binance_weight_limit: u32,
    /// `BINANCE_FUTURES_URL`: Binance USD-M futures, for funding rates (default
    /// `https://fapi.binance.com`).
    #[serde(default = "default_futures")]
    pub binance_futures: String,
}

fn default_futures() -> String {
    "https://fapi.binance.com".into()
}

impl Default for VenueUrls {
    fn default() -> Self {
        VenueUrls {
            binance: "https://api.binance.com".into(),
            coinbase: "https://api.exchange.coinbase.com".into(),
            binance_ws: "wss://stream.binance.com:9443/ws".into(),
            binance_weight_limit: 1000,
            binance_futures: default_futures(),
        }
    }
}

impl VenueUrls {
    /// The addresses and limits of the settings (`BINANCE_REST_URL`, `COINBASE_REST_URL`,
    /// `BINANCE_WEIGHT_LIMIT`).
    ///
    /// # Errors
    /// A bad `BINANCE_WEIGHT_LIMIT`.
    pub fn from_settings(
        settings: &crate::workflow::settings::Settings,
    ) -> Result<VenueUrls, crate::setting::SettingError> {
        let d = VenueUrls::default();
        Ok(VenueUrls {
            binance: settings.text("BINANCE_REST_URL").unwrap_or(d.binance),
            coinbase: settings.text("COINBASE_REST_URL").unwrap_or(d.coinbase),
            binance_ws: settings.text("BINANCE_WS_URL").unwrap_or(d.binance_ws),
            binance_futures: settings
                .text("BINANCE_FUTURES_URL")
                .unwrap_or(d.binance_futures),
            binance_weight_limit: settings.parsed(
                "BINANCE_WEIGHT_LIMIT",
                d.binance_weight_limit,
                |n| (1..=100_000).contains(n),
                "a request weight between 1 and 100000",
            )?,
        })
    }
}

/// Why a download stopped.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The venue did not answer as asked.
    #[error("{venue}: {source}")]
    Fetch {
        /// The venue.
        venue: &'static str,
        /// What happened.
        source: FetchError,
    },
    /// The venue answered with something that is not its format.
    #[error("{venue}: the answer is not a page of bars: {message}")]
    Format {
        /// The venue.
        venue: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The venue does not have this interval.
    #[error("{venue} has no {interval} bars")]
    Interval {
        /// The venue.
        venue: &'static str,
        /// The interval.
        interval: &'static str,
    },
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The live stream.
    #[error("{0}")]
    Feed(String),
}

/// What a download did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Downloaded {
    /// `venue/SYMBOL/interval`.
    pub series: String,
    /// Pages requested.
    pub requests: usize,
    /// Bars received and stored.
    pub bars: usize,
    /// The coverage after it, unix seconds `[from, to)`.
    pub coverage: Option<super::Coverage>,
}

/// A page: the bars of `[from, to)` the venue has, and the end of the range the page covers.
struct Page {
    bars: Vec<StoredBar>,
    covered_to: i64,
}

/// A market-data client of one venue.
pub struct VenueClient {
    venue: Venue,
    http: HttpClient,
    urls: VenueUrls,
}

impl VenueClient {
    /// A client of `venue` at `urls`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(venue: Venue, urls: VenueUrls) -> Result<VenueClient, DownloadError> {
        let policy = HttpPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
            max_body_bytes: 16 << 20,
            ..HttpPolicy::default()
        };
        let http = HttpClient::new(policy).map_err(|source| DownloadError::Fetch {
            venue: venue.as_str(),
            source,
        })?;
        Ok(VenueClient { venue, http, urls })
    }

    /// The venue's bars of the open times `[from, to)`, page by page (a gap the venue has is
    /// not in it).
    ///
    /// # Errors
    /// As [`download`].
    pub async fn fetch(
        &mut self,
        s: &Series,
        from: i64,
        to: i64,
    ) -> Result<Vec<StoredBar>, DownloadError> {
        let mut out = Vec::new();
        let mut at = from;
        while at < to {
            let page = self.page(s, at, to).await?;
            out.extend(page.bars);
            at = page.covered_to.clamp(at + s.interval.seconds(), to);
        }
        Ok(out)
    }

    /// The venue's clock, unix seconds: Binance `GET /api/v3/time` (`{"serverTime": ms}`),
    /// Coinbase Exchange `GET /time` (`{"epoch": seconds, …}`). Which bars are closed is the
    /// venue's word, not this machine's clock.
    ///
    /// # Errors
    /// The venue did not answer, or not in its format.
    pub async fn server_time(&mut self) -> Result<i64, DownloadError> {
        let venue = self.venue.as_str();
        let (url, field, per_second) = match self.venue {
            Venue::Binance => (
                format!("{}/api/v3/time", self.urls.binance.trim_end_matches('/')),
                "serverTime",
                1000.0,
            ),
            Venue::Coinbase => (
                format!("{}/time", self.urls.coinbase.trim_end_matches('/')),
                "epoch",
                1.0,
            ),
            Venue::BinanceFutures => (
                format!(
                    "{}/fapi/v1/time",
                    self.urls.binance_futures.trim_end_matches('/')
                ),
                "serverTime",
                1000.0,
            ),
        };
        let response = self.get(url).await?;
        serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .and_then(|v| v.get(field).and_then(serde_json::Value::as_f64))
            .filter(|t| t.is_finite() && *t > 0.0)
            .map(|t| (t / per_second).floor() as i64)
            .ok_or_else(|| DownloadError::Format {
                venue,
                message: format!("its time is not {{\"{field}\": …}}"),
            })
    }

    /// A perpetual's funding rates of `[from, to)` (unix seconds) from Binance USD-M futures:
    /// `GET {BINANCE_FUTURES_URL}/fapi/v1/fundingRate?symbol&startTime&endTime&limit=1000`,
    /// page after page (each from the last funding time it gave), oldest first.
    ///
    /// # Errors
    /// Not Binance; the venue did not answer, or not in its format (named).
    pub async fn funding_history(
        &mut self,
        symbol: &str,
        from: i64,
        to: i64,
    ) -> Result<(Vec<super::funding::FundingRate>, usize), DownloadError> {
        if !matches!(self.venue, Venue::Binance | Venue::BinanceFutures) {
            return Err(DownloadError::Format {
                venue: self.venue.as_str(),
                message: "funding rates come from Binance USD-M futures (--venue binance)".into(),
            });
        }
        const LIMIT: usize = 1000;
        let (mut out, mut requests, mut at) = (Vec::new(), 0, from);
        while at < to {
            let url = format!(
                "{}/fapi/v1/fundingRate?symbol={symbol}&startTime={}&endTime={}&limit={LIMIT}",
                self.urls.binance_futures.trim_end_matches('/'),
                at * 1000,
                to * 1000 - 1
            );
            let response = self.get(url).await?;
            requests += 1;
            let text = String::from_utf8_lossy(&response.body);
            let page = if text.trim() == "[]" {
                Vec::new()
            } else {
                super::funding::parse(&text).map_err(|e| DownloadError::Format {
                    venue: "binance",
                    message: e.to_string(),
                })?
            };
            let Some(last) = page.last().map(|r| r.time) else {
                break;
            };
            let full = page.len() >= LIMIT;
            out.extend(page.into_iter().filter(|r| r.time >= at && r.time < to));
            if !full || last < at {
                break;
            }
            at = last + 1;
        }
        out.dedup_by_key(|r| r.time);
        Ok((out, requests))
    }

    async fn page(&mut self, s: &Series, from: i64, to: i64) -> Result<Page, DownloadError> {
        match self.venue {
            Venue::Binance | Venue::BinanceFutures => self.binance_page(s, from, to).await,
            Venue::Coinbase => self.coinbase_page(s, from, to).await,
        }
    }

    async fn get(&mut self, url: String) -> Result<crate::sources::http::Response, DownloadError> {
        let venue = self.venue.as_str();
        let request = self.http.builder().get(url);
        self.http
            .send(request)
            .await
            .map_err(|source| DownloadError::Fetch { venue, source })
    }

    async fn binance_page(
        &mut self,
        s: &Series,
        from: i64,
        to: i64,
    ) -> Result<Page, DownloadError> {
        const LIMIT: usize = 1000;
        // Spot and the perpetuals answer klines in one format.
        let (base, path) = match self.venue {
            Venue::BinanceFutures => (&self.urls.binance_futures, "fapi/v1"),
            _ => (&self.urls.binance, "api/v3"),
        };
        let url = format!(
            "{}/{path}/klines?symbol={}&interval={}&startTime={}&endTime={}&limit={LIMIT}",
            base.trim_end_matches('/'),
            s.symbol,
            s.interval.name(),
            from * 1000,
            to * 1000 - 1
        );
        let response = self.get(url).await?;
        let used = response
            .header("x-mbx-used-weight-1m")
            .and_then(|w| w.trim().parse::<u32>().ok());
        let venue = self.venue.as_str();
        let format = |message: String| DownloadError::Format { venue, message };
        let rows: Vec<Vec<serde_json::Value>> =
            serde_json::from_slice(&response.body).map_err(|e| format(e.to_string()))?;
        let mut bars = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let ms = row.first().and_then(serde_json::Value::as_i64);
            let num = |k: usize| {
                row.get(k)
                    .and_then(|v| v.as_str())
                    .and_then(|t| t.parse::<f64>().ok())
            };
            let (Some(ms), Some(open), Some(high), Some(low), Some(close), Some(volume)) =
                (ms, num(1), num(2), num(3), num(4), num(5))
            else {
                return Err(format(format!("kline {i} is not [open time, \"open\", \"high\", \"low\", \"close\", \"volume\", …]")));
            };
            bars.push(StoredBar {
                open_time: ms.div_euclid(1000),
                open,
                high,
                low,
                close,
                volume,
            });
        }
        if let Some(used) = used {
            if used >= self.urls.binance_weight_limit {
                // The weight resets each minute: wait for the next one.
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let wait = 60 - now.rem_euclid(60) + 1;
                tracing::warn!(used, wait, "binance request weight near its limit; waiting");
                tokio::time::sleep(Duration::from_secs(wait.unsigned_abs())).await;
            }
        }
        let covered_to = if bars.len() >= LIMIT {
            bars.last()
                .map_or(to, |b| b.open_time + s.interval.seconds())
        } else {
            to
        };
        Ok(Page { bars, covered_to })
    }

    async fn coinbase_page(
        &mut self,
        s: &Series,
        from: i64,
        to: i64,
    ) -> Result<Page, DownloadError> {
        const LIMIT: i64 = 300;
        let step = s.interval.seconds();
        if ![60, 300, 900, 3600, 21_600, 86_400].contains(&step) {
            return Err(DownloadError::Interval {
                venue: "coinbase",
                interval: s.interval.name(),
            });
        }
        let to = to.min(from + LIMIT * step);
        // `end` is the last bucket's start: inclusive.
        let url = format!(
            "{}/products/{}/candles?granularity={step}&start={}&end={}",
            self.urls.coinbase.trim_end_matches('/'),
            s.symbol,
            iso(from),
            iso(to - step)
        );
        let response = self.get(url).await?;
        let format = |message: String| DownloadError::Format {
            venue: "coinbase",
            message,
        };
        let rows: Vec<Vec<f64>> =
            serde_json::from_slice(&response.body).map_err(|e| format(e.to_string()))?;
        let mut bars = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let [t, low, high, open, close, volume] = row[..] else {
                return Err(format(format!(
                    "candle {i} is not [time, low, high, open, close, volume]"
                )));
            };
            bars.push(StoredBar {
                open_time: t as i64,
                open,
                high,
                low,
                close,
                volume,
            });
        }
        // Newest first on the wire.
        bars.sort_by_key(|b| b.open_time);
        bars.dedup_by_key(|b| b.open_time);
        bars.retain(|b| b.open_time >= from && b.open_time < to);
        Ok(Page {
            bars,
            covered_to: to,
        })
    }
}

/// The open time of the bar forming at `now`: every bar before it is closed.
pub fn forming(interval: Interval, now: i64) -> i64 {
    now.div_euclid(interval.seconds()) * interval.seconds()
}

/// Downloads the closed bars of `[since, until)` (until: the bar forming `now` when not given)
/// that the store does not hold yet, page by page, each page stored before the next is asked
/// for. A rerun asks only for what is new; a download cut short (a kill, a ban) leaves every
/// page it stored, and the next run goes on from there.
///
/// # Errors
/// The venue or the store; what was stored stays.
pub async fn download(
    store: &BarStore,
    client: &mut VenueClient,
    s: &Series,
    since: i64,
    until: Option<i64>,
    now: i64,
) -> Result<Downloaded, DownloadError> {
    let step = s.interval.seconds();
    let since = since.div_euclid(step) * step;
    let end = until
        .map(|u| u.div_euclid(step) * step)
        .unwrap_or(i64::MAX)
        .min(forming(s.interval, now));
    let mut requests = 0;
    let mut stored = 0;
    store.tidy(s)?;
    let coverage = store.coverage(s)?;
    // What is missing: before the coverage (then its own pages, the coverage moved at the end),
    // and after it.
    let mut ranges = Vec::new();
    match coverage {
        None => ranges.push((since, end)),
        Some(c) => {
            // Up to the coverage's start whatever `until` says: the coverage has no holes.
            if since < c.from {
                ranges.push((since, c.from));
            }
            if end > c.to {
                ranges.push((c.to.max(since), end));
            }
        }
    }
    for (from, to) in ranges {
        let mut at = from;
        let mut pages = Vec::new();
        let before = coverage.is_some_and(|c| to <= c.from);
        while at < to {
            let page = client.page(s, at, to).await?;
            requests += 1;
            let covered = page.covered_to.clamp(at + step, to);
            stored += page.bars.len();
            if before {
                // Kept until the range is whole: the coverage cannot grow at its start page by
                // page without a hole.
                pages.push((page.bars, at, covered));
            } else {
                store.write_page(s, &page.bars, at, covered)?;
            }
            at = covered;
        }
        if before {
            let all: Vec<StoredBar> = pages.iter().flat_map(|(b, _, _)| b.clone()).collect();
            if let (Some((_, first, _)), Some((_, _, last))) = (pages.first(), pages.last()) {
                store.write_page(s, &all, *first, *last)?;
            }
        }
    }
    Ok(Downloaded {
        series: s.label(),
        requests,
        bars: stored,
        coverage: store.coverage(s)?,
    })
}

/// Follows a venue's live stream of closed bars into the store: each closed bar is stored as it
/// closes; the bars between the store's end and the stream's first bar are downloaded first, and
/// a dropped stream backfills what it missed (the feed's own REST backfill), so the coverage
/// stays whole. Ends after `max_bars` bars, or when the stream ends.
///
/// # Errors
/// The venue, the stream or the store; what was stored stays.
pub async fn follow(
    store: &BarStore,
    feed: &mut crate::stages::feed::KlineFeed,
    client: &mut VenueClient,
    s: &Series,
    max_bars: Option<usize>,
) -> Result<Downloaded, DownloadError> {
    let step = s.interval.seconds();
    let (mut requests, mut stored) = (0, 0);
    store.tidy(s)?;
    // The coverage's end, kept here as bars are stored (read from the store once).
    let mut end = store.coverage(s)?.map(|c| c.to);
    while max_bars.is_none_or(|m| stored < m) {
        let Some(bar) = feed
            .next_closed()
            .await
            .map_err(|e| DownloadError::Feed(e.to_string()))?
        else {
            break;
        };
        let open = bar.timestamp - step;
        if let Some(to) = end {
            if open < to {
                continue;
            }
            if open > to {
                let caught = download(store, client, s, to, Some(open), bar.timestamp).await?;
                requests += caught.requests;
                stored += caught.bars;
            }
        }
        let kept = StoredBar {
            open_time: open,
            open: bar.open,
            high: bar.high,
            low: bar.low,
            close: bar.close,
            volume: bar.volume,
        };
        store.write_page(s, &[kept], open, open + step)?;
        end = Some(open + step);
        stored += 1;
    }
    Ok(Downloaded {
        series: s.label(),
        requests,
        bars: stored,
        coverage: store.coverage(s)?,
    })
}
