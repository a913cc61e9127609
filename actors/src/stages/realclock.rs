//! The stages on the real clock: over a series of the bar store (`DATA_DIR/market/`), kept
//! current from its venue, with "now" the venue's clock.
//!
//! | stage | window | how it runs |
//! | --- | --- | --- |
//! | COLD | the `cold_days` of closed bars before now, after the series is updated | one backtest |
//! | WARM | the `warm_hours` of bars from the first bar that closes after it started | step by step: each step consumes the bars closed since the last one and marks them on the log |
//! | LIMITED | the `limited_hours` of bars from the first that closes after it started, at `limited_capital_fraction` | as WARM |
//! | FULL | its first bar (then the monitor watches the bars that follow) | one backtest |
//!
//! Lengths are counted in bars, so in bar time (candle timestamps): a venue whose clock runs
//! fast runs hours of a stage in seconds. A paper stage is deterministic in its bars: each step
//! runs the candidate and its baseline over the warm-up and every bar of the window closed so
//! far, and the fills and equity of the bars not marked yet are the step's [`Mark`]. After a
//! crash the next step does the same: the bars it had consumed give the same fills (they are
//! on the store, durable), and it goes on at the first bar it had not marked. An inconclusive
//! window grows as the recorded one does (twice as long, up to `paper_max_extensions` times).

use std::time::Duration;

use stratagem_events::projection::RiskMark;
use stratagem_events::{Stage, StageFill};

use super::clock::SimulatedClock;
use super::paper::{self, PaperError, PaperVenue, RecordedFeed};
use super::parity::stage_fill;
use super::runner::{
    backtest_window, Baseline, Judged, StageError, StageOutcome, StageSettings, StageWindow,
};
use crate::bars::venues::{download, VenueClient, VenueUrls};
use crate::bars::{BarStore, Series, StoredBar};
use crate::market::Calendar;
use crate::validator::sandbox::runtime::{LoadedStrategy, Sandbox, SandboxBar};

/// Where the stages take their bars.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum StageMarket {
    /// The embedded 2017–2019 recording on a simulated clock (offline, and the default).
    Recorded,
    /// A series of the bar store, kept current from its venue, on the venue's clock.
    Store {
        /// The series (for an idea: the one of its instrument; else the default).
        series: Series,
        /// Every configured series (`MARKETS`, and the default), the instruments ideas map to.
        markets: Vec<Series>,
        /// The venues' addresses.
        urls: VenueUrls,
        /// How long `stage` waits between two steps of a paper stage (`STAGE_POLL_SECONDS`).
        poll: Duration,
    },
}

impl StageMarket {
    /// The market of an idea with `text` (its title and hypothesis) and `timeframe`: on the
    /// real clock the configured series of its instrument ([`crate::bars::instruments`]), else
    /// the default; the recording stays the recording.
    pub fn for_idea(&self, text: &str, timeframe: Option<&str>) -> StageMarket {
        match self {
            StageMarket::Recorded => StageMarket::Recorded,
            StageMarket::Store {
                series,
                markets,
                urls,
                poll,
            } => StageMarket::Store {
                series: crate::bars::instruments::choose(markets, series, text, timeframe).0,
                markets: markets.clone(),
                urls: urls.clone(),
                poll: *poll,
            },
        }
    }

    /// `recorded`, or the series' `venue/SYMBOL/interval`.
    pub fn label(&self) -> String {
        match self {
            StageMarket::Recorded => "recorded".into(),
            StageMarket::Store { series, .. } => series.label(),
        }
    }
}

/// The bars of a paper stage consumed by one step: what `stage.marked` records, less its ids.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Mark {
    /// The series, `venue/SYMBOL/interval`.
    pub series: String,
    /// Open time of the window's first bar.
    pub window_start: i64,
    /// Bars of the window.
    pub window_bars: u64,
    /// Bars of the window consumed, this step's included.
    pub bars: u64,
    /// Open time of the last bar consumed (the bar before the window when none).
    pub through: i64,
    /// The candidate's fills in the bars this step consumed.
    pub fills: Vec<StageFill>,
    /// The candidate's equity at the close of `through`.
    pub equity: f64,
    /// The baseline's equity then.
    pub baseline_equity: f64,
}

/// How far one step of a stage on the real clock got.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StageStep {
    /// The bars it consumed (none when no bar closed since the last step).
    pub mark: Option<Mark>,
    /// The outcome once the window is complete; `None` while the stage is under way.
    pub outcome: Option<StageOutcome>,
    /// The window's bars once a paper stage's window is complete (what a ledger of the
    /// exchange's fills against the backtest's is read on); empty otherwise.
    pub window: Vec<SandboxBar>,
}

/// The store's bars as the sandbox sees them, stamped by their open time.
pub fn sandbox_bars(stored: &[StoredBar]) -> Vec<SandboxBar> {
    stored
        .iter()
        .map(|b| SandboxBar {
            timestamp: b.open_time,
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
        })
        .collect()
}

/// Bars of `interval` seconds in `hours` (at least one).
pub fn bars_in_hours(hours: u64, interval: i64) -> usize {
    let interval = interval.max(1) as u64;
    (hours * 3600).div_ceil(interval).max(1) as usize
}

/// Bars a stage's window has at first on this interval.
pub fn window_bars(stage: Stage, s: &StageSettings, interval: i64) -> usize {
    match stage {
        Stage::Cold => bars_in_hours(u64::from(s.cold_days) * 24, interval),
        Stage::Warm => bars_in_hours(u64::from(s.warm_hours), interval),
        Stage::Limited => bars_in_hours(u64::from(s.limited_hours), interval),
        Stage::Full => 1,
    }
}

/// Brings `series` up to the venue's now: the closed bars from `since(now)` that the store
/// does not hold are downloaded (from the store's end at the latest: the coverage has no
/// holes). Returns the venue's now.
///
/// # Errors
/// The venue or the store; what was stored stays.
pub async fn update(
    store: &BarStore,
    client: &mut VenueClient,
    series: &Series,
    since: impl Fn(i64) -> i64,
) -> Result<i64, StageError> {
    let market = |e: crate::bars::venues::DownloadError| {
        StageError::Market(format!("cannot bring {} up to now: {e}", series.label()))
    };
    let now = client.server_time().await.map_err(market)?;
    let since = since(now);
    let since = match store.coverage(series) {
        Ok(Some(c)) => since.min(c.to),
        _ => since,
    };
    download(store, client, series, since, None, now)
        .await
        .map_err(market)?;
    Ok(now)
}

/// A perpetual series' funding rates: those of `[from, now)` the store does not hold yet
/// (before its first rate and after its last) fetched from the venue into the store (merged
/// by time, kept under `binance`, as `data funding` keeps them), then all the store holds; none
/// for a spot series.
///
/// # Errors
/// The venue or the store; what was stored stays.
pub async fn update_funding(
    store: &BarStore,
    client: &mut VenueClient,
    series: &Series,
    (from, now): (i64, i64),
) -> Result<Vec<crate::bars::funding::FundingRate>, StageError> {
    if !series.venue.perpetual() {
        return Ok(Vec::new());
    }
    let market = |e: String| {
        StageError::Market(format!(
            "cannot bring the funding of {} up to now: {e}",
            series.label()
        ))
    };
    let held = store
        .funding(crate::bars::Venue::Binance, &series.symbol)
        .map_err(|e| market(e.to_string()))?;
    // Each step and cycle asks only for what it does not hold: before the first rate held and
    // after the last.
    let missing = match (held.first(), held.last()) {
        (Some(first), Some(last)) => [(from, first.time.min(now)), (from.max(last.time + 1), now)],
        _ => [(from, now), (now, now)],
    };
    let mut rates = Vec::new();
    for (since, until) in missing.into_iter().filter(|(a, b)| a < b) {
        let (got, _) = client
            .funding_history(&series.symbol, since, until)
            .await
            .map_err(|e| market(e.to_string()))?;
        rates.extend(got);
    }
    if rates.is_empty() {
        return Ok(held);
    }
    store
        .put_funding(crate::bars::Venue::Binance, &series.symbol, &rates)
        .map_err(|e| market(e.to_string()))?;
    store
        .funding(crate::bars::Venue::Binance, &series.symbol)
        .map_err(|e| market(e.to_string()))
}

/// Brings `series` in the bar store of the data directory `root` up to the venue's now (see
/// [`update`]), from `lookback` bars before now for a new series. Returns the venue's now.
///
/// # Errors
/// The venue or the store; what was stored stays.
pub async fn bring_up_to_now(
    root: &std::path::Path,
    series: &Series,
    urls: &VenueUrls,
    lookback: usize,
) -> Result<i64, StageError> {
    let store = BarStore::new(root);
    let mut client = VenueClient::new(series.venue, urls.clone())
        .map_err(|e| StageError::Market(e.to_string()))?;
    let step = series.interval.seconds();
    let since = |now| crate::bars::venues::forming(series.interval, now) - lookback as i64 * step;
    let now = update(&store, &mut client, series, since).await?;
    // A perpetual's funding too (the monitor pays it on a stay's perpetual leg).
    update_funding(&store, &mut client, series, (since(now), now)).await?;
    Ok(now)
}

/// The bars a stage on the real clock runs over: one series of the store, or the series of a
/// strategy's legs aligned by time (a step is a time every leg has closed a bar at).
#[derive(Clone, Copy)]
pub enum StageBars<'a> {
    /// One series.
    One(&'a [SandboxBar]),
    /// Several, aligned, and each leg's funding rates (a perpetual's; none for spot).
    Legs(
        &'a super::legs::Aligned,
        &'a [Vec<crate::bars::funding::FundingRate>],
    ),
}

/// What a backtest of a stage's window came to, whichever its bars.
struct WindowRun {
    metrics: stratagem_events::StageMetrics,
    fills: Vec<StageFill>,
    equity: f64,
    trap: Option<crate::validator::sandbox::runtime::SandboxTrap>,
}

impl StageBars<'_> {
    /// Steps (bars of one series).
    fn len(&self) -> usize {
        match self {
            StageBars::One(bars) => bars.len(),
            StageBars::Legs(aligned, _) => aligned.steps(),
        }
    }

    /// The first leg's bars (a step's time is its bar's).
    pub fn first(&self) -> &[SandboxBar] {
        match self {
            StageBars::One(bars) => bars,
            StageBars::Legs(aligned, _) => aligned.legs.first().map_or(&[], Vec::as_slice),
        }
    }

    fn backtest(
        &self,
        sandbox: &Sandbox,
        candidate: &LoadedStrategy,
        w: StageWindow,
        s: &StageSettings,
        trials: u64,
    ) -> Result<WindowRun, StageError> {
        let capital = s.capital;
        Ok(match self {
            StageBars::One(bars) => {
                let (b, trap) =
                    backtest_window(sandbox, candidate, bars, w, capital, s, trials, &[])?;
                WindowRun {
                    fills: b.fills.iter().map(stage_fill).collect(),
                    equity: b.equity.last().map_or(capital, |(_, e)| *e),
                    metrics: b.metrics,
                    trap,
                }
            }
            StageBars::Legs(aligned, funding) => {
                let bpy = Calendar::Crypto.bars_per_year(self.first());
                let (b, trap) = super::legs::backtest_window(
                    sandbox,
                    candidate,
                    aligned,
                    w,
                    capital,
                    s.costs,
                    bpy,
                    trials,
                    (&[], funding),
                )?;
                WindowRun {
                    fills: b.fills.iter().map(|f| stage_fill(&f.fill)).collect(),
                    equity: b.equity.last().map_or(capital, |(_, e)| *e),
                    metrics: b.metrics,
                    trap,
                }
            }
        })
    }

    /// A paper session of the window `start..start + n` (the warm-up before it).
    #[allow(clippy::too_many_arguments)]
    async fn paper(
        &self,
        sandbox: &Sandbox,
        candidate: &LoadedStrategy,
        champion: Option<&LoadedStrategy>,
        (start, n): (usize, usize),
        capital: f64,
        s: &StageSettings,
        bpy: f64,
        risk: &[RiskMark],
    ) -> Result<paper::PaperSession, StageError> {
        let w = StageWindow {
            feed_start: start.saturating_sub(s.warmup_bars),
            start,
            end: start + n,
        };
        match self {
            StageBars::One(bars) => {
                let clock = SimulatedClock::new(0, None);
                let mut feed = RecordedFeed::new(&bars[start..start + n], &clock);
                paper::trade(
                    sandbox,
                    candidate,
                    champion,
                    &bars[w.feed_start..start],
                    &mut feed,
                    n,
                    capital,
                    PaperVenue::of(s),
                    bpy,
                    risk,
                )
                .await
                .map_err(|e| match e {
                    PaperError::Sandbox(e) => StageError::Sandbox(e),
                    PaperError::Feed(e) => StageError::Feed(e),
                })
            }
            StageBars::Legs(aligned, funding) => Ok(super::legs::paper_session(
                sandbox,
                candidate,
                aligned,
                w,
                capital,
                PaperVenue::of(s),
                bpy,
                (risk, funding),
            )?),
        }
    }
}

/// COLD or FULL over `bars`, the closed bars up to now of the series `label` (bars of
/// `interval` seconds): COLD backtests the last `cold_days` of them (the warm-up before), FULL
/// its last bar. Its mark records the window (the monitor reads a FULL stay from the bar after
/// it).
///
/// # Errors
/// [`StageError::NotEnoughBars`] when the store has too few; the sandbox's.
#[allow(clippy::too_many_arguments)]
pub fn backtest_stage(
    sandbox: &Sandbox,
    candidate: &LoadedStrategy,
    stage: Stage,
    (label, interval): (&str, i64),
    bars: StageBars<'_>,
    s: &StageSettings,
    trials: u64,
) -> Result<StageStep, StageError> {
    let n = window_bars(stage, s, interval);
    let end = bars.len();
    if end < n + 1 {
        return Err(StageError::NotEnoughBars(format!(
            "{end} closed bars of {label} in the store; {} needs {n} and one before",
            stage.as_str().to_uppercase(),
        )));
    }
    let w = StageWindow {
        feed_start: (end - n).saturating_sub(s.warmup_bars),
        start: end - n,
        end,
    };
    let run = bars.backtest(sandbox, candidate, w, s, trials)?;
    let mut metrics = run.metrics;
    let (passed, gate) = Judged {
        stage,
        fills: run.fills.len(),
        extensions: 0,
        bars: n,
        baseline_sharpe: 0.0,
        baseline_name: "none",
        test: None,
    }
    .gate(&mut metrics, s);
    let first = bars.first();
    let mark = Mark {
        series: label.to_string(),
        window_start: first[w.start].timestamp,
        window_bars: n as u64,
        bars: n as u64,
        through: first[end - 1].timestamp,
        fills: run.fills,
        equity: run.equity,
        baseline_equity: s.capital,
    };
    Ok(StageStep {
        mark: Some(mark),
        outcome: Some(StageOutcome {
            stage,
            window: w,
            capital_fraction: 1.0,
            metrics,
            baseline: "none".into(),
            passed: passed && run.trap.is_none(),
            gate,
            trap: run.trap,
            bars_per_year: Calendar::Crypto.bars_per_year(first),
            parity: None,
            // The real clock's marks carry the curve.
            curve: Vec::new(),
            curve_baseline: String::new(),
        }),
        window: Vec::new(),
    })
}

/// One step of WARM or LIMITED: the candidate and its baseline over the warm-up (the bars
/// before `start`) and the window's bars closed so far (from `start`), of which `consumed`
/// were marked by earlier steps (whose marks gave the window's start, `marked_start`). The new bars' fills and equity are the step's mark; once the
/// window is complete the gate is applied. Over several series the baseline is their legs
/// bought and held, and no parity ledger is kept (the paper model is the backtest's, leg by
/// leg).
///
/// # Errors
/// The sandbox could not start a strategy.
#[allow(clippy::too_many_arguments)]
pub async fn paper_step(
    sandbox: &Sandbox,
    candidate: &LoadedStrategy,
    baseline: &Baseline<'_>,
    stage: Stage,
    (label, interval): (&str, i64),
    bars: StageBars<'_>,
    (start, consumed, marked_start): (usize, usize, Option<i64>),
    s: &StageSettings,
    risk: &[RiskMark],
) -> Result<StageStep, StageError> {
    let fraction = if stage == Stage::Limited {
        s.limited_capital_fraction
    } else {
        1.0
    };
    let capital = s.capital * fraction;
    let legs = matches!(bars, StageBars::Legs(..));
    let champion = match baseline {
        Baseline::Champion { strategy, .. } if !legs => Some(*strategy),
        _ => None,
    };
    let baseline_name = match baseline {
        Baseline::Champion { name, .. } if !legs => name.clone(),
        _ => "buy_and_hold".to_string(),
    };
    let first = bars.first();
    let bpy = Calendar::Crypto.bars_per_year(first);
    let start = start.min(bars.len());
    let available = bars.len() - start;
    let mut wanted = window_bars(stage, s, interval);
    let mut extensions = 0;
    let (session, n) = loop {
        let n = available.min(wanted);
        let session = bars
            .paper(
                sandbox,
                candidate,
                champion,
                (start, n),
                capital,
                s,
                bpy,
                risk,
            )
            .await?;
        // Too few fills to judge over the whole window: it grows, while it may.
        if n == wanted
            && s.wants_evidence(stage, &session)
            && session.trap.is_none()
            && extensions < s.paper_max_extensions
        {
            extensions += 1;
            wanted *= 2;
            continue;
        }
        break (session, n);
    };
    let first_open = first.get(start).map_or(0, |b| b.timestamp);
    // The window's start, once marked, stays (over several series the step after the last
    // one known is known only when it closes).
    let window_start = if let Some(marked) = marked_start {
        marked
    } else if start < first.len() {
        first_open
    } else {
        // No bar of the window closed yet: it starts at the bar after the last one.
        first.last().map_or(0, |b| b.timestamp + interval)
    };
    let mark = (n > consumed || consumed == 0).then(|| Mark {
        series: label.to_string(),
        window_start,
        window_bars: wanted as u64,
        bars: n as u64,
        through: if n == 0 {
            window_start - interval
        } else {
            first[start + n - 1].timestamp
        },
        fills: session
            .filled
            .iter()
            .filter(|f| f.bar >= consumed)
            .map(stage_fill)
            .collect(),
        equity: session.equity,
        baseline_equity: session.baseline_equity,
    });
    let complete = n == wanted || session.trap.is_some();
    let window = StageWindow {
        feed_start: start.saturating_sub(s.warmup_bars),
        start,
        end: start + n,
    };
    let parity = match bars {
        StageBars::One(one) if complete => Some(super::parity::of_session(
            sandbox, candidate, one, window, capital, s, risk, &session,
        )?),
        _ => None,
    };
    let outcome = complete.then(|| {
        let mut metrics = session.candidate.clone();
        let (passed, gate) = Judged {
            stage,
            fills: session.fills,
            extensions,
            bars: n,
            baseline_sharpe: session.baseline.sharpe,
            baseline_name: &baseline_name,
            test: session.sharpe_test(s.improvement(stage)),
        }
        .gate(&mut metrics, s);
        StageOutcome {
            stage,
            window,
            capital_fraction: fraction,
            metrics,
            baseline: baseline_name.clone(),
            passed: passed && session.trap.is_none(),
            gate,
            trap: session.trap.clone(),
            bars_per_year: bpy,
            parity,
            // The real clock's marks carry the curve.
            curve: Vec::new(),
            curve_baseline: String::new(),
        }
    });
    let window = match (&outcome, bars) {
        (Some(_), StageBars::One(one)) => one[window.start..window.end].to_vec(),
        _ => Vec::new(),
    };
    Ok(StageStep {
        mark,
        outcome,
        window,
    })
}

/// The configured series of `market` with the regime of each, read on the last 30 days of its
/// bars in the store of the data directory `root` (none on the recorded timeline; a series
/// with fewer than two bars is left out).
pub fn instruments(
    root: &std::path::Path,
    market: &StageMarket,
) -> Option<crate::discovery::Instruments> {
    let StageMarket::Store {
        series, markets, ..
    } = market
    else {
        return None;
    };
    let store = BarStore::new(root);
    let regimes = markets
        .iter()
        .filter_map(|s| {
            let end = store.coverage(s).ok()??.to;
            let stored = store.read(s, end - 30 * 86_400, end).ok()?;
            let mut reading = crate::scorer::regime::detect_window(&sandbox_bars(&stored));
            (reading.bars >= 2).then(|| {
                reading.reason = format!("{}: {}", s.label(), reading.reason);
                (s.clone(), reading)
            })
        })
        .collect();
    Some(crate::discovery::Instruments {
        default: series.clone(),
        regimes,
        markets: markets.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::ScoringContext;
    use crate::scorer::regime::Regime;
    use crate::scorer::Candidate;
    use crate::scorer::ScorerConfig;

    /// A month of hourly bars going from 100 by `step` a bar.
    fn trending(step: f64) -> Vec<StoredBar> {
        (0..720)
            .map(|i| {
                let p = 100.0 + step * i as f64;
                StoredBar {
                    open_time: 1_700_000_000 - 1_700_000_000 % 3600 + 3600 * i,
                    open: p,
                    high: p * 1.001,
                    low: p * 0.999,
                    close: p,
                    volume: 1.0,
                }
            })
            .collect()
    }

    #[test]
    fn an_ideas_market_fit_is_judged_on_the_regime_of_its_instrument() {
        let dir = tempfile::tempdir().unwrap();
        let store = BarStore::new(dir.path());
        let btc = Series::parse("binance/BTCUSDT/1h").unwrap();
        let eth = Series::parse("binance/ETHUSDT/1h").unwrap();
        for (s, step) in [(&btc, 0.05), (&eth, -0.05)] {
            let bars = trending(step);
            let (from, to) = (bars[0].open_time, bars[719].open_time + 3600);
            store.write_page(s, &bars, from, to).unwrap();
        }
        let market = StageMarket::Store {
            series: btc.clone(),
            markets: vec![btc.clone(), eth.clone()],
            urls: VenueUrls::default(),
            poll: Duration::from_secs(1),
        };
        let instruments = instruments(dir.path(), &market).unwrap();
        let regimes: Vec<(String, Regime)> = instruments
            .regimes
            .iter()
            .map(|(s, r)| (s.label(), r.regime))
            .collect();
        assert_eq!(
            regimes,
            [
                ("binance/BTCUSDT/1h".to_string(), Regime::Bull),
                ("binance/ETHUSDT/1h".to_string(), Regime::Bear)
            ]
        );
        let mut ctx = ScoringContext::new(
            crate::scorer::regime::detect(crate::market::embedded_hourly()),
            ScorerConfig::default(),
        );
        ctx.instruments = Some(instruments);
        let score = |ctx: &ScoringContext, title: &str| {
            let x = crate::extract::extract_text(title, "prices trend: buy strength");
            ctx.score(&Candidate::from_extracted(uuid::Uuid::nil(), 1, &x))
                .0
        };
        let on_btc = score(&ctx, "Momentum in Bitcoin");
        let on_eth = score(&ctx, "Momentum in Ethereum");
        assert_eq!(on_btc.regime, Regime::Bull);
        assert_eq!(on_eth.regime, Regime::Bear);
        assert_ne!(on_btc.market_fit.value, on_eth.market_fit.value);
        // The recording's regime when the idea's series has no bars yet.
        ctx.instruments.as_mut().unwrap().regimes.clear();
        assert_eq!(
            score(&ctx, "Momentum in Ethereum").regime,
            ctx.regime.regime
        );
    }
}
