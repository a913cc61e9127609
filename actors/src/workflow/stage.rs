//! A stage run as the log records it: the start first (write-ahead), the run without the log
//! (compiling the candidate and the baseline champion, then the sandbox over the bars), then the
//! completion with the promotion or rejection. A run cut short resumes under its own run id.

use std::path::Path;

use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::projection::{MarksView, StrategyStatus};
use stratagem_events::{
    AppendRequest, Event, Stage, StageCompleted, StageHeld, StagePromoted, StageRejected,
    StageStarted,
};
use uuid::Uuid;

use super::compile::compile_checked;
use super::data_dir::DataDir;
use super::execute::ExecutionVenue;
use super::notifications::Notifications;
use super::{refuse, Context, Result, WorkflowError};
use crate::market;
use crate::stages::feed::KlineFeed;
use crate::stages::paper::PaperVenue;
use crate::stages::realclock::{self, StageBars, StageMarket, StageStep};
use crate::stages::runner::{self, Baseline, PaperFeed};
use crate::validator::sandbox::runtime::{LoadedStrategy, Sandbox};

/// The stage after `stage`, if any.
pub fn next(stage: Stage) -> Option<Stage> {
    match stage {
        Stage::Cold => Some(Stage::Warm),
        Stage::Warm => Some(Stage::Limited),
        Stage::Limited => Some(Stage::Full),
        Stage::Full => None,
    }
}

/// Compiles and loads a recorded strategy.
pub fn load(
    dir: &DataDir,
    projections: &ProjectionFiles,
    root: &Path,
    sandbox: &Sandbox,
    id: Uuid,
) -> Result<LoadedStrategy> {
    let wasm = compile_checked(root, &dir.strategy_source(projections, id)?)
        .with_context(|| format!("strategy {id}"))?;
    Ok(sandbox.load(&wasm)?)
}

/// One stage run as recorded: its outcome, the bars it covered, the trial count, and the run
/// it resumed (when a crash had cut it short).
pub struct StageRun {
    /// The outcome: metrics, gate, verdict.
    pub outcome: runner::StageOutcome,
    /// Bars the stage covered.
    pub bars: usize,
    /// Trials the deflated Sharpe ratio counted.
    pub trials: u64,
    /// The run resumed, when a crash had cut it short.
    pub resumed: Option<Uuid>,
}

/// Runs a stage of a recorded strategy and records it: the start first (write-ahead), then the
/// completion with the promotion or rejection; a run cut short is resumed under its own id.
#[allow(clippy::too_many_arguments)]
pub async fn run_recorded(
    root: &Path,
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    notifications: &mut Notifications,
    settings: &runner::StageSettings,
    market: &StageMarket,
    id: Uuid,
    stage: Stage,
    speed: Option<f64>,
    feed: Option<&LiveFeed>,
    venue: &mut dyn ExecutionVenue,
) -> Result<StageRun> {
    let mut plan = begin_recorded(
        dir,
        projections,
        settings,
        (market, venue.sends_orders()),
        id,
        stage,
    )
    .await?;
    let (trials, resumed) = (plan.trials, plan.resumed);
    let sandbox = Sandbox::cached(&root.join("cache/native"))?;
    // On the real clock a paper stage runs step by step, each step's bars marked on the log,
    // until its window is complete.
    let outcome = loop {
        let step = plan.step(&sandbox, root, settings, speed, feed).await?;
        record_step(
            dir,
            projections,
            notifications,
            settings,
            venue,
            id,
            stage,
            &step,
        )
        .await?;
        if let Some(outcome) = step.outcome {
            break outcome;
        }
        plan.marked(step.mark.as_ref());
        if let StageMarket::Store { poll, .. } = market {
            tokio::time::sleep(*poll).await;
        }
    };
    Ok(StageRun {
        bars: outcome.window.end - outcome.window.start,
        outcome,
        trials,
        resumed,
    })
}

/// Runs a stage of a recorded strategy now (`stratagem stage`), over the data directory `root`
/// with the configured settings and notifications: [`run_recorded`].
///
/// # Errors
/// A bad setting; a strategy not ready for the stage; the run's or the log's error.
pub async fn run_now(
    root: &Path,
    settings: &super::settings::Settings,
    id: Uuid,
    stage: Stage,
    speed: Option<f64>,
    feed: Option<&str>,
) -> Result<StageRun> {
    let feed = feed
        .map(|url| -> Result<LiveFeed> {
            Ok(LiveFeed {
                url: url.to_string(),
                rest: crate::bars::venues::VenueUrls::from_settings(settings)
                    .map_err(|e| WorkflowError::Usage(e.to_string()))?,
            })
        })
        .transpose()?;
    let feed = feed.as_ref();
    if let Some(s) = speed {
        if !(s.is_finite() && s > 0.0) {
            return Err(WorkflowError::Usage(format!(
                "--speed {s} is not a positive number"
            )));
        }
    }
    if feed.is_some() && !matches!(stage, Stage::Warm | Stage::Limited) {
        return Err(WorkflowError::Usage(
            "--feed is for the paper stages (warm, limited)".into(),
        ));
    }
    let stages = settings.stages()?;
    // A live feed is the recorded timeline's paper session on live candles.
    let market = if feed.is_some() {
        StageMarket::Recorded
    } else {
        settings
            .stage_market(false)
            .map_err(|e| WorkflowError::Usage(e.to_string()))?
    };
    let mut notifications = Notifications::from_settings(settings)?;
    let dir = DataDir::open(root)?;
    let mut projections = dir.projections()?;
    // The execution venue (on the real clock an exchange when so set), reconciled with the
    // log first.
    let mut venue = super::execute::venue(settings, &market, PaperVenue::of(&stages))?;
    for line in venue.reconcile(&dir, &mut projections).await? {
        say_difference(&line);
    }
    let run = run_recorded(
        root,
        &dir,
        &mut projections,
        &mut notifications,
        &stages,
        &market,
        id,
        stage,
        speed,
        feed,
        venue.as_mut(),
    )
    .await;
    notifications.finish(&dir, &mut projections).await;
    run
}

/// A difference between the venue's account and the log (on the log too, `venue.reconciled`).
fn say_difference(line: &str) {
    tracing::warn!("reconciliation: {line}");
}

/// Times a live feed reconnects after a drop (each time backfilling what it missed from REST).
const LIVE_FEED_RECONNECTS: u32 = 10;

/// A live paper feed: the kline stream, and the REST API that fills what a drop missed.
#[derive(Debug, Clone)]
pub struct LiveFeed {
    /// The kline stream (`wss://stream.binance.com:9443/ws/btcusdt@kline_1h`).
    pub url: String,
    /// The venue's REST addresses (`BINANCE_REST_URL`).
    pub rest: crate::bars::venues::VenueUrls,
}

/// A stage run whose start is on the log: what [`StagePlan::run`] needs, owned, so it can run
/// without the log (on another thread, for hours, or on a worker: it travels whole).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct StagePlan {
    /// The stage.
    pub stage: Stage,
    /// The candidate's source.
    candidate: (Uuid, String),
    /// The baseline champion's source (else buy and hold).
    champion: Option<(Uuid, String)>,
    /// Bars the stage covers (on the recorded timeline; on the real clock, its first window).
    pub bars: usize,
    /// Trials the deflated Sharpe ratio counts.
    pub trials: u64,
    /// The run resumed, when a crash had cut it short.
    pub resumed: Option<Uuid>,
    /// Where it takes its bars.
    market: StageMarket,
    /// Where its marks on the log leave it (a paper stage on the real clock).
    marks: Option<MarksView>,
    /// The risk states its run trades under.
    risk: Vec<stratagem_events::projection::RiskMark>,
    /// A strategy over several series: the series of each leg, in its order (on the real
    /// clock; empty for one series).
    #[serde(default)]
    legs: Vec<crate::bars::Series>,
}

/// Checks that `id` may run `stage` and records its start (write-ahead; a run of this stage
/// started and cut short is resumed under its own run id, its start not written again).
pub async fn begin_recorded(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    settings: &runner::StageSettings,
    (market, sends_orders): (&StageMarket, bool),
    id: Uuid,
    stage: Stage,
) -> Result<StagePlan> {
    let view = projections
        .state()
        .strategies
        .get(&id)
        .cloned()
        .ok_or_else(|| WorkflowError::refused(format!("no strategy {id} in the log")))?;
    let ready = match stage {
        Stage::Cold => view.status == StrategyStatus::Approved || view.stage == Some(Stage::Cold),
        s => view.status == StrategyStatus::Staged && view.stage == Some(s),
    };
    if !ready {
        let now = match (view.status, view.stage) {
            (StrategyStatus::Staged, Some(s)) => format!("in {}", s.as_str().to_uppercase()),
            (status, _) => status.as_str().to_string(),
        };
        let wants = if stage == Stage::Cold {
            "an approved strategy".to_string()
        } else {
            format!("a strategy promoted to {}", stage.as_str().to_uppercase())
        };
        refuse!(
            "strategy {id} is {now}; `stage {}` needs {wants}",
            stage.as_str()
        );
    }
    let open = view.open_run.is_some_and(|(st, _)| st == stage);
    if !super::risk::may_begin(projections.state(), open) {
        refuse!(
            "no stage run begins while trading is {}: `stratagem resume` first",
            super::risk::line(projections.state())
        );
    }
    let held = view.held.as_ref().filter(|h| h.0 == stage);
    if !settings.approved_to_run(stage, view.mode, &view.approved_stages, held.map(|h| h.0)) {
        if let Some((_, why)) = held {
            refuse!(
                "strategy {id} is held for a person before {}: {why}; `stratagem review approve {id}` or `review reject {id} --reason …`",
                stage.as_str().to_uppercase()
            );
        }
        refuse!(
            "strategy {id} waits for a person's approval before {} (REQUIRE_APPROVAL_BEFORE): `stratagem review approve {id}` or `review reject {id} --reason …`",
            stage.as_str().to_uppercase()
        );
    }
    let candidate = (id, dir.strategy_source(projections, id)?);
    // A run measures against the baseline it started with (its `stage.started`), whatever
    // became champion since; a new run against the champion now.
    let open_here = view.open_run.is_some_and(|(st, _)| st == stage);
    let baseline = match (&view.run_baseline, open_here) {
        (Some(b), true) => b.parse::<Uuid>().ok(),
        _ => projections.state().champion,
    };
    let champion = match baseline.filter(|c| *c != id) {
        Some(cid) => Some((
            cid,
            dir.strategy_source(projections, cid)
                .with_context(|| format!("cannot read the champion {cid}"))?,
        )),
        None => None,
    };
    // The idea's instrument: the configured series of its asset and time frame.
    let market = match projections.state().opportunities.get(&view.opportunity_id) {
        Some(o) => market.for_idea(
            &format!("{} {}", o.title, o.hypothesis),
            o.timeframe.as_deref(),
        ),
        None => market.clone(),
    };
    let market = &market;
    // A strategy over several series runs on the series of its legs, or waits, saying why.
    let legs = match legs_of(projections.state(), &view, market, stage, sends_orders) {
        Ok(legs) => legs,
        Err(reason) => return Err(wait(dir, projections, &view, stage, reason).await?),
    };
    // On the recorded timeline the window is known now; on the real clock it is fixed by the
    // run's first mark (the bars that close after it starts).
    let (window, planned) = match market {
        StageMarket::Recorded => {
            let bars = market::embedded_hourly();
            let w = runner::window(stage, bars, settings)?;
            (
                Some((bars[w.start].timestamp, bars[w.end - 1].timestamp)),
                w.end - w.start,
            )
        }
        StageMarket::Store { series, .. } => (
            None,
            realclock::window_bars(stage, settings, series.interval.seconds()),
        ),
    };
    let resumed = view
        .open_run
        .filter(|(open_stage, _)| *open_stage == stage)
        .map(|(_, run)| run);
    // On the real clock a LIMITED or FULL run is allotted its share of the account when it
    // begins: one the free capital cannot cover waits, saying why (once per reason).
    let on_store = matches!(market, StageMarket::Store { .. });
    let mut allotted = None;
    if let (true, None) = (on_store, resumed) {
        match super::capital::allot(projections.state(), id, stage, settings) {
            Ok(share) => allotted = Some(share),
            Err(reason) => return Err(wait(dir, projections, &view, stage, reason).await?),
        }
    }
    let marks = view
        .marks
        .clone()
        .filter(|m| resumed.is_some_and(|run| run == m.run_id));
    if resumed.is_none() {
        let run_id = Uuid::now_v7();
        // Write-ahead: the start is durable before the run.
        let mut start = Vec::new();
        if stage == Stage::Cold && view.stage != Some(Stage::Cold) {
            start.push(Event::from(StagePromoted {
                strategy_id: id,
                from: None,
                to: Stage::Cold,
            }));
        }
        start.push(Event::from(StageStarted {
            strategy_id: id,
            stage,
            run_id,
            baseline: Some(match &champion {
                None => "buy_and_hold".to_string(),
                Some((cid, _)) => cid.to_string(),
            }),
            capital_fraction: match (stage, allotted) {
                (Stage::Limited | Stage::Full, Some(share)) => share,
                (Stage::Limited, None) => settings.limited_capital_fraction,
                _ => 1.0,
            },
            window_start: window.map(|w| w.0),
            window_end: window.map(|w| w.1),
        }));
        dir.append(
            projections,
            AppendRequest::new(start).idempotent(format!("stage-started:{run_id}")),
        )
        .await?;
    }
    let risk = projections
        .state()
        .strategies
        .get(&id)
        .map(|s| s.open_risk.clone())
        .unwrap_or_default();
    Ok(StagePlan {
        risk,
        legs,
        stage,
        candidate,
        champion,
        bars: planned,
        trials: trials(projections.state(), id, stage),
        resumed,
        market: market.clone(),
        marks,
    })
}

/// Records that `view` waits before `stage` for `reason` (once per reason: a strategy that
/// waits the same way every cycle writes it once), and the refusal that says so.
async fn wait(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    view: &stratagem_events::projection::StrategyView,
    stage: Stage,
    reason: String,
) -> Result<WorkflowError> {
    if view.waiting != Some((stage, reason.clone())) {
        dir.append(
            projections,
            AppendRequest::one(Event::from(stratagem_events::StageWaiting {
                strategy_id: view.id,
                stage,
                reason: reason.clone(),
            })),
        )
        .await?;
    }
    Ok(WorkflowError::refused(format!(
        "strategy {} {reason}",
        view.id
    )))
}

/// The series a strategy trades: its template's count, else as many as its idea needs.
fn legs_wanted(
    state: &stratagem_events::Projections,
    view: &stratagem_events::projection::StrategyView,
) -> (usize, Vec<String>) {
    let needs = state
        .opportunities
        .get(&view.opportunity_id)
        .and_then(|o| o.needs.as_ref());
    let count = match view
        .template
        .as_deref()
        .and_then(crate::generator::templates::find)
    {
        Some(spec) => spec.legs as usize,
        None => needs.map_or(1, |n| n.leg_count as usize),
    };
    (
        count.max(1),
        needs.map(|n| n.legs.clone()).unwrap_or_default(),
    )
}

/// The series of the legs of a strategy over several series on `market` (none for one
/// series), else why its `stage` cannot run there: the recorded timeline is one series; on
/// the real clock each leg's instrument needs a configured series at the stage series'
/// interval; an exchange takes the orders of one series.
fn legs_of(
    state: &stratagem_events::Projections,
    view: &stratagem_events::projection::StrategyView,
    market: &StageMarket,
    stage: Stage,
    sends_orders: bool,
) -> std::result::Result<Vec<crate::bars::Series>, String> {
    let (count, instruments) = legs_wanted(state, view);
    if count < 2 {
        return Ok(Vec::new());
    }
    let named = if instruments.is_empty() {
        String::new()
    } else {
        format!(" ({})", instruments.join(", "))
    };
    let StageMarket::Store {
        series, markets, ..
    } = market
    else {
        return Err(format!(
            "waits: it trades {count} series{named} and the recorded timeline is one (Coinbase BTC/USD hourly); its stages run on the real clock, with a series of each leg in MARKETS"
        ));
    };
    if sends_orders && matches!(stage, Stage::Limited | Stage::Full) {
        return Err(format!(
            "waits: it trades {count} series{named} and the execution venue takes the orders of one series; LIMITED and FULL over several series trade on paper (EXECUTION_VENUE=paper)"
        ));
    }
    crate::bars::instruments::legs_series(markets, &instruments, count, series.interval.name())
        .map_err(|why| format!("waits: {why}"))
}

/// The trials a COLD backtest counts for the deflated Sharpe ratio: every backtest completed,
/// under way (runs of other strategies at once), and this one — the number one run after the
/// other would count.
fn trials(state: &stratagem_events::Projections, id: Uuid, stage: Stage) -> u64 {
    let under_way = state
        .strategies
        .values()
        .filter(|s| s.id != id && matches!(s.open_run, Some((Stage::Cold, _))))
        .count() as u64;
    state.backtest_trials + 1 + if stage == Stage::Cold { under_way } else { 0 }
}

impl StagePlan {
    /// One step of the stage in `sandbox`, no log, no lock: on the recorded timeline the whole
    /// run (compiling the candidate and the champion, then the sandbox over the bars); on the
    /// real clock, the series brought up to the venue's now, then COLD's or FULL's backtest, or
    /// the bars of a paper stage's window closed since its last mark.
    ///
    /// # Errors
    /// The strategies cannot be compiled or loaded; the venue, the store or the sandbox.
    pub async fn step(
        &self,
        sandbox: &Sandbox,
        root: &Path,
        settings: &runner::StageSettings,
        speed: Option<f64>,
        feed: Option<&LiveFeed>,
    ) -> Result<StageStep> {
        let StageMarket::Store { series, urls, .. } = &self.market else {
            return Ok(StageStep {
                mark: None,
                window: Vec::new(),
                outcome: Some(self.run(sandbox, root, settings, speed, feed).await?),
            });
        };
        if !self.legs.is_empty() {
            return self.step_legs(sandbox, root, settings, urls).await;
        }
        let store = crate::bars::BarStore::new(root);
        let mut client = crate::bars::venues::VenueClient::new(series.venue, urls.clone())
            .map_err(|e| WorkflowError::refused(e.to_string()))?;
        let interval = series.interval.seconds();
        let window = realclock::window_bars(self.stage, settings, interval);
        // What the step reads: the warm-up and the window (COLD), or the warm-up before the
        // window's start and every bar since (a paper stage).
        let lookback = (window + settings.warmup_bars + 1) as i64 * interval;
        let from = |now: i64| match &self.marks {
            Some(m) => m.window_start - (settings.warmup_bars as i64 + 1) * interval,
            None => crate::bars::venues::forming(series.interval, now) - lookback,
        };
        let now = realclock::update(&store, &mut client, series, from).await?;
        let stored = store
            .read(series, from(now), i64::MAX)
            .map_err(|e| WorkflowError::refused(format!("the bar store: {e}")))?;
        let bars = realclock::sandbox_bars(&stored);
        self.stage_on(
            sandbox,
            root,
            settings,
            (&series.label(), interval),
            StageBars::One(&bars),
        )
        .await
    }

    /// The stage's step over `bars` (of the series `label`, bars of `interval` seconds): COLD's
    /// or FULL's backtest, or a paper stage's bars closed since its last mark, beside the
    /// champion (one series) or buy and hold (several: their legs held).
    async fn stage_on(
        &self,
        sandbox: &Sandbox,
        root: &Path,
        settings: &runner::StageSettings,
        (label, interval): (&str, i64),
        bars: StageBars<'_>,
    ) -> Result<StageStep> {
        let candidate = self.load(sandbox, root, &self.candidate)?;
        match self.stage {
            Stage::Cold | Stage::Full => Ok(realclock::backtest_stage(
                sandbox,
                &candidate,
                self.stage,
                (label, interval),
                bars,
                settings,
                self.trials,
            )?),
            Stage::Warm | Stage::Limited => {
                let champion = match bars {
                    StageBars::One(_) => self.load_champion(sandbox, root)?,
                    StageBars::Legs(..) => None,
                };
                let baseline = baseline_of(&champion);
                let steps = bars.first();
                let (start, consumed) = match &self.marks {
                    Some(m) => (
                        steps.partition_point(|b| b.timestamp < m.window_start),
                        m.bars as usize,
                    ),
                    // The first step: the window is the bars that close from now on.
                    None => (steps.len(), 0),
                };
                Ok(realclock::paper_step(
                    sandbox,
                    &candidate,
                    &baseline,
                    self.stage,
                    (label, interval),
                    bars,
                    (start, consumed, self.marks.as_ref().map(|m| m.window_start)),
                    settings,
                    &self.risk,
                )
                .await?)
            }
        }
    }

    /// [`StagePlan::step`] of a strategy over several series: each leg's series brought up to
    /// the venue's now and read from the store, the legs aligned by time (a step is a time
    /// every leg has closed), then the stage over the steps as over one series' bars. Its marks
    /// name the legs' series joined by `+`.
    async fn step_legs(
        &self,
        sandbox: &Sandbox,
        root: &Path,
        settings: &runner::StageSettings,
        urls: &crate::bars::venues::VenueUrls,
    ) -> Result<StageStep> {
        let store = crate::bars::BarStore::new(root);
        let interval = self.legs[0].interval.seconds();
        let window = realclock::window_bars(self.stage, settings, interval);
        let (warmup, needed) = (settings.warmup_bars, window + settings.warmup_bars + 1);
        // A time one leg has no bar at is no step: the series are read further back (up to 8×)
        // until the steps cover the window and its warm-up (a paper stage's, before its start).
        let mut factor = 1i64;
        let (aligned, funding) = loop {
            let mut series = Vec::with_capacity(self.legs.len());
            let mut funding = Vec::with_capacity(self.legs.len());
            for leg in &self.legs {
                let mut client = crate::bars::venues::VenueClient::new(leg.venue, urls.clone())
                    .map_err(|e| WorkflowError::refused(e.to_string()))?;
                let from = |now: i64| match &self.marks {
                    Some(m) => m.window_start - factor * (warmup as i64 + 1) * interval,
                    None => {
                        crate::bars::venues::forming(leg.interval, now)
                            - factor * needed as i64 * interval
                    }
                };
                let now = realclock::update(&store, &mut client, leg, from).await?;
                let stored = store
                    .read(leg, from(now), i64::MAX)
                    .map_err(|e| WorkflowError::refused(format!("the bar store: {e}")))?;
                series.push(realclock::sandbox_bars(&stored));
                // A perpetual leg's funding, paid in its book and read by the strategy.
                funding.push(
                    realclock::update_funding(&store, &mut client, leg, (from(now), now)).await?,
                );
            }
            let refs: Vec<&[crate::validator::sandbox::runtime::SandboxBar]> =
                series.iter().map(Vec::as_slice).collect();
            let aligned = crate::stages::legs::align(&refs);
            let covered = match &self.marks {
                Some(m) => {
                    let first = aligned.legs.first().map_or(&[][..], Vec::as_slice);
                    first.partition_point(|b| b.timestamp < m.window_start) >= warmup
                }
                None => aligned.steps() >= needed,
            };
            if covered || factor >= 8 {
                break (aligned, funding);
            }
            factor *= 2;
        };
        let label = legs_label(&self.legs);
        self.stage_on(
            sandbox,
            root,
            settings,
            (&label, interval),
            StageBars::Legs(&aligned, &funding),
        )
        .await
    }

    /// Takes the mark a step recorded into account for the next step.
    pub fn marked(&mut self, mark: Option<&realclock::Mark>) {
        let Some(m) = mark else { return };
        let run_id = self.marks.as_ref().map_or(Uuid::nil(), |v| v.run_id);
        let fills = self.marks.as_ref().map_or(0, |v| v.fills) + m.fills.len() as u64;
        self.marks = Some(MarksView {
            run_id,
            stage: self.stage,
            series: m.series.clone(),
            window_start: m.window_start,
            window_bars: m.window_bars,
            bars: m.bars,
            through: m.through,
            fills,
            equity: m.equity,
            baseline_equity: m.baseline_equity,
            day_open_equity: self
                .marks
                .as_ref()
                .filter(|v| v.through.div_euclid(86_400) == m.through.div_euclid(86_400))
                .map_or(m.equity, |v| v.day_open_equity),
        });
    }

    fn load(
        &self,
        sandbox: &Sandbox,
        root: &Path,
        (id, source): &(Uuid, String),
    ) -> Result<LoadedStrategy> {
        let wasm = compile_checked(root, source).with_context(|| format!("strategy {id}"))?;
        Ok(sandbox.load(&wasm)?)
    }

    fn load_champion(
        &self,
        sandbox: &Sandbox,
        root: &Path,
    ) -> Result<Option<(Uuid, LoadedStrategy)>> {
        match &self.champion {
            Some(c) => Ok(Some((
                c.0,
                self.load(sandbox, root, c)
                    .with_context(|| format!("cannot load the champion {}", c.0))?,
            ))),
            None => Ok(None),
        }
    }

    /// Compiles the candidate (and the champion) and runs the stage on the recorded timeline
    /// in `sandbox`: no log, no lock.
    async fn run(
        &self,
        sandbox: &Sandbox,
        root: &Path,
        settings: &runner::StageSettings,
        speed: Option<f64>,
        feed: Option<&LiveFeed>,
    ) -> Result<runner::StageOutcome> {
        let candidate = self.load(sandbox, root, &self.candidate)?;
        let champion = self.load_champion(sandbox, root)?;
        let baseline = baseline_of(&champion);
        let mut live = match feed {
            Some(f) => Some(
                KlineFeed::resilient(&f.url, f.rest.clone(), LIVE_FEED_RECONNECTS)
                    .await
                    .with_context(|| format!("cannot open the live feed {}", f.url))?,
            ),
            None => None,
        };
        let paper_feed = match live.as_mut() {
            Some(l) => PaperFeed::Live(l),
            None => PaperFeed::Recorded { speed },
        };
        Ok(runner::run_stage(
            sandbox,
            &candidate,
            &baseline,
            self.stage,
            market::embedded_hourly(),
            settings,
            self.trials,
            paper_feed,
        )
        .await?)
    }
}

/// The label of the series of a strategy's legs on its marks: each `venue/SYMBOL/interval`,
/// joined by `+`.
pub fn legs_label(legs: &[crate::bars::Series]) -> String {
    legs.iter()
        .map(crate::bars::Series::label)
        .collect::<Vec<_>>()
        .join("+")
}

/// The series of a label of marks: one, or each leg's ([`legs_label`]).
pub fn parse_label(label: &str) -> std::result::Result<Vec<crate::bars::Series>, String> {
    label
        .split('+')
        .map(|s| crate::bars::Series::parse(s).map_err(|e| e.to_string()))
        .collect()
}

/// The baseline of a loaded champion, else buy and hold.
fn baseline_of(champion: &Option<(Uuid, LoadedStrategy)>) -> Baseline<'_> {
    match champion {
        Some((cid, loaded)) => Baseline::Champion {
            name: cid.to_string(),
            strategy: loaded,
        },
        None => Baseline::BuyAndHold,
    }
}

/// Records what a step of a stage came to: the bars it consumed (`stage.marked`, once per
/// batch: a step repeated after a crash records nothing twice), then, when its window is
/// complete, its end ([`finish_recorded`]).
///
/// # Errors
/// No open run of `stage` on the log; the log's.
#[allow(clippy::too_many_arguments)]
pub async fn record_step(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    notifications: &mut Notifications,
    settings: &runner::StageSettings,
    venue: &mut dyn ExecutionVenue,
    id: Uuid,
    stage: Stage,
    step: &StageStep,
) -> Result<()> {
    if let Some(m) = &step.mark {
        let run_id = open_run(projections, id, stage)?;
        // LIMITED on an exchange: the mark's fills are its orders, on the log with it.
        let orders = match crate::bars::Series::parse(&m.series) {
            Ok(series) if stage == Stage::Limited => {
                venue
                    .submissions(id, (run_id, stage), &series.symbol, &m.fills)
                    .await
            }
            _ => Vec::new(),
        };
        let event = Event::from(stratagem_events::StageMarked {
            strategy_id: id,
            stage,
            run_id,
            series: m.series.clone(),
            window_start: m.window_start,
            window_bars: m.window_bars,
            bars: m.bars,
            through: m.through,
            fills: m.fills.clone(),
            equity: m.equity,
            baseline_equity: m.baseline_equity,
        });
        let mut batch = vec![event];
        batch.extend(orders);
        dir.append(
            projections,
            AppendRequest::new(batch).idempotent(format!(
                "stage-marked:{run_id}:{}:{}",
                m.bars, m.window_bars
            )),
        )
        .await?;
        // The capital at risk lost too much today: trading halts by itself.
        let day = m.through.div_euclid(86_400);
        if let Some(reason) = super::risk::daily_loss_breached(
            projections.state(),
            day,
            settings.daily_loss_limit,
            settings.capital,
        ) {
            let halt = super::risk::RiskChange {
                state: stratagem_events::RiskState::Halted,
                reason,
                by: "daily loss limit".into(),
                flatten: false,
            };
            super::risk::record(dir, projections, &halt).await?;
        }
    }
    // The orders on the log go to the venue (a halt rejects them unsent).
    for line in venue.send_pending(dir, projections).await? {
        tracing::warn!("{line}");
    }
    // A LIMITED window complete, every order answered: the venue's fills against the
    // backtest's (when they are not the paper model's own).
    let mut on_venue = None;
    if let (Some(outcome), Stage::Limited) = (&step.outcome, stage) {
        let run_id = open_run(projections, id, stage)?;
        on_venue = venue.ledger(projections, run_id, outcome, &step.window, settings);
        // The run ends flat on the venue (FULL begins from nothing, as its model does).
        let series = step.window.last().zip(
            step.mark
                .as_ref()
                .map(|m| m.series.clone())
                .or_else(|| view_series(projections, id))
                .and_then(|s| crate::bars::Series::parse(&s).ok()),
        );
        if let Some((last, series)) = series {
            let after = last.timestamp + series.interval.seconds();
            for line in super::execute::close_run(
                dir,
                projections,
                venue,
                id,
                (run_id, stage),
                &series.symbol,
                after,
                last.close,
            )
            .await?
            {
                tracing::warn!("{line}");
            }
        }
    }
    if let Some(outcome) = &step.outcome {
        finish_recorded(
            dir,
            projections,
            notifications,
            id,
            stage,
            outcome,
            on_venue,
        )
        .await?;
    }
    Ok(())
}

/// The series `id`'s marks are on.
fn view_series(projections: &ProjectionFiles, id: Uuid) -> Option<String> {
    projections
        .state()
        .strategies
        .get(&id)
        .and_then(|v| v.marks.as_ref())
        .map(|m| m.series.clone())
}

/// The run id of `id`'s open run of `stage`.
fn open_run(projections: &ProjectionFiles, id: Uuid, stage: Stage) -> Result<Uuid> {
    projections
        .state()
        .strategies
        .get(&id)
        .and_then(|v| v.open_run)
        .filter(|(open, _)| *open == stage)
        .map(|(_, run)| run)
        .ok_or_else(|| {
            WorkflowError::refused(format!(
                "strategy {id} has no open {} run on the log",
                stage.as_str().to_uppercase()
            ))
        })
}

/// Records a stage run's end — its parity ledgers, completion, then promotion or rejection —
/// under the run id its start recorded, and notifies.
pub async fn finish_recorded(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    notifications: &mut Notifications,
    id: Uuid,
    stage: Stage,
    outcome: &runner::StageOutcome,
    on_exchange: Option<stratagem_events::ParityLedger>,
) -> Result<()> {
    let run_id = open_run(projections, id, stage)?;
    // The window's trades beside the backtest's on its bars (the paper model's, and the
    // exchange's when it traded there), before its verdict.
    let mut end: Vec<Event> = outcome
        .parity
        .iter()
        .chain(on_exchange.as_ref())
        .map(|ledger| {
            Event::from(stratagem_events::StageParity {
                strategy_id: id,
                stage,
                run_id,
                ledger: ledger.clone(),
            })
        })
        .collect();
    // The run's curve beside its baseline's, when it was judged in one pass.
    if !outcome.curve.is_empty() {
        end.push(Event::from(stratagem_events::StageCurve {
            strategy_id: id,
            stage,
            run_id,
            baseline: outcome.curve_baseline.clone(),
            points: outcome.curve.clone(),
        }));
    }
    end.push(Event::from(StageCompleted {
        strategy_id: id,
        stage,
        run_id,
        metrics: outcome.metrics.clone(),
        passed: outcome.passed,
        gate: outcome.gate.clone(),
    }));
    match (outcome.passed, next(stage)) {
        (true, Some(to)) => {
            end.push(Event::from(StagePromoted {
                strategy_id: id,
                from: Some(stage),
                to,
            }));
            // Figures too good to believe over a window that can carry them: promoted, but the
            // next stage waits for a person to rule out a look-ahead.
            let judged = outcome.metrics.bars >= crate::stages::metrics::MIN_BARS_TO_ANNUALISE;
            if let Some(reason) =
                crate::stages::metrics::implausible(&outcome.metrics, outcome.bars_per_year)
                    .filter(|_| judged)
            {
                end.push(Event::from(StageHeld {
                    strategy_id: id,
                    stage: to,
                    reason,
                }));
            }
        }
        (true, None) => {}
        (false, _) => {
            let reason = match &outcome.trap {
                Some(t) => format!("stopped by the sandbox: {t}"),
                None => format!("gate not met: {}", outcome.gate),
            };
            end.push(Event::from(StageRejected {
                strategy_id: id,
                stage,
                reason,
            }));
        }
    }
    dir.append(
        projections,
        AppendRequest::new(end.clone()).idempotent(format!("stage-completed:{run_id}")),
    )
    .await?;
    notifications.after(dir, projections, &end).await;
    Ok(())
}
