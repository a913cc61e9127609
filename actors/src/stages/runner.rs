//! The stage gates, run offline on recorded bars (a simulated clock: "4 hours of paper trading"
//! is 4 hours of recorded bars, replayed in milliseconds).
//!
//! Offline timeline, with `now` = the last recorded bar − (WARM + LIMITED hours + live days):
//!
//! | stage | window | capital | gate (defaults: the seed's) |
//! | --- | --- | --- | --- |
//! | COLD | the `cold_days` (7) days before `now` | 100 % | Sharpe ≥ `cold_min_sharpe` (0.5) **and** closed trades ≥ `cold_min_trades` (2) |
//! | WARM | `warm_hours` (4) from `now`, beside the baseline | 100 % | at least `paper_min_fills` (1) filled orders, and Sharpe ≥ baseline + `warm_min_improvement` (10 %) × \|baseline\| |
//! | LIMITED | the `limited_hours` (24) after WARM | `limited_capital_fraction` (10 %) | at least `paper_min_fills` filled orders, and Sharpe ≥ baseline + `limited_min_improvement` (15 %) × \|baseline\| |
//! | FULL | its first bar, then the `live_days` (28) recorded after LIMITED, watched by the monitor | 100 % | none: the monitor rolls it back on degradation |
//!
//! A WARM or LIMITED session with fewer filled orders than `paper_min_fills` is inconclusive, never a
//! pass: it runs again over a window twice as long (on the recorded timeline it reaches into
//! the bars after it), up to `paper_max_extensions` times, then is rejected as inconclusive.
//!
//! The baseline is the current FULL champion, or buy-and-hold when there is none, on the same
//! window. The strategy is fed `warmup_bars` bars before its window (so its indicators are
//! ready); only orders placed inside the window trade. The paper broker is the backtest
//! engine's fill model: next-open fills, the same fees and slippage.

use serde::Serialize;
use stratagem_events::{Stage, StageMetrics};

use super::backtest::{self, CostModel};
use super::clock::SimulatedClock;
use super::paper::{self, PaperError, RecordedFeed};
use crate::market;
use crate::validator::sandbox::runtime::{
    Deadline, HostOrder, LoadedStrategy, RiskLimits, Sandbox, SandboxBar, SandboxError,
    SandboxLimits, SandboxTrap,
};

/// Every duration, share and threshold of the stages, with the seed's values as defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct StageSettings {
    /// COLD backtest length, days (`COLD_DAYS`, 7).
    pub cold_days: u32,
    /// COLD gate: minimum annualised Sharpe (`COLD_MIN_SHARPE`, 0.5).
    pub cold_min_sharpe: f64,
    /// COLD gate: minimum closed trades (`COLD_MIN_TRADES`, 2).
    pub cold_min_trades: u64,
    /// WARM paper-trading length, hours (`WARM_HOURS`, 4).
    pub warm_hours: u32,
    /// WARM gate: Sharpe improvement over the baseline (`WARM_MIN_IMPROVEMENT`, 0.10).
    pub warm_min_improvement: f64,
    /// LIMITED length, hours (`LIMITED_HOURS`, 24).
    pub limited_hours: u32,
    /// LIMITED share of capital (`LIMITED_CAPITAL_FRACTION`, 0.10).
    pub limited_capital_fraction: f64,
    /// LIMITED gate: Sharpe improvement over the baseline (`LIMITED_MIN_IMPROVEMENT`, 0.15).
    pub limited_min_improvement: f64,
    /// Fewest filled orders of a WARM or LIMITED session whose Sharpe the gate judges
    /// (`PAPER_MIN_FILLS`, 1): below, the verdict is inconclusive, never a pass.
    pub paper_min_fills: usize,
    /// Times an inconclusive WARM or LIMITED session is run again over a window twice as long
    /// before it is rejected as inconclusive (`PAPER_MAX_EXTENSIONS`, 5: up to 32× the window).
    pub paper_max_extensions: u32,
    /// Recorded days after LIMITED that a strategy trades at FULL offline, watched by the
    /// monitor (`LIVE_DAYS`, 28).
    pub live_days: u32,
    /// Capital of a full allocation (`STAGE_CAPITAL`, 100,000).
    pub capital: f64,
    /// Bars fed before the window so indicators are ready (`STAGE_WARMUP_BARS`, 500).
    pub warmup_bars: usize,
    /// Fees and slippage of the backtests (and of the parity ledger's replay).
    pub costs: CostModel,
    /// The paper venue of WARM and LIMITED: its fees and slippage (`PAPER_FEE_BPS`,
    /// `PAPER_SLIPPAGE_BPS`; default the backtests').
    pub paper_costs: CostModel,
    /// Bars after the backtest's fill that a paper order fills (`PAPER_FILL_DELAY_BARS`,
    /// default 0: at the next open, as the backtest).
    pub paper_fill_delay_bars: usize,
    /// The human checkpoint: a person approves each strategy before this stage
    /// (`REQUIRE_APPROVAL_BEFORE` = `limited`, `full` or `none`; default none, the seed's
    /// "can be fully autonomous").
    pub require_approval_before: Option<Stage>,
    /// The checkpoint for code a model wrote (llm and hybrid modes), on top of
    /// `require_approval_before` (`MODEL_REQUIRE_APPROVAL_BEFORE`; default `limited`: a person
    /// reads model-written code before it trades real capital).
    pub model_require_approval_before: Option<Stage>,
    /// The share of the account a FULL run is allotted on the real clock
    /// (`FULL_CAPITAL_FRACTION`, 1.0: the seed's full capital).
    pub full_capital_fraction: f64,
    /// The account's loss in a day, as a fraction of `capital`, at which trading halts by
    /// itself (`DAILY_LOSS_LIMIT`; 0, the default: no limit).
    pub daily_loss_limit: f64,
}

impl StageSettings {
    /// The settings a stay on the real clock (FULL, or LIMITED trading on) is read with: its
    /// position held within `max_leverage` × its own equity at every close
    /// ([`super::backtest::CostModel::hold_within_leverage`]). With the shares of the account
    /// allotted never adding up to more than it, what the stays hold together never exceeds
    /// the account's equity.
    pub fn for_stays(&self) -> StageSettings {
        let mut s = *self;
        s.costs.hold_within_leverage = true;
        s
    }

    /// Whether `stage` of a strategy generated in `mode` may run: no checkpoint before it (the
    /// settings', or `held`, a stage held for a person by `stage.held`), or a person approved.
    pub fn approved_to_run(
        &self,
        stage: Stage,
        mode: stratagem_events::GenerationMode,
        approved: &[Stage],
        held: Option<Stage>,
    ) -> bool {
        let by_model = mode != stratagem_events::GenerationMode::Template
            && self.model_require_approval_before == Some(stage);
        let checkpoint =
            self.require_approval_before == Some(stage) || by_model || held == Some(stage);
        !checkpoint || approved.contains(&stage)
    }
}

impl Default for StageSettings {
    fn default() -> Self {
        StageSettings {
            cold_days: 7,
            cold_min_sharpe: 0.5,
            cold_min_trades: 2,
            warm_hours: 4,
            warm_min_improvement: 0.10,
            limited_hours: 24,
            limited_capital_fraction: 0.10,
            limited_min_improvement: 0.15,
            paper_min_fills: 1,
            paper_max_extensions: 5,
            live_days: 28,
            capital: 100_000.0,
            warmup_bars: 500,
            // The stages keep the host's units for now: their gates and the offline demo's
            // outcomes were set on that sizing (`backtest` sizes on equity by default).
            costs: CostModel {
                sizing: super::backtest::Sizing::Units,
                ..CostModel::default()
            },
            paper_costs: CostModel {
                sizing: super::backtest::Sizing::Units,
                ..CostModel::default()
            },
            paper_fill_delay_bars: 0,
            require_approval_before: None,
            model_require_approval_before: Some(Stage::Limited),
            daily_loss_limit: 0.0,
            full_capital_fraction: 1.0,
        }
    }
}

/// Where a stage runs in the bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StageWindow {
    /// First bar fed to the strategy (warm-up).
    pub feed_start: usize,
    /// First bar of the window.
    pub start: usize,
    /// One past its last bar.
    pub end: usize,
}

/// What a stage run measured and decided.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct StageOutcome {
    /// The stage.
    pub stage: Stage,
    /// Its window.
    pub window: StageWindow,
    /// Share of capital.
    pub capital_fraction: f64,
    /// The candidate's metrics (`baseline_sharpe` set for WARM and LIMITED).
    pub metrics: StageMetrics,
    /// The baseline it was measured against.
    pub baseline: String,
    /// Whether the gate passed.
    pub passed: bool,
    /// The gate, as text with the numbers.
    pub gate: String,
    /// A trap that stopped the strategy, if any (fails the gate).
    pub trap: Option<SandboxTrap>,
    /// Bars a year of its bars (what its figures are annualised with).
    pub bars_per_year: f64,
    /// A WARM or LIMITED window's trades beside the backtest's on the same bars.
    pub parity: Option<stratagem_events::ParityLedger>,
}

/// Why a stage could not run.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Not enough recorded bars for the timeline.
    #[error("{0}")]
    NotEnoughBars(String),
    /// The sandbox failed.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The live feed failed.
    #[error(transparent)]
    Feed(#[from] super::feed::FeedError),
    /// The stage's series could not be brought up to now (the venue or the bar store).
    #[error("{0}")]
    Market(String),
}

/// The window of a stage on these bars.
///
/// # Errors
/// [`StageError::NotEnoughBars`] when the recorded bars are too short for the timeline.
pub fn window(
    stage: Stage,
    bars: &[SandboxBar],
    s: &StageSettings,
) -> Result<StageWindow, StageError> {
    let interval = market::bar_interval(bars).max(1);
    let per_hour = (3600 / interval).max(1) as usize;
    let warm = s.warm_hours as usize * per_hour;
    let limited = s.limited_hours as usize * per_hour;
    let cold = s.cold_days as usize * 24 * per_hour;
    let live = s.live_days as usize * 24 * per_hour;
    let needed = cold + warm + limited + live + 1;
    if bars.len() < needed {
        return Err(StageError::NotEnoughBars(format!(
            "{} bars; the stages need at least {needed} at this interval",
            bars.len()
        )));
    }
    let now = bars.len() - warm - limited - live;
    let (start, end) = match stage {
        Stage::Cold => (now - cold, now),
        Stage::Warm => (now, now + warm),
        Stage::Limited => (now + warm, now + warm + limited),
        // FULL's own run is its first bar; the monitor watches the `live` bars after LIMITED.
        Stage::Full => (now + warm + limited - 1, now + warm + limited),
    };
    Ok(StageWindow {
        feed_start: start.saturating_sub(s.warmup_bars),
        start,
        end,
    })
}

/// The baseline a candidate is measured against.
pub enum Baseline<'a> {
    /// Buy at the window's first open and hold.
    BuyAndHold,
    /// The current FULL champion, run on the same window.
    Champion {
        /// Its name (strategy id).
        name: String,
        /// Its loaded module.
        strategy: &'a LoadedStrategy,
    },
}

/// Orders placed inside the window, re-indexed to it.
fn window_orders(orders: &[HostOrder], w: StageWindow) -> Vec<HostOrder> {
    let offset = w.start - w.feed_start;
    orders
        .iter()
        .filter(|o| o.bar >= offset)
        .map(|o| HostOrder {
            bar: o.bar - offset,
            ..*o
        })
        .collect()
}

/// The bars a strategy trades at FULL offline after its own run: the `live_days` after LIMITED,
/// to the end of the recording. The monitor watches them.
///
/// # Errors
/// [`StageError::NotEnoughBars`] when the recorded bars are too short for the timeline.
pub fn live_window(bars: &[SandboxBar], s: &StageSettings) -> Result<StageWindow, StageError> {
    let full = window(Stage::Full, bars, s)?;
    Ok(StageWindow {
        feed_start: full.end.saturating_sub(s.warmup_bars),
        start: full.end,
        end: bars.len(),
    })
}

/// Runs `strategy` in the sandbox over the window `w` of `bars` (warm-up first) and simulates
/// its orders from `capital`: the backtest of the window, equity curve included.
///
/// # Errors
/// [`StageError::Sandbox`] when the module cannot start.
#[allow(clippy::too_many_arguments)]
pub fn backtest_window(
    sandbox: &Sandbox,
    strategy: &LoadedStrategy,
    bars: &[SandboxBar],
    w: StageWindow,
    capital: f64,
    s: &StageSettings,
    trials: u64,
    risk_states: &[stratagem_events::projection::RiskMark],
) -> Result<(backtest::Backtest, Option<SandboxTrap>), StageError> {
    let (limits, risk) = (
        SandboxLimits::backtest(),
        RiskLimits::with_account(capital, s.costs),
    );
    let mut live = sandbox.start(strategy, &limits, &risk, Deadline::WholeRun)?;
    live.feed_all(&bars[w.feed_start..w.start]);
    live.open_account();
    live.feed_all(&bars[w.start..w.end]);
    let run = live.finish();
    let orders = window_orders(&run.orders, w);
    let orders = super::risk::filter(&orders, &bars[w.start..w.end], risk_states);
    let bpy = market::bars_per_year(bars);
    Ok((
        backtest::simulate(
            &bars[w.start..w.end],
            &orders,
            capital,
            s.costs,
            bpy,
            trials,
        ),
        run.trap,
    ))
}

/// Where WARM and LIMITED get their bars.
pub enum PaperFeed<'a> {
    /// The recorded bars of the stage's window, on a simulated clock at `speed` (None = at once).
    Recorded {
        /// Replay speed: simulated seconds per real second.
        speed: Option<f64>,
    },
    /// A live exchange feed (closed candles only); the strategy warms up on its first bars.
    Live(&'a mut super::feed::KlineFeed),
}

/// Runs one stage of a candidate and applies its gate. COLD and FULL are backtests of their
/// windows; WARM and LIMITED are paper sessions beside the baseline on `feed`.
///
/// # Errors
/// [`StageError`] when the bars are too short, the sandbox cannot start, or the feed breaks.
#[allow(clippy::too_many_arguments)]
pub async fn run_stage(
    sandbox: &Sandbox,
    candidate: &LoadedStrategy,
    baseline: &Baseline<'_>,
    stage: Stage,
    bars: &[SandboxBar],
    s: &StageSettings,
    trials: u64,
    mut feed: PaperFeed<'_>,
) -> Result<StageOutcome, StageError> {
    let w = window(stage, bars, s)?;
    let fraction = if stage == Stage::Limited {
        s.limited_capital_fraction
    } else {
        1.0
    };
    let capital = s.capital * fraction;
    let bpy = market::bars_per_year(bars);
    let baseline_name = match baseline {
        Baseline::BuyAndHold => "buy_and_hold".to_string(),
        Baseline::Champion { name, .. } => name.clone(),
    };
    let mut w = w;
    let mut extensions = 0;
    let mut fills = 0;
    let mut parity = None;
    let (mut metrics, baseline_sharpe, trap) = match stage {
        Stage::Warm | Stage::Limited => loop {
            let champion = match baseline {
                Baseline::Champion { strategy, .. } => Some(*strategy),
                Baseline::BuyAndHold => None,
            };
            let wanted = w.end - w.start;
            let session = match &mut feed {
                PaperFeed::Recorded { speed } => {
                    let interval = market::bar_interval(bars);
                    let clock = SimulatedClock::new(bars[w.start].timestamp - interval, *speed);
                    let mut recorded = RecordedFeed::new(&bars[w.start..w.end], &clock);
                    paper::trade(
                        sandbox,
                        candidate,
                        champion,
                        &bars[w.feed_start..w.start],
                        &mut recorded,
                        wanted,
                        capital,
                        paper::PaperVenue::of(s),
                        bpy,
                        &[],
                    )
                    .await
                }
                PaperFeed::Live(live) => {
                    paper::trade(
                        sandbox,
                        candidate,
                        champion,
                        &[],
                        &mut **live,
                        wanted,
                        capital,
                        paper::PaperVenue::of(s),
                        bpy,
                        &[],
                    )
                    .await
                }
            }
            .map_err(|e| match e {
                PaperError::Sandbox(e) => StageError::Sandbox(e),
                PaperError::Feed(e) => StageError::Feed(e),
            })?;
            if session.bars.len() < wanted {
                return Err(StageError::NotEnoughBars(format!(
                    "the feed ended after {} of {wanted} bars",
                    session.bars.len()
                )));
            }
            // Too few trades to judge: run again over twice the window, while there is room.
            let longer = w.start + 2 * wanted;
            // A live session is not restarted (it would lose its state): it is judged as it is.
            let room = match &feed {
                PaperFeed::Recorded { .. } => longer <= bars.len(),
                PaperFeed::Live(_) => false,
            };
            if session.fills < s.paper_min_fills
                && session.trap.is_none()
                && extensions < s.paper_max_extensions
                && room
            {
                extensions += 1;
                w.end = longer;
                continue;
            }
            fills = session.fills;
            // The same bars through the backtest engine, trade by trade.
            parity = Some(match &feed {
                PaperFeed::Recorded { .. } => super::parity::of_session(
                    sandbox,
                    candidate,
                    bars,
                    w,
                    capital,
                    s,
                    &[],
                    &session,
                )?,
                PaperFeed::Live(_) => {
                    let all = StageWindow {
                        feed_start: 0,
                        start: 0,
                        end: session.bars.len(),
                    };
                    super::parity::of_session(
                        sandbox,
                        candidate,
                        &session.bars,
                        all,
                        capital,
                        s,
                        &[],
                        &session,
                    )?
                }
            });
            break (session.candidate, session.baseline.sharpe, session.trap);
        },
        Stage::Cold | Stage::Full => {
            let (b, trap) = backtest_window(sandbox, candidate, bars, w, capital, s, trials, &[])?;
            (b.metrics, 0.0, trap)
        }
    };
    let judged = Judged {
        stage,
        fills,
        extensions,
        bars: w.end - w.start,
        baseline_sharpe,
        baseline_name: &baseline_name,
    };
    let (passed, gate) = judged.gate(&mut metrics, s);
    let passed = passed && trap.is_none();
    Ok(StageOutcome {
        stage,
        window: w,
        capital_fraction: fraction,
        metrics,
        baseline: baseline_name,
        passed,
        gate,
        trap,
        bars_per_year: market::bars_per_year(bars),
        parity,
    })
}

/// What a gate judges besides the metrics.
pub(crate) struct Judged<'a> {
    pub(crate) stage: Stage,
    /// Filled orders (WARM and LIMITED).
    pub(crate) fills: usize,
    /// Times the window was extended for evidence.
    pub(crate) extensions: u32,
    /// Bars of the window judged.
    pub(crate) bars: usize,
    pub(crate) baseline_sharpe: f64,
    pub(crate) baseline_name: &'a str,
}

impl Judged<'_> {
    /// The stage's gate on `metrics` (the baseline's Sharpe set on them for WARM and
    /// LIMITED): passed, and the gate as text with its numbers.
    pub(crate) fn gate(&self, metrics: &mut StageMetrics, s: &StageSettings) -> (bool, String) {
        let (stage, fills, extensions) = (self.stage, self.fills, self.extensions);
        let (baseline_sharpe, baseline_name) = (self.baseline_sharpe, self.baseline_name);
        let beat = |m: &StageMetrics, improvement: f64| {
            let needed = baseline_sharpe + improvement * baseline_sharpe.abs();
            (m.sharpe >= needed, format!("sharpe {:.3} (needs ≥ {needed:.3}: baseline {baseline_name} {baseline_sharpe:.3} + {:.0} %)", m.sharpe, improvement * 100.0))
        };
        let inconclusive =
            matches!(stage, Stage::Warm | Stage::Limited) && fills < s.paper_min_fills;
        let verdict = match stage {
            _ if inconclusive => (
                false,
                format!(
                    "inconclusive: {fills} order(s) filled over {} bars (needs ≥ {}){}; rejected",
                    self.bars,
                    s.paper_min_fills,
                    if extensions > 0 {
                        format!(", after {extensions} extension(s) of the window")
                    } else {
                        String::new()
                    }
                ),
            ),
            Stage::Cold => (
                metrics.sharpe >= s.cold_min_sharpe && metrics.trades >= s.cold_min_trades,
                format!(
                    "sharpe {:.3} (needs ≥ {:.2}), trades {} (needs ≥ {})",
                    metrics.sharpe, s.cold_min_sharpe, metrics.trades, s.cold_min_trades
                ),
            ),
            Stage::Warm | Stage::Limited => {
                let improvement = if stage == Stage::Warm {
                    s.warm_min_improvement
                } else {
                    s.limited_min_improvement
                };
                let (passed, text) = beat(metrics, improvement);
                let text = if extensions > 0 {
                    format!(
                        "{text}, over {} bars after {extensions} extension(s) for evidence",
                        self.bars
                    )
                } else {
                    text
                };
                (passed, text)
            }
            Stage::Full => (
                true,
                "none (full capital; the monitor watches it)".to_string(),
            ),
        };
        if matches!(stage, Stage::Warm | Stage::Limited) {
            metrics.baseline_sharpe = Some(baseline_sharpe);
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratagem_events::GenerationMode;

    #[test]
    fn code_a_model_wrote_waits_for_a_person_before_limited_by_default() {
        let s = StageSettings::default();
        for mode in [GenerationMode::Llm, GenerationMode::Hybrid] {
            assert!(s.approved_to_run(Stage::Warm, mode, &[], None));
            assert!(!s.approved_to_run(Stage::Limited, mode, &[], None));
            assert!(s.approved_to_run(Stage::Limited, mode, &[Stage::Limited], None));
        }
        assert!(s.approved_to_run(Stage::Limited, GenerationMode::Template, &[], None));
        let off = StageSettings {
            model_require_approval_before: None,
            ..StageSettings::default()
        };
        assert!(off.approved_to_run(Stage::Limited, GenerationMode::Llm, &[], None));
        let everyone = StageSettings {
            require_approval_before: Some(Stage::Full),
            ..StageSettings::default()
        };
        assert!(!everyone.approved_to_run(Stage::Full, GenerationMode::Template, &[], None));
        assert!(!everyone.approved_to_run(Stage::Limited, GenerationMode::Hybrid, &[], None));
        // A held stage waits whatever the settings, until a person approves that stage.
        assert!(!off.approved_to_run(
            Stage::Warm,
            GenerationMode::Template,
            &[],
            Some(Stage::Warm)
        ));
        assert!(off.approved_to_run(
            Stage::Warm,
            GenerationMode::Template,
            &[Stage::Warm],
            Some(Stage::Warm)
        ));
        assert!(off.approved_to_run(
            Stage::Limited,
            GenerationMode::Template,
            &[],
            Some(Stage::Warm)
        ));
    }
}
