//! One pass of the monitor over every strategy trading in LIMITED or FULL — rolling P&L,
//! Sharpe and drawdown on the recorded bars of its stay, then rollback, clones or retirement as
//! the rules in [`crate::stages::monitor`] say. `stratagem monitor`, the daemon and
//! `run --once` make the same pass.
//!
//! Offline, a stay is the `LIVE_DAYS` of recorded bars after LIMITED's window, read every
//! `MONITOR_STEP_HOURS`; every reading not yet on the log is taken in one pass, so the outcome
//! does not depend on how many cycles ran or where a crash fell.

use std::path::Path;

use serde::Serialize;
use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::{AppendRequest, Event, Stage};
use uuid::Uuid;

use super::data_dir::DataDir;
use super::notifications::Notifications;
use super::{Context, Result};
use crate::market;
use crate::stages::backtest;
use crate::stages::monitor::{self, MonitorSettings, StayCurves};
use crate::stages::realclock::StageMarket;
use crate::stages::runner::{self, StageSettings};
use crate::validator::sandbox::runtime::{Sandbox, SandboxBar};

/// What one pass did for one watched strategy.
#[derive(Debug, Clone, Serialize)]
pub struct Watched {
    /// The strategy.
    pub strategy: Uuid,
    /// Its file stem.
    pub name: String,
    /// The stage it trades in.
    pub stage: Stage,
    /// Readings taken in this pass.
    pub new_readings: u32,
    /// Readings of the stay on the log now.
    pub readings: u32,
    /// The latest reading's verdict.
    pub verdict: Option<String>,
    /// What followed: rollback, retirement, clones.
    pub actions: Vec<String>,
    /// Why it could not be read, if it could not.
    pub error: Option<String>,
}

/// One pass over every stay. A strategy that cannot be read (its module does not load, say) is
/// reported and skipped; the others are read all the same.
///
/// # Errors
/// When the log cannot be appended to or the recorded bars are too short for the timeline.
#[allow(clippy::too_many_arguments)]
pub async fn pass(
    root: &Path,
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    notifications: &mut Notifications,
    stages: &StageSettings,
    market: &StageMarket,
    settings: &MonitorSettings,
    venue: &mut dyn super::execute::ExecutionVenue,
) -> Result<Vec<Watched>> {
    // On an exchange the stays trade there: each pass sends the orders of the bars closed
    // since the last one.
    let stays = monitor::stays(projections.state());
    if stays.is_empty() {
        return Ok(Vec::new());
    }
    let recorded = market::embedded_hourly();
    let mut sandbox = None;
    let mut out = Vec::new();
    for stay in stays {
        let name = projections
            .state()
            .strategies
            .get(&stay.strategy_id)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let mut watched = Watched {
            strategy: stay.strategy_id,
            name,
            stage: stay.stage,
            new_readings: 0,
            readings: stay.done,
            verdict: projections
                .state()
                .strategies
                .get(&stay.strategy_id)
                .and_then(|s| s.monitor.as_ref())
                .filter(|m| m.run_id == stay.run_id)
                .map(|m| m.verdict.clone()),
            actions: Vec::new(),
            error: None,
        };
        let Some((bars, live, aligned, funding)) =
            stay_bars(root, projections, &stay, market, recorded, stages)?
        else {
            // On the real clock: no bar of the stay has closed yet.
            out.push(watched);
            continue;
        };
        let bars = &bars[..];
        let interval = market::bar_interval(bars).max(1);
        let bars_per_hour = usize::try_from((3600 / interval).max(1)).unwrap_or(1);
        let bars_per_year = market::bars_per_year(bars);
        let possible = monitor::readings_possible(live.end - live.start, bars_per_hour, settings);
        let to_read = stay.done < possible;
        if !to_read && !venue.sends_orders() {
            // Watched to the last bar there is: nothing new to read.
            out.push(watched);
            continue;
        }
        let timestamps: Vec<i64> = bars[live.start..live.end]
            .iter()
            .map(|b| b.timestamp)
            .collect();
        let sandbox = match &mut sandbox {
            Some(s) => s,
            None => sandbox.insert(Sandbox::cached(&root.join("cache/native"))?),
        };
        let loaded = match super::stage::load(dir, projections, root, sandbox, stay.strategy_id) {
            Ok(l) => l,
            Err(e) => {
                watched.error = Some(e.to_string());
                out.push(watched);
                continue;
            }
        };
        // The share of the account the stay's run was allotted.
        let allotted = projections
            .state()
            .strategies
            .get(&stay.strategy_id)
            .map_or(0.0, |s| s.capital_fraction);
        let capital = if allotted > 0.0 {
            stages.capital * allotted
        } else if stay.stage == Stage::Limited {
            stages.capital * stages.limited_capital_fraction
        } else {
            stages.capital
        };
        let risk = projections
            .state()
            .strategies
            .get(&stay.strategy_id)
            .map(|s| s.open_risk.clone())
            .unwrap_or_default();
        // On the real clock the stays share one account: each held within its own equity.
        let read_with = match market {
            StageMarket::Store { .. } => stages.for_stays(),
            StageMarket::Recorded => *stages,
        };
        let context = || format!("cannot run strategy {} for the monitor", stay.strategy_id);
        // Over several series: its legs' book, beside each leg bought and held with its share.
        let (run, base, trap) = match &aligned {
            None => {
                let (run, trap) = runner::backtest_window(
                    sandbox, &loaded, bars, live, capital, &read_with, 1, &risk,
                )
                .with_context(context)?;
                let base = backtest::buy_and_hold(
                    &bars[live.start..live.end],
                    capital,
                    stages.costs,
                    bars_per_year,
                );
                (run, base, trap)
            }
            Some(aligned) => {
                let (book, trap) = crate::stages::legs::backtest_window(
                    sandbox,
                    &loaded,
                    aligned,
                    live,
                    capital,
                    read_with.costs,
                    bars_per_year,
                    1,
                    (&risk, &funding),
                )
                .with_context(context)?;
                let base = crate::stages::legs::buy_and_hold_legs(
                    &aligned.slice(live.start..live.end),
                    live.end - live.start,
                    capital,
                    stages.costs,
                    (bars_per_year, &funding),
                );
                (book.portfolio(), base, trap)
            }
        };
        // Its orders on the exchange: the fills of the bars closed since the last pass.
        let symbol = stay_series(projections, &stay).map(|s| s.symbol);
        // (On paper the model's fills are the stay's: nothing to send.)
        if let (true, Some(symbol)) = (venue.sends_orders(), &symbol) {
            let fills: Vec<_> = run
                .fills
                .iter()
                .map(crate::stages::parity::stage_fill)
                .collect();
            for line in super::execute::trade_stay(
                dir,
                projections,
                venue,
                stay.strategy_id,
                (stay.run_id, stay.stage),
                symbol,
                &fills,
            )
            .await?
            {
                tracing::warn!("{line}");
            }
        }
        if !to_read {
            out.push(watched);
            continue;
        }
        let equity: Vec<f64> = run.equity.iter().map(|(_, e)| *e).collect();
        let baseline: Vec<f64> = base.equity.iter().map(|(_, e)| *e).collect();
        let trap = trap.map(|t| t.to_string());
        let curves = StayCurves {
            timestamps: &timestamps,
            equity: &equity,
            baseline: &baseline,
            bars_per_hour,
            bars_per_year,
            trap: trap.as_deref(),
        };
        let readings = monitor::readings(&curves, settings, stay.done, stay.below);
        let events = monitor::plan(
            projections.state(),
            &stay,
            &readings,
            settings,
            &mut Uuid::now_v7,
        );
        if events.is_empty() {
            out.push(watched);
            continue;
        }
        let (first, last) = (stay.done + 1, stay.done + readings.len() as u32);
        dir.append(
            projections,
            AppendRequest::new(events.clone())
                .idempotent(format!("monitor:{}:{first}-{last}", stay.run_id)),
        )
        .await?;
        notifications.after(dir, projections, &events).await;
        // A stay that ends (rolled back, retired) ends flat on the exchange.
        let ended = events.iter().any(|e| {
            matches!(e, Event::StageRolledBack(r) if r.strategy_id == stay.strategy_id)
                || matches!(e, Event::StrategyRetired(r) if r.strategy_id == stay.strategy_id)
        });
        if let (true, true, Some(symbol), Some(last)) =
            (ended, venue.sends_orders(), &symbol, bars.get(live.end - 1))
        {
            for line in super::execute::close_run(
                dir,
                projections,
                venue,
                stay.strategy_id,
                (stay.run_id, stay.stage),
                symbol,
                last.timestamp + interval,
                last.close,
            )
            .await?
            {
                tracing::warn!("{line}");
            }
        }
        watched.new_readings = readings.len() as u32;
        watched.readings = last;
        watched.verdict = readings.last().map(|r| r.health.verdict());
        watched.actions = actions(&events);
        out.push(watched);
    }
    Ok(out)
}

/// A stay's bars (the first leg's, for a strategy over several series), where the stay is in
/// them, and the legs aligned by time when there are several (with each perpetual leg's
/// funding rates from the store).
type StayBars = (
    std::borrow::Cow<'static, [SandboxBar]>,
    runner::StageWindow,
    Option<crate::stages::legs::Aligned>,
    Vec<Vec<crate::bars::funding::FundingRate>>,
);

/// The bars of a stay and where the stay is in them: on the recorded timeline the `LIVE_DAYS`
/// after LIMITED's window; on the real clock the store's bars after the last bar of the run
/// that began it (its last mark), to now — for a strategy over several series, each leg's
/// series aligned by time (its steps, and the first leg's bars as the times). `None` when the
/// stay has no bar yet.
fn stay_bars(
    root: &Path,
    projections: &ProjectionFiles,
    stay: &monitor::Stay,
    market: &StageMarket,
    recorded: &[SandboxBar],
    stages: &StageSettings,
) -> Result<Option<StayBars>> {
    if *market == StageMarket::Recorded {
        let live = runner::live_window(recorded, stages)?;
        let all: &'static [_] = market::embedded_hourly();
        return Ok(Some((
            std::borrow::Cow::Borrowed(all),
            live,
            None,
            Vec::new(),
        )));
    }
    // The series the run that began the stay traded, and its last bar, from its marks.
    let Some((through, series)) = projections
        .state()
        .strategies
        .get(&stay.strategy_id)
        .and_then(|s| s.marks.as_ref())
        .filter(|m| m.run_id == stay.run_id)
        .map(|m| (m.through, m.series.clone()))
    else {
        return Ok(None);
    };
    let legs = super::stage::parse_label(&series)
        .map_err(|e| super::WorkflowError::refused(format!("the stay's series: {e}")))?;
    let mut series = Vec::with_capacity(legs.len());
    let store = crate::bars::BarStore::new(root);
    let stored =
        |e: crate::bars::StoreError| super::WorkflowError::refused(format!("the bar store: {e}"));
    let mut funding = Vec::with_capacity(legs.len());
    for leg in &legs {
        let interval = leg.interval.seconds();
        let from = through - stages.warmup_bars as i64 * interval;
        let bars = store.read(leg, from, i64::MAX).map_err(stored)?;
        series.push(crate::stages::realclock::sandbox_bars(&bars));
        funding.push(match leg.venue.perpetual() {
            true => store
                .funding(crate::bars::Venue::Binance, &leg.symbol)
                .map_err(stored)?,
            false => Vec::new(),
        });
    }
    let (bars, aligned) = if series.len() > 1 {
        let refs: Vec<&[SandboxBar]> = series.iter().map(Vec::as_slice).collect();
        let aligned = crate::stages::legs::align(&refs);
        (aligned.legs[0].clone(), Some(aligned))
    } else {
        (series.pop().unwrap_or_default(), None)
    };
    let start = bars.partition_point(|b| b.timestamp <= through);
    if start >= bars.len() {
        return Ok(None);
    }
    let live = runner::StageWindow {
        feed_start: 0,
        start,
        end: bars.len(),
    };
    Ok(Some((
        std::borrow::Cow::Owned(bars),
        live,
        aligned,
        funding,
    )))
}

/// The series the run that began `stay` traded (from its marks; none on the recorded timeline).
fn stay_series(projections: &ProjectionFiles, stay: &monitor::Stay) -> Option<crate::bars::Series> {
    projections
        .state()
        .strategies
        .get(&stay.strategy_id)
        .and_then(|s| s.marks.as_ref())
        .filter(|m| m.run_id == stay.run_id)
        .and_then(|m| crate::bars::Series::parse(&m.series).ok())
}

fn actions(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::StageRolledBack(r) => Some(format!(
                "rolled back {} → {}{}",
                r.from.as_str().to_uppercase(),
                r.to.as_str().to_uppercase(),
                r.reinstated
                    .map(|c| format!(", champion {c} reinstated"))
                    .unwrap_or_default()
            )),
            Event::StrategyRetired(r) => Some(format!("retired ({})", r.reason)),
            Event::CloneSpawned(c) => Some(format!(
                "cloned as opportunity {} ({})",
                c.opportunity_id,
                c.variant
                    .iter()
                    .map(|p| format!("{} {}", p.name, p.value))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => None,
        })
        .collect()
}

/// One line per watched strategy, for people.
pub fn line(w: &Watched) -> String {
    let mut s = format!(
        "{} {} in {}: {} reading(s) ({} new), {}",
        w.strategy,
        w.name,
        w.stage.as_str().to_uppercase(),
        w.readings,
        w.new_readings,
        w.verdict.as_deref().unwrap_or("not read yet")
    );
    for a in &w.actions {
        s.push_str(&format!("; {a}"));
    }
    if let Some(e) = &w.error {
        s.push_str(&format!("; cannot be read: {e}"));
    }
    s
}
