//! The stage gates, run offline on recorded bars (a simulated clock: "4 hours of paper trading"
//! is 4 hours of recorded bars, replayed in milliseconds).
//!
//! Offline timeline, with `now` = the last recorded bar − (WARM + LIMITED hours + live days):
//!
//! | stage | window | capital | gate (defaults: the seed's) |
//! | --- | --- | --- | --- |
//! | COLD | the `cold_days` (7) days before `now` | 100 % | Sharpe ≥ `cold_min_sharpe` (0.5) **and** closed trades ≥ `cold_min_trades` (2) |
//! | WARM | `warm_hours` (4) from `now`, beside the baseline | 100 % | at least `paper_min_fills` (1) filled orders, and the test of the difference: Sharpe > baseline + `warm_min_improvement` (10 %) × \|baseline\| at `paper_gate_confidence` (70 %) |
//! | LIMITED | the `limited_hours` (24) after WARM | `limited_capital_fraction` (10 %) | at least `paper_min_fills` filled orders, and Sharpe > baseline + `limited_min_improvement` (15 %) × \|baseline\| at the same confidence |
//! | FULL | its first bar, then the `live_days` (28) recorded after LIMITED, watched by the monitor | 100 % | none: the monitor rolls it back on degradation |
//!
//! WARM and LIMITED compare the candidate with its baseline by a test of the difference of their
//! Sharpe ratios on the window's paired per-bar returns ([`super::metrics::sharpe_test`]: Jobson
//! & Korkie's variance as corrected by Memmel, which counts the two series' correlation), not by
//! two noisy point estimates: the gate passes when z ≥ Φ⁻¹(`paper_gate_confidence`), fails when
//! z ≤ −Φ⁻¹(it), and is inconclusive between, on fewer than [`MIN_TEST_BARS`] bars, or with
//! fewer filled orders than `paper_min_fills`. An inconclusive session is never a pass: it runs
//! again over a window twice as long (on the recorded timeline it reaches into the bars after
//! it), up to `paper_max_extensions` times, then is rejected as inconclusive and says so. The
//! two paper stages each at 70 % make a strategy that only matches the margin pass both about
//! one time in eleven; a stricter operator raises the confidence and gives the stages more time.
//!
//! The baseline is the current FULL champion, or buy-and-hold when there is none, on the same
//! window. The strategy is fed `warmup_bars` bars before its window (so its indicators are
//! ready); only orders placed inside the window trade. The paper broker is the backtest
//! engine's fill model: next-open fills, the same fees and slippage.

use serde::Serialize;
use stratagem_events::{Stage, StageMetrics};

use super::backtest::{self, CostModel};
use super::clock::SimulatedClock;
use super::metrics::{normal_quantile, SharpeTest, Verdict, MIN_TEST_BARS};
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
    /// The confidence (one-sided) at which the WARM and LIMITED gates' test of the difference
    /// decides (`PAPER_GATE_CONFIDENCE`, 0.70): the candidate passes when its Sharpe beats the
    /// baseline's by the stage's margin at this confidence, fails when it falls short at it, and
    /// between the two the window is extended for evidence, then rejected as inconclusive.
    #[serde(default = "default_gate_confidence")]
    pub paper_gate_confidence: f64,
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

/// The default confidence of the WARM and LIMITED gates' test.
fn default_gate_confidence() -> f64 {
    0.70
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
            paper_gate_confidence: default_gate_confidence(),
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
    /// The run's equity beside its baseline's (at most [`CURVE_POINTS`]; empty on the real
    /// clock, whose marks carry it), and what the baseline line is.
    pub curve: Vec<stratagem_events::CurvePoint>,
    /// What the curve's baseline is (`buy_and_hold`, or the champion's name).
    pub curve_baseline: String,
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
    let mut test = None;
    let mut curve = Vec::new();
    let mut curve_baseline = baseline_name.clone();
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
            if s.wants_evidence(stage, &session)
                && session.trap.is_none()
                && extensions < s.paper_max_extensions
                && room
            {
                extensions += 1;
                w.end = longer;
                continue;
            }
            fills = session.fills;
            test = session.sharpe_test(s.improvement(stage));
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
            if matches!(feed, PaperFeed::Recorded { .. }) {
                let grow = |returns: &[f64]| {
                    returns
                        .iter()
                        .scan(capital, |e, r| {
                            *e *= 1.0 + r;
                            Some(*e)
                        })
                        .collect::<Vec<f64>>()
                };
                let (e, b) = (grow(&session.returns), grow(&session.baseline_returns));
                curve = thin(
                    std::iter::once((0, capital, capital))
                        .chain(
                            e.iter()
                                .zip(&b)
                                .enumerate()
                                .map(|(i, (e, b))| (i as u64 + 1, *e, *b)),
                        )
                        .collect(),
                );
            }
            break (session.candidate, session.baseline.sharpe, session.trap);
        },
        Stage::Cold | Stage::Full => {
            let (b, trap) = backtest_window(sandbox, candidate, bars, w, capital, s, trials, &[])?;
            // Beside it, buy and hold over the same bars: bought at the window's first open.
            curve_baseline = "buy_and_hold".into();
            let traded = &bars[w.start..w.end];
            if let Some(first) = traded.first().filter(|b| b.open > 0.0) {
                curve = thin(
                    b.equity
                        .iter()
                        .enumerate()
                        .map(|(i, (_, e))| {
                            let held = match i {
                                0 => capital,
                                _ => traded
                                    .get(i - 1)
                                    .map_or(capital, |bar| capital * bar.close / first.open),
                            };
                            (i as u64, *e, held)
                        })
                        .collect(),
                );
            }
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
        test,
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
        curve,
        curve_baseline,
    })
}

/// Points a stage run's recorded curve keeps at most.
pub const CURVE_POINTS: usize = 200;

/// At most [`CURVE_POINTS`] of `points`, evenly spaced, the first and the last kept.
fn thin(points: Vec<(u64, f64, f64)>) -> Vec<stratagem_events::CurvePoint> {
    let n = points.len();
    let keep: Vec<usize> = if n <= CURVE_POINTS {
        (0..n).collect()
    } else {
        let mut keep: Vec<usize> = (0..CURVE_POINTS)
            .map(|k| k * (n - 1) / (CURVE_POINTS - 1))
            .collect();
        keep.dedup();
        keep
    };
    keep.into_iter()
        .map(|i| {
            let (bars, equity, baseline_equity) = points[i];
            stratagem_events::CurvePoint {
                bars,
                equity,
                baseline_equity,
            }
        })
        .collect()
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
    /// WARM and LIMITED: the test of the difference of the candidate's Sharpe and the
    /// baseline's on the window's paired per-bar returns (`None` on fewer than 3 bars).
    pub(crate) test: Option<SharpeTest>,
}

impl StageSettings {
    /// The Sharpe improvement over the baseline a paper stage's gate asks for.
    pub fn improvement(&self, stage: Stage) -> f64 {
        if stage == Stage::Limited {
            self.limited_min_improvement
        } else {
            self.warm_min_improvement
        }
    }

    /// Whether a WARM or LIMITED session needs a longer window before a verdict: too few
    /// fills, or a test of the difference that cannot tell at `paper_gate_confidence`.
    pub fn wants_evidence(&self, stage: Stage, session: &paper::PaperSession) -> bool {
        session.fills < self.paper_min_fills
            || session
                .sharpe_test(self.improvement(stage))
                .is_none_or(|t| t.verdict(self.paper_gate_confidence) == Verdict::Inconclusive)
    }
}

impl Judged<'_> {
    /// The stage's gate on `metrics` (the baseline's Sharpe set on them for WARM and
    /// LIMITED): passed, and the gate as text with its numbers.
    ///
    /// WARM and LIMITED pass only on a test of the difference: the candidate's per-bar Sharpe
    /// beats the baseline's by the stage's margin at `paper_gate_confidence` (z ≥ Φ⁻¹ of it).
    /// They fail when it falls short at that confidence, and are inconclusive between, or on
    /// fewer fills than `paper_min_fills` or bars than the test needs: an inconclusive verdict
    /// is never a pass.
    pub(crate) fn gate(&self, metrics: &mut StageMetrics, s: &StageSettings) -> (bool, String) {
        let (stage, fills, extensions) = (self.stage, self.fills, self.extensions);
        let (baseline_sharpe, baseline_name) = (self.baseline_sharpe, self.baseline_name);
        let after = if extensions > 0 {
            format!(", after {extensions} extension(s) of the window")
        } else {
            String::new()
        };
        let paper = matches!(stage, Stage::Warm | Stage::Limited);
        let verdict = match stage {
            _ if paper && fills < s.paper_min_fills => (
                false,
                format!(
                    "inconclusive: {fills} order(s) filled over {} bars (needs ≥ {}){after}; rejected",
                    self.bars, s.paper_min_fills,
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
                let improvement = s.improvement(stage);
                let confidence = s.paper_gate_confidence;
                let critical = normal_quantile(confidence.clamp(0.5, 0.999_999));
                let against = format!(
                    "baseline {baseline_name} + {:.0} % at {:.0} % confidence",
                    improvement * 100.0,
                    confidence * 100.0
                );
                match self.test {
                    Some(t) if t.bars >= MIN_TEST_BARS => {
                        let figures = format!(
                            "per-bar sharpe {:.4} vs {:.4} (margin {:.4}, correlation {:.2}): z {:.2}, p {:.3} over {} bars",
                            t.candidate, t.baseline, t.margin, t.correlation, t.z, t.p_value, t.bars
                        );
                        match t.verdict(confidence) {
                            Verdict::Better => (
                                true,
                                format!("beats {against}: {figures} (needs z ≥ {critical:.2}){after}"),
                            ),
                            Verdict::NotBetter => (
                                false,
                                format!(
                                    "falls short of {against}: {figures} (z ≤ −{critical:.2}){after}"
                                ),
                            ),
                            Verdict::Inconclusive => (
                                false,
                                format!(
                                    "inconclusive against {against}: {figures} (needs z ≥ {critical:.2}){after}; rejected"
                                ),
                            ),
                        }
                    }
                    _ => (
                        false,
                        format!(
                            "inconclusive against {against}: {} bars, the test of the difference needs ≥ {MIN_TEST_BARS}{after}; rejected",
                            self.bars
                        ),
                    ),
                }
            }
            Stage::Full => (
                true,
                "none (full capital; the monitor watches it)".to_string(),
            ),
        };
        if paper {
            metrics.baseline_sharpe = Some(baseline_sharpe);
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_curve_keeps_at_most_200_points_evenly_with_its_ends() {
        let points: Vec<(u64, f64, f64)> =
            (0..1000).map(|i| (i, 100.0 + i as f64, 100.0)).collect();
        let thinned = thin(points.clone());
        assert_eq!(thinned.len(), CURVE_POINTS);
        assert_eq!(thinned[0].bars, 0);
        assert_eq!(thinned[CURVE_POINTS - 1].bars, 999);
        assert!(thinned.windows(2).all(|w| w[1].bars > w[0].bars));
        assert!(thinned.windows(2).all(|w| w[1].bars - w[0].bars <= 6));
        assert_eq!(
            thin(points[..50].to_vec()).len(),
            50,
            "a short curve is kept whole"
        );
        assert!(thin(Vec::new()).is_empty());
    }
    use stratagem_events::{GenerationMode, StageMetrics};

    /// A WARM verdict on a test with `z` over `bars` paired returns, with `fills` filled orders.
    fn judge(z: f64, bars: usize, fills: usize) -> (bool, String) {
        let test = SharpeTest {
            bars,
            candidate: 0.05,
            baseline: 0.01,
            margin: 0.001,
            correlation: 0.6,
            z,
            p_value: 1.0 - super::super::metrics::normal_cdf(z),
        };
        let mut metrics = StageMetrics::default();
        let judged = Judged {
            stage: Stage::Warm,
            fills,
            extensions: 2,
            bars,
            baseline_sharpe: 1.0,
            baseline_name: "buy_and_hold",
            test: Some(test),
        };
        let verdict = judged.gate(&mut metrics, &StageSettings::default());
        assert_eq!(metrics.baseline_sharpe, Some(1.0));
        verdict
    }

    #[test]
    fn the_paper_gates_pass_only_on_a_difference_the_test_finds_at_their_confidence() {
        // 70 %: z ≥ Φ⁻¹(0.70) = 0.524 passes, z ≤ −0.524 fails, between is inconclusive.
        let (passed, text) = judge(0.53, 64, 3);
        assert!(passed, "{text}");
        assert!(
            text.starts_with("beats baseline buy_and_hold + 10 % at 70 % confidence")
                && text.contains("z 0.53, p 0.298 over 64 bars (needs z ≥ 0.52)")
                && text.ends_with("after 2 extension(s) of the window"),
            "{text}"
        );
        let (passed, text) = judge(0.51, 64, 3);
        assert!(!passed);
        assert!(
            text.starts_with("inconclusive against") && text.ends_with("; rejected"),
            "{text}"
        );
        let (passed, text) = judge(-0.53, 64, 3);
        assert!(!passed);
        assert!(text.starts_with("falls short of"), "{text}");
        // A large z on too few bars is no evidence; no fill is no evidence whatever the test.
        let (passed, text) = judge(9.0, 29, 3);
        assert!(!passed);
        assert!(
            text.contains("29 bars, the test of the difference needs ≥ 30"),
            "{text}"
        );
        let (passed, text) = judge(9.0, 64, 0);
        assert!(!passed);
        assert!(
            text.starts_with("inconclusive: 0 order(s) filled"),
            "{text}"
        );
        // A stricter operator: at 95 % the same 0.53 is not enough.
        let strict = StageSettings {
            paper_gate_confidence: 0.95,
            ..StageSettings::default()
        };
        let test = SharpeTest {
            bars: 64,
            candidate: 0.05,
            baseline: 0.01,
            margin: 0.001,
            correlation: 0.6,
            z: 0.53,
            p_value: 0.298,
        };
        let (passed, text) = Judged {
            stage: Stage::Limited,
            fills: 3,
            extensions: 0,
            bars: 64,
            baseline_sharpe: 1.0,
            baseline_name: "momentum_1",
            test: Some(test),
        }
        .gate(&mut StageMetrics::default(), &strict);
        assert!(!passed);
        assert!(
            text.starts_with("inconclusive against baseline momentum_1 + 15 % at 95 % confidence")
                && text.contains("(needs z ≥ 1.64)"),
            "{text}"
        );
    }

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
