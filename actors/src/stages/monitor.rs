//! The monitor: rolling P&L, Sharpe and drawdown of every strategy trading in LIMITED or FULL,
//! and what follows from them — a rollback to the previous stage on degradation (reinstating the
//! previous champion), clones of winners, retirement of losers.
//!
//! Pure: [`readings`] turns a stay's equity curve (and its baseline's) into readings, one every
//! `step_hours` of bars; [`plan`] turns readings and the read models into events. The caller
//! runs the strategy in the sandbox and appends the events. Readings are numbered per stay (the
//! stage run that began it), so a reading recorded before a crash is never taken twice.
//!
//! Rules, every threshold a named setting (defaults in brackets):
//! - rolling window: the last `MONITOR_WINDOW_HOURS` [72] of the stay, read every
//!   `MONITOR_STEP_HOURS` [6];
//! - degraded when the equity is more than `MONITOR_MAX_DRAWDOWN` [10 %] below its peak of the
//!   stay, when the stay has lost `MONITOR_RETIRE_LOSS` [20 %], when the sandbox stopped the
//!   strategy, or when the rolling Sharpe has been below the baseline's for
//!   `MONITOR_UNDERPERFORM_HOURS` [48] in a row (counted once the window is full);
//! - a degraded strategy is rolled back a stage (FULL → LIMITED, LIMITED → WARM); a rolled-back
//!   champion hands back to the champion before it, if that one still trades at FULL;
//! - a loser is retired: rolled back for the `MONITOR_RETIRE_AFTER_ROLLBACKS`-th [2] time, or
//!   down by the retire loss;
//! - a winner — window full, rolling Sharpe ≥ `MONITOR_CLONE_MIN_SHARPE` [1.5] and above the
//!   baseline's — is cloned once: `MONITOR_CLONE_VARIANTS` [2] parameter variants (each one
//!   template parameter moved by ± `MONITOR_CLONE_STEP` [25 %], within its range) become new
//!   opportunities with source `clone` and the winner as parent, up to
//!   `MONITOR_CLONE_MAX_DEPTH` [2] generations of clones.

use serde::Serialize;
use stratagem_events::projection::{StrategyStatus, StrategyView};
use stratagem_events::{
    CloneSpawned, Event, MonitorObserved, OpportunityDiscovered, Parameter, Projections, Stage,
    StageRolledBack, StrategyRetired,
};
use uuid::Uuid;

use super::metrics;
use crate::generator::templates;

/// The monitor's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MonitorSettings {
    /// Hours of bars between two readings (`MONITOR_STEP_HOURS`, 6).
    pub step_hours: u32,
    /// Rolling window, hours (`MONITOR_WINDOW_HOURS`, 72).
    pub window_hours: u32,
    /// Drawdown from the stay's peak that degrades (`MONITOR_MAX_DRAWDOWN`, 0.10).
    pub max_drawdown: f64,
    /// Hours in a row below the baseline's rolling Sharpe that degrade
    /// (`MONITOR_UNDERPERFORM_HOURS`, 48).
    pub underperform_hours: u32,
    /// The rollback that retires (`MONITOR_RETIRE_AFTER_ROLLBACKS`, 2).
    pub retire_after_rollbacks: u32,
    /// Loss of the stay that retires at once (`MONITOR_RETIRE_LOSS`, 0.20).
    pub retire_loss: f64,
    /// Rolling Sharpe of a winner (`MONITOR_CLONE_MIN_SHARPE`, 1.5).
    pub clone_min_sharpe: f64,
    /// Variants spawned from a winner (`MONITOR_CLONE_VARIANTS`, 2).
    pub clone_variants: u32,
    /// How far a variant moves one parameter, as a fraction (`MONITOR_CLONE_STEP`, 0.25).
    pub clone_step: f64,
    /// Generations of clones (`MONITOR_CLONE_MAX_DEPTH`, 2).
    pub clone_max_depth: u32,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            step_hours: 6,
            window_hours: 72,
            max_drawdown: 0.10,
            underperform_hours: 48,
            retire_after_rollbacks: 2,
            retire_loss: 0.20,
            clone_min_sharpe: 1.5,
            clone_variants: 2,
            clone_step: 0.25,
            clone_max_depth: 2,
        }
    }
}

/// A strategy's equity over the bars of its stay, and its baseline's on the same bars.
#[derive(Debug, Clone, Copy)]
pub struct StayCurves<'a> {
    /// Close time of each bar of the stay (n).
    pub timestamps: &'a [i64],
    /// Equity at the start, then at each bar's close (n + 1).
    pub equity: &'a [f64],
    /// The baseline's equity (n + 1).
    pub baseline: &'a [f64],
    /// Bars per hour.
    pub bars_per_hour: usize,
    /// Bars per year, for annualising.
    pub bars_per_year: f64,
    /// Why the sandbox stopped the strategy, if it did.
    pub trap: Option<&'a str>,
}

/// How a reading judged the strategy.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Nothing to do.
    Healthy,
    /// Worth cloning.
    Winner,
    /// Roll back (and perhaps retire): why.
    Degraded(String),
}

impl Health {
    /// `healthy`, `winner` or `degraded: <why>`.
    pub fn verdict(&self) -> String {
        match self {
            Health::Healthy => "healthy".into(),
            Health::Winner => "winner".into(),
            Health::Degraded(why) => format!("degraded: {why}"),
        }
    }
}

/// One reading of a stay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    /// 1, 2, … within the stay.
    pub observation: u32,
    /// First bar of the rolling window (unix seconds).
    pub window_start: i64,
    /// Last bar of the rolling window (unix seconds).
    pub window_end: i64,
    /// Profit since the stay began.
    pub pnl: f64,
    /// Return since the stay began.
    pub total_return: f64,
    /// Rolling Sharpe.
    pub rolling_sharpe: f64,
    /// The baseline's rolling Sharpe.
    pub baseline_sharpe: f64,
    /// Below the stay's peak, a positive fraction.
    pub drawdown: f64,
    /// Hours in a row below the baseline.
    pub below_baseline_hours: u32,
    /// The judgement.
    pub health: Health,
}

/// How many readings a stay of `bars` bars allows.
pub fn readings_possible(bars: usize, bars_per_hour: usize, s: &MonitorSettings) -> u32 {
    let step = (s.step_hours as usize * bars_per_hour).max(1);
    u32::try_from(bars / step).unwrap_or(u32::MAX)
}

/// The readings after the first `done` of a stay (`below` carried from reading `done`), one
/// every `step_hours` of bars, until the bars run out or a reading is degraded.
pub fn readings(c: &StayCurves<'_>, s: &MonitorSettings, done: u32, below: u32) -> Vec<Reading> {
    let n = c.timestamps.len().min(c.equity.len().saturating_sub(1));
    let n = n.min(c.baseline.len().saturating_sub(1));
    let step = (s.step_hours as usize * c.bars_per_hour).max(1);
    let window = (s.window_hours as usize * c.bars_per_hour).max(2);
    let mut below = below;
    let mut out = Vec::new();
    let mut k = done as usize + 1;
    while k * step <= n {
        let e = k * step;
        let curve = &c.equity[..=e];
        let start = curve[0];
        let now = curve[e];
        let peak = curve.iter().copied().fold(f64::MIN, f64::max);
        let drawdown = if peak > 0.0 {
            (1.0 - now / peak).max(0.0)
        } else {
            0.0
        };
        let total_return = if start != 0.0 { now / start - 1.0 } else { 0.0 };
        let from = e.saturating_sub(window);
        let rolling = metrics::sharpe(&metrics::returns(&c.equity[from..=e]), c.bars_per_year);
        let base = metrics::sharpe(&metrics::returns(&c.baseline[from..=e]), c.bars_per_year);
        let full = e >= window;
        if full {
            below = if rolling < base {
                below.saturating_add(s.step_hours)
            } else {
                0
            };
        }
        let health = if let Some(trap) = c.trap {
            Health::Degraded(format!("stopped by the sandbox: {trap}"))
        } else if total_return <= -s.retire_loss {
            Health::Degraded(format!(
                "lost {:.1} % since the stay began (the limit is {:.1} %)",
                -total_return * 100.0,
                s.retire_loss * 100.0
            ))
        } else if drawdown > s.max_drawdown {
            Health::Degraded(format!(
                "drawdown {:.1} % beyond the limit of {:.1} %",
                drawdown * 100.0,
                s.max_drawdown * 100.0
            ))
        } else if full && below >= s.underperform_hours {
            Health::Degraded(format!(
                "rolling Sharpe {rolling:.2} below the baseline's {base:.2} for {below} h (the limit is {} h)",
                s.underperform_hours
            ))
        } else if full && rolling >= s.clone_min_sharpe && rolling > base {
            Health::Winner
        } else {
            Health::Healthy
        };
        let degraded = matches!(health, Health::Degraded(_));
        out.push(Reading {
            observation: u32::try_from(k).unwrap_or(u32::MAX),
            window_start: c.timestamps[from],
            window_end: c.timestamps[e - 1],
            pnl: now - start,
            total_return,
            rolling_sharpe: rolling,
            baseline_sharpe: base,
            drawdown,
            below_baseline_hours: below,
            health,
        });
        if degraded {
            break;
        }
        k += 1;
    }
    out
}

/// A stay the monitor watches: a strategy trading after the completed run of `stage`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stay {
    /// The strategy.
    pub strategy_id: Uuid,
    /// The stage it trades in (its last completed run's).
    pub stage: Stage,
    /// That run: the stay's identity.
    pub run_id: Uuid,
    /// Readings already recorded for this stay.
    pub done: u32,
    /// Hours below the baseline as of the last recorded reading.
    pub below: u32,
}

/// The stays to watch: every strategy whose last completed run was a passed LIMITED or FULL run
/// and that still trades on it (staged, no run open). A strategy promoted to FULL and waiting
/// for a person still trades its LIMITED share, and is watched at LIMITED.
pub fn stays(state: &Projections) -> Vec<Stay> {
    state
        .strategies
        .values()
        .filter(|s| s.status == StrategyStatus::Staged && s.open_run.is_none())
        .filter_map(|s| {
            let stage = s.last_completed_stage?;
            let run_id = s.last_completed_run?;
            let trading = match stage {
                Stage::Full => s.stage == Some(Stage::Full),
                Stage::Limited => s.stage == Some(Stage::Full),
                _ => false,
            };
            if !trading {
                return None;
            }
            let (done, below) = match &s.monitor {
                Some(m) if m.run_id == run_id => (m.observation, m.below_baseline_hours),
                _ => (0, 0),
            };
            Some(Stay {
                strategy_id: s.id,
                stage,
                run_id,
                done,
                below,
            })
        })
        .collect()
}

/// Generations of clones above a strategy (0 for one from a source).
pub fn clone_depth(state: &Projections, view: &StrategyView) -> u32 {
    let mut depth = 0;
    let mut opportunity = state.opportunities.get(&view.opportunity_id);
    while let Some(o) = opportunity {
        let Some(parent) = o.parent_strategy_id.and_then(|p| state.strategies.get(&p)) else {
            break;
        };
        depth += 1;
        if depth > 64 {
            break;
        }
        opportunity = state.opportunities.get(&parent.opportunity_id);
    }
    depth
}

/// Parameter variants of a strategy: each one template parameter moved down and up by
/// `clone_step` (rounded for whole numbers, within the parameter's range), in the template's
/// order, at most `clone_variants`. Each is (the whole parameter list, the parameter varied).
pub fn variants(view: &StrategyView, s: &MonitorSettings) -> Vec<(Vec<Parameter>, Parameter)> {
    let Some(spec) = view.template.as_deref().and_then(templates::find) else {
        return Vec::new();
    };
    let value_of = |name: &str, default: f64| {
        view.parameters
            .iter()
            .find(|p| p.name == name)
            .map_or(default, |p| p.value)
    };
    let mut out: Vec<(Vec<Parameter>, Parameter)> = Vec::new();
    for p in spec.params {
        let current = value_of(p.name, p.default);
        for factor in [1.0 - s.clone_step, 1.0 + s.clone_step] {
            if out.len() >= s.clone_variants as usize {
                return out;
            }
            let mut v = (current * factor).clamp(p.min, p.max);
            if p.integer {
                v = v.round();
            }
            if (v - current).abs() < 1e-9 {
                continue;
            }
            let all = spec
                .params
                .iter()
                .map(|q| Parameter {
                    name: q.name.to_string(),
                    value: if q.name == p.name {
                        v
                    } else {
                        value_of(q.name, q.default)
                    },
                })
                .collect();
            out.push((
                all,
                Parameter {
                    name: p.name.to_string(),
                    value: v,
                },
            ));
        }
    }
    out
}

fn previous(stage: Stage) -> Stage {
    match stage {
        Stage::Full => Stage::Limited,
        Stage::Limited => Stage::Warm,
        Stage::Warm | Stage::Cold => Stage::Cold,
    }
}

/// The events of a stay's new readings: one `monitor.observed` each; for the first winner
/// reading of a strategy never cloned (and not too deep a clone), its variants as
/// `opportunity.discovered` (source `clone`) with `clone.spawned`; for a degraded reading,
/// `stage.rolled_back` (reinstating the previous champion when the champion falls) and, for a
/// loser, `strategy.retired`. `new_id` names the clones' opportunities.
pub fn plan(
    state: &Projections,
    stay: &Stay,
    readings: &[Reading],
    s: &MonitorSettings,
    new_id: &mut dyn FnMut() -> Uuid,
) -> Vec<Event> {
    let Some(view) = state.strategies.get(&stay.strategy_id) else {
        return Vec::new();
    };
    let mut events = Vec::new();
    let mut cloned = !view.clones.is_empty();
    for r in readings {
        events.push(Event::from(MonitorObserved {
            strategy_id: view.id,
            stage: stay.stage,
            run_id: stay.run_id,
            observation: r.observation,
            window_start: r.window_start,
            window_end: r.window_end,
            pnl: r.pnl,
            total_return: r.total_return,
            rolling_sharpe: r.rolling_sharpe,
            baseline_sharpe: r.baseline_sharpe,
            drawdown: r.drawdown,
            below_baseline_hours: r.below_baseline_hours,
            verdict: r.health.verdict(),
        }));
        match &r.health {
            Health::Healthy => {}
            Health::Winner => {
                if cloned || clone_depth(state, view) >= s.clone_max_depth {
                    continue;
                }
                cloned = true;
                events.extend(clone_events(state, view, stay.stage, r, s, new_id));
            }
            Health::Degraded(why) => {
                let to = previous(stay.stage);
                let reinstated = (stay.stage == Stage::Full && state.champion == Some(view.id))
                    .then(|| {
                        state.previous_champions.iter().rev().copied().find(|c| {
                            *c != view.id
                                && state.strategies.get(c).is_some_and(|p| {
                                    p.status == StrategyStatus::Staged
                                        && p.stage == Some(Stage::Full)
                                })
                        })
                    })
                    .flatten();
                events.push(Event::from(StageRolledBack {
                    strategy_id: view.id,
                    from: stay.stage,
                    to,
                    reason: why.clone(),
                    reinstated,
                }));
                let rollbacks = view.rollbacks + 1;
                let lost = r.total_return <= -s.retire_loss;
                if rollbacks >= s.retire_after_rollbacks || lost {
                    events.push(Event::from(StrategyRetired {
                        strategy_id: view.id,
                        stage: Some(to),
                        reason: if lost {
                            format!("a loser: {why}")
                        } else {
                            format!("a loser: rolled back {rollbacks} time(s), the last for: {why}")
                        },
                    }));
                }
                break;
            }
        }
    }
    events
}

fn clone_events(
    state: &Projections,
    view: &StrategyView,
    stage: Stage,
    r: &Reading,
    s: &MonitorSettings,
    new_id: &mut dyn FnMut() -> Uuid,
) -> Vec<Event> {
    let parent_opportunity = state.opportunities.get(&view.opportunity_id);
    let mut events = Vec::new();
    for (parameters, varied) in variants(view, s) {
        let was = view
            .parameters
            .iter()
            .find(|p| p.name == varied.name)
            .map_or(String::from("its default"), |p| format!("{}", p.value));
        let opportunity_id = new_id();
        events.push(Event::from(OpportunityDiscovered {
            opportunity_id,
            source: "clone".into(),
            external_id: Some(format!(
                "clone:{}:{}={}",
                view.id, varied.name, varied.value
            )),
            title: format!(
                "{} variant: {} {} (was {was})",
                view.name, varied.name, varied.value
            )
            .into(),
            hypothesis: format!(
                "{} A parameter variant of strategy {}, a winner in {} (rolling Sharpe {:.2} over {} h against the baseline's {:.2}).",
                parent_opportunity.map_or("", |o| o.hypothesis.raw()),
                view.name,
                stage.as_str().to_uppercase(),
                r.rolling_sharpe,
                s.window_hours,
                r.baseline_sharpe
            )
            .trim()
            .to_string()
            .into(),
            url: parent_opportunity.and_then(|o| o.url.clone()),
            family: parent_opportunity
                .and_then(|o| o.family.clone())
                .or_else(|| {
                    let spec = view.template.as_deref().and_then(templates::find)?;
                    Some(spec.family.to_string())
                }),
            asset_class: parent_opportunity.and_then(|o| o.asset_class.clone()),
            timeframe: parent_opportunity.and_then(|o| o.timeframe.clone()),
            parameters,
            stated_sharpe: None,
            template: view.template.clone(),
            parent_strategy_id: Some(view.id),
        }));
        events.push(Event::from(CloneSpawned {
            parent_strategy_id: view.id,
            opportunity_id,
            variant: vec![varied],
        }));
    }
    events
}

#[cfg(test)]
mod tests;
