//! `stratagem stage STRATEGY_ID cold|warm|limited|full`: runs a stage now, offline.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use stratagem_actors::market;
use stratagem_actors::stages::feed::KlineFeed;
use stratagem_actors::stages::runner::{self, Baseline, PaperFeed};
use stratagem_actors::validator::sandbox::runtime::{LoadedStrategy, Sandbox};
use stratagem_events::projection::StrategyStatus;
use stratagem_events::{
    AppendRequest, Event, Stage, StageCompleted, StagePromoted, StageRejected, StageStarted,
};
use uuid::Uuid;

use super::print_json;
use super::scan::compile_checked;
use crate::cli::StageArg;
use crate::data_dir::DataDir;
use crate::notifications::Notifications;
use crate::settings::stage_settings_from_env;
use stratagem_events::projection::files::ProjectionFiles;

fn next(stage: Stage) -> Option<Stage> {
    match stage {
        Stage::Cold => Some(Stage::Warm),
        Stage::Warm => Some(Stage::Limited),
        Stage::Limited => Some(Stage::Full),
        Stage::Full => None,
    }
}

/// Compiles and loads a recorded strategy.
pub(crate) fn load(
    dir: &DataDir,
    projections: &ProjectionFiles,
    root: &Path,
    sandbox: &Sandbox,
    id: Uuid,
) -> anyhow::Result<LoadedStrategy> {
    let wasm = compile_checked(root, &dir.strategy_source(projections, id)?)
        .with_context(|| format!("strategy {id}"))?;
    Ok(sandbox.load(&wasm)?)
}

/// One stage run as recorded: its outcome, the bars it covered, the trial count, and the run
/// it resumed (when a crash had cut it short).
pub struct StageRun {
    pub outcome: runner::StageOutcome,
    pub bars: usize,
    pub trials: u64,
    pub resumed: Option<Uuid>,
}

pub async fn run(
    root: &Path,
    strategy: &str,
    stage: StageArg,
    speed: Option<f64>,
    feed: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(s) = speed {
        if !(s.is_finite() && s > 0.0) {
            bail!("--speed {s} is not a positive number");
        }
    }
    if feed.is_some() && !matches!(stage, StageArg::Warm | StageArg::Limited) {
        bail!("--feed is for the paper stages (warm, limited)");
    }
    let stage = match stage {
        StageArg::Cold => Stage::Cold,
        StageArg::Warm => Stage::Warm,
        StageArg::Limited => Stage::Limited,
        StageArg::Full => Stage::Full,
    };
    let settings = stage_settings_from_env()?;
    let mut notifications = Notifications::from_env()?;
    let id: Uuid = strategy
        .trim()
        .parse()
        .map_err(|_| anyhow!("{strategy:?} is not a strategy id (a UUID)"))?;
    let dir = DataDir::open(root)?;
    let mut projections = dir.projections()?;
    let run = run_recorded(
        root,
        &dir,
        &mut projections,
        &mut notifications,
        &settings,
        id,
        stage,
        speed,
        feed,
    )
    .await?;
    let (outcome, trials) = (&run.outcome, run.trials);
    if json {
        print_json(outcome)?;
    } else {
        if let Some(r) = run.resumed {
            say!(
                "resuming {} run {r}, started before an interruption",
                stage.as_str().to_uppercase()
            );
        }
        let m = &outcome.metrics;
        say!(
            "{} of strategy {id}: {} bars, {:.0} % of capital, baseline {}",
            stage.as_str().to_uppercase(),
            run.bars,
            outcome.capital_fraction * 100.0,
            outcome.baseline
        );
        say!(
            "  return {:.2} %, sharpe {:.3}, max drawdown {:.2} %, trades {}",
            m.total_return * 100.0,
            m.sharpe,
            m.max_drawdown * 100.0,
            m.trades
        );
        if let (Some(psr), Some(dsr)) = (m.probabilistic_sharpe, m.deflated_sharpe) {
            say!("  PSR {psr:.3}, DSR {dsr:.3} over {trials} trial(s)");
        }
        say!("  gate: {}", outcome.gate);
        match (outcome.passed, next(stage)) {
            (true, Some(to)) => say!(
                "  verdict: PASSED, promoted to {}",
                to.as_str().to_uppercase()
            ),
            (true, None) => say!("  verdict: running at full capital"),
            (false, _) => say!("  verdict: REJECTED at {}", stage.as_str().to_uppercase()),
        }
    }
    Ok(if outcome.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
    id: Uuid,
    stage: Stage,
    speed: Option<f64>,
    feed: Option<&str>,
) -> anyhow::Result<StageRun> {
    let view = projections
        .state()
        .strategies
        .get(&id)
        .cloned()
        .ok_or_else(|| anyhow!("no strategy {id} in the log"))?;
    let ready = match stage {
        Stage::Cold => view.status == StrategyStatus::Approved || view.stage == Some(Stage::Cold),
        s => view.status == StrategyStatus::Staged && view.stage == Some(s),
    };
    if !ready {
        let now = match (view.status, view.stage) {
            (StrategyStatus::Staged, Some(s)) => format!("in {}", s.as_str().to_uppercase()),
            (status, _) => format!("{status:?}").to_lowercase(),
        };
        let wants = if stage == Stage::Cold {
            "an approved strategy".to_string()
        } else {
            format!("a strategy promoted to {}", stage.as_str().to_uppercase())
        };
        bail!(
            "strategy {id} is {now}; `stage {}` needs {wants}",
            stage.as_str()
        );
    }
    if !settings.approved_to_run(stage, &view.approved_stages) {
        bail!(
            "strategy {id} waits for a person's approval before {} (REQUIRE_APPROVAL_BEFORE): `stratagem review approve {id}` or `review reject {id} --reason …`",
            stage.as_str().to_uppercase()
        );
    }
    let sandbox = Sandbox::new()?;
    let candidate = load(dir, projections, root, &sandbox, id)?;
    let champion_id = projections.state().champion.filter(|c| *c != id);
    let champion = match champion_id {
        Some(cid) => Some((
            cid,
            load(dir, projections, root, &sandbox, cid)
                .with_context(|| format!("cannot load the champion {cid}"))?,
        )),
        None => None,
    };
    let baseline = match &champion {
        Some((cid, loaded)) => Baseline::Champion {
            name: cid.to_string(),
            strategy: loaded,
        },
        None => Baseline::BuyAndHold,
    };
    let bars = market::embedded_hourly();
    let window = runner::window(stage, bars, settings)?;
    // A run of this stage that was started and never completed (the process died) is resumed
    // under its own run id: its start is already on the log and is not written again.
    let resumed = view
        .open_run
        .filter(|(open_stage, _)| *open_stage == stage)
        .map(|(_, run)| run);
    let run_id = resumed.unwrap_or_else(Uuid::now_v7);
    if resumed.is_none() {
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
            baseline: Some(match &baseline {
                Baseline::BuyAndHold => "buy_and_hold".to_string(),
                Baseline::Champion { name, .. } => name.clone(),
            }),
            capital_fraction: if stage == Stage::Limited {
                settings.limited_capital_fraction
            } else {
                1.0
            },
            window_start: Some(bars[window.start].timestamp),
            window_end: Some(bars[window.end - 1].timestamp),
        }));
        dir.append(
            projections,
            AppendRequest::new(start).idempotent(format!("stage-started:{run_id}")),
        )
        .await?;
    }
    let trials = projections.state().backtest_trials + 1;
    let mut live = match feed {
        Some(url) => Some(
            KlineFeed::connect(url)
                .await
                .with_context(|| format!("cannot open the live feed {url}"))?,
        ),
        None => None,
    };
    let paper_feed = match live.as_mut() {
        Some(l) => PaperFeed::Live(l),
        None => PaperFeed::Recorded { speed },
    };
    let outcome = runner::run_stage(
        &sandbox, &candidate, &baseline, stage, bars, settings, trials, paper_feed,
    )
    .await?;
    let mut end = vec![Event::from(StageCompleted {
        strategy_id: id,
        stage,
        run_id,
        metrics: outcome.metrics.clone(),
        passed: outcome.passed,
        gate: outcome.gate.clone(),
    })];
    match (outcome.passed, next(stage)) {
        (true, Some(to)) => end.push(Event::from(StagePromoted {
            strategy_id: id,
            from: Some(stage),
            to,
        })),
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
    Ok(StageRun {
        outcome,
        bars: window.end - window.start,
        trials,
        resumed,
    })
}
