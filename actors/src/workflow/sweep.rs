//! `sweep`: a template's parameters over a grid. Each point is rendered, compiled (cached like
//! any module), run once in the sandbox over every bar and simulated; each is a trial of the
//! template's family on the log (`backtest.trial`), and the deflated Sharpe of every point counts
//! all of them, the whole sweep included.
//!
//! Walk-forward (`walk_forward = K`): the bars are cut into K + 1 equal blocks; fold k chooses the
//! point with the best Sharpe on blocks 0..k (anchored) and is measured on block k, which it was
//! not chosen on. The folds' measured blocks, chained, are the out-of-sample result. A strategy
//! is causal (it sees one closed bar at a time), so one run over all the bars gives every
//! window's orders: a window starts holding what the strategy last asked for before it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use stratagem_events::StageMetrics;

use super::compile::compile_checked;
use super::data_dir::DataDir;
use super::{refuse, Result};
use crate::generator::templates::{self, ChosenParam, TemplateSpec};
use crate::stages::backtest::{self, Backtest, CostModel};
use crate::stages::metrics;
use crate::validator::sandbox::runtime::{
    HostOrder, RiskLimits, Sandbox, SandboxBar, SandboxLimits,
};

/// Most points a sweep runs.
pub const MAX_POINTS: usize = 256;

/// What a sweep is asked for.
#[derive(Debug, Clone)]
pub struct SweepRequest<'a> {
    /// The template.
    pub template: &'static TemplateSpec,
    /// The points ([`grid`]).
    pub grid: Vec<Vec<ChosenParam>>,
    /// The bars.
    pub bars: &'a [SandboxBar],
    /// Starting capital.
    pub capital: f64,
    /// Fees, slippage and sizing.
    pub costs: CostModel,
    /// Bars a year for annualised figures.
    pub bars_per_year: f64,
    /// What the bars are (for the trials' record).
    pub data: &'a str,
    /// Walk-forward folds, if asked.
    pub walk_forward: Option<usize>,
}

/// One point of the grid, run.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    /// Its parameters.
    pub params: BTreeMap<String, f64>,
    /// Its metrics over every bar (the DSR over the whole sweep's trials).
    pub metrics: StageMetrics,
    /// Fills.
    pub fills: usize,
    /// Why the sandbox stopped it early, if it did.
    pub trap: Option<String>,
}

/// A point the template refused (parameters that contradict each other).
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// Its parameters.
    pub params: BTreeMap<String, f64>,
    /// Why.
    pub reason: String,
}

/// One walk-forward fold.
#[derive(Debug, Clone, Serialize)]
pub struct Fold {
    /// 1-based.
    pub fold: usize,
    /// Bars chosen on: `[0, train_end)`.
    pub train_end: usize,
    /// Bars measured on: `[train_end, test_end)`.
    pub test_end: usize,
    /// The point chosen (index into `points`).
    pub chosen: usize,
    /// Its Sharpe on the bars it was chosen on.
    pub train_sharpe: f64,
    /// Its metrics on the bars it was not chosen on.
    pub test: StageMetrics,
}

/// The out-of-sample result of a walk-forward: the folds' measured blocks chained.
#[derive(Debug, Clone, Serialize)]
pub struct OutOfSample {
    /// Bars measured.
    pub bars: usize,
    /// Total return over them.
    pub total_return: f64,
    /// Annualised Sharpe of their per-bar returns.
    pub sharpe: f64,
    /// The mean in-sample (training) Sharpe of the chosen points, for comparison.
    pub mean_train_sharpe: f64,
}

/// A sweep done.
#[derive(Debug, Clone, Serialize)]
pub struct SweepDone {
    /// The family its trials are counted in (the template's name).
    pub family: String,
    /// Trials of that family on the log, this sweep's included.
    pub trials: u64,
    /// Points run, in grid order.
    pub points: Vec<SweepPoint>,
    /// Points the template refused.
    pub skipped: Vec<Skipped>,
    /// The point with the best Sharpe over every bar.
    pub best: Option<usize>,
    /// Walk-forward folds.
    pub folds: Vec<Fold>,
    /// Walk-forward's chained out-of-sample result.
    pub out_of_sample: Option<OutOfSample>,
}

/// The grid: every combination of the values given per parameter (`name=v1,v2,…`, or
/// `name=range:N` for N values evenly across its documented range); the others at their
/// defaults.
///
/// # Errors
/// An unknown parameter, a value outside the documented range or not a whole number where one
/// is needed, or a grid over [`MAX_POINTS`].
pub fn grid(spec: &TemplateSpec, given: &[String]) -> Result<Vec<Vec<ChosenParam>>> {
    let mut axes: Vec<(&'static str, Vec<f64>)> = spec
        .params
        .iter()
        .map(|p| (p.name, vec![p.default]))
        .collect();
    for g in given {
        let Some((name, values)) = g.split_once('=') else {
            refuse!("--param {g:?} is not NAME=V1,V2,… or NAME=range:N");
        };
        let Some(p) = spec.params.iter().find(|p| p.name == name.trim()) else {
            let names: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
            refuse!(
                "template {} has no parameter {name:?} (it has {})",
                spec.name,
                names.join(", ")
            );
        };
        let list: Vec<f64> = if let Some(n) = values.trim().strip_prefix("range:") {
            let n: usize = match n.trim().parse() {
                Ok(n) if (2..=64).contains(&n) => n,
                _ => refuse!("--param {name}=range:{n}: N is a count from 2 to 64"),
            };
            let mut v: Vec<f64> = (0..n)
                .map(|i| p.min + (p.max - p.min) * i as f64 / (n - 1) as f64)
                .map(|v| if p.integer { v.round() } else { v })
                .collect();
            v.dedup();
            v
        } else {
            let mut v = Vec::new();
            for text in values.split(',') {
                let Ok(x) = text.trim().parse::<f64>() else {
                    refuse!("--param {name}: {text:?} is not a number");
                };
                if !(x.is_finite() && (p.min..=p.max).contains(&x)) {
                    refuse!(
                        "--param {name}: {x} is outside its range [{}, {}]",
                        p.min,
                        p.max
                    );
                }
                if p.integer && x.fract() != 0.0 {
                    refuse!("--param {name}: {x} is not a whole number");
                }
                v.push(x);
            }
            v
        };
        if let Some(axis) = axes.iter_mut().find(|(n, _)| *n == p.name) {
            axis.1 = list;
        }
    }
    let size: usize = axes.iter().map(|(_, v)| v.len()).product();
    if size > MAX_POINTS {
        refuse!("the grid has {size} points; at most {MAX_POINTS}");
    }
    let mut points: Vec<Vec<ChosenParam>> = vec![Vec::new()];
    for (name, values) in &axes {
        points = points
            .into_iter()
            .flat_map(|point| {
                values.iter().map(move |v| {
                    let mut next = point.clone();
                    next.push(ChosenParam {
                        name,
                        value: *v,
                        origin: "sweep",
                    });
                    next
                })
            })
            .collect();
    }
    Ok(points)
}

/// The orders of `[start, end)` as bar indices of that window: the last order before it moved
/// to its first bar (the window holds what the strategy last asked for), then its own.
fn window_orders(orders: &[HostOrder], start: usize, end: usize) -> Vec<HostOrder> {
    let carried = orders
        .iter()
        .rev()
        .find(|o| o.bar < start)
        .map(|o| HostOrder { bar: 0, ..*o });
    carried
        .into_iter()
        .chain(
            orders
                .iter()
                .filter(|o| o.bar >= start && o.bar < end)
                .map(|o| HostOrder {
                    bar: o.bar - start,
                    ..*o
                }),
        )
        .collect()
}

fn params_of(point: &[ChosenParam]) -> BTreeMap<String, f64> {
    point
        .iter()
        .map(|p| (p.name.to_string(), p.value))
        .collect()
}

/// Checks that `k` folds fit in `bars` bars: 1 to 20 folds, blocks of at least
/// [`metrics::MIN_BARS_TO_ANNUALISE`] bars.
///
/// # Errors
/// Folds out of range, or blocks too short.
pub fn check_folds(k: usize, bars: usize) -> Result<()> {
    if !(1..=20).contains(&k) {
        refuse!("--walk-forward {k}: folds are from 1 to 20");
    }
    if bars / (k + 1) < metrics::MIN_BARS_TO_ANNUALISE as usize {
        refuse!(
            "--walk-forward {k} over {bars} bars leaves blocks under {} bars",
            metrics::MIN_BARS_TO_ANNUALISE
        );
    }
    Ok(())
}

/// Walk-forward over candidates' orders (one run each over all of `bars`): the bars cut into
/// `k` + 1 equal blocks; fold j chooses the candidate with the best Sharpe on blocks 0..j and
/// measures it on block j. With one candidate, each fold is its in-sample and out-of-sample
/// figures side by side.
pub fn walk_forward(
    bars: &[SandboxBar],
    candidates: &[&[HostOrder]],
    k: usize,
    capital: f64,
    costs: CostModel,
    bars_per_year: f64,
    trials: u64,
) -> (Vec<Fold>, Option<OutOfSample>) {
    let window = |i: usize, start: usize, end: usize| -> Backtest {
        backtest::simulate(
            &bars[start..end],
            &window_orders(candidates[i], start, end),
            capital,
            costs,
            bars_per_year,
            trials,
        )
    };
    let mut folds = Vec::new();
    let mut chained: Vec<f64> = Vec::new();
    let mut growth = 1.0;
    let edge = |j: usize| j * bars.len() / (k + 1);
    for fold in 1..=k {
        if candidates.is_empty() {
            break;
        }
        let (train_end, test_end) = (edge(fold), edge(fold + 1));
        let scored: Vec<f64> = (0..candidates.len())
            .map(|i| window(i, 0, train_end).metrics.sharpe)
            .collect();
        let chosen = (0..scored.len())
            .max_by(|a, b| scored[*a].total_cmp(&scored[*b]).then(b.cmp(a)))
            .unwrap_or(0);
        let test = window(chosen, train_end, test_end);
        let equity: Vec<f64> = test.equity.iter().map(|(_, e)| *e).collect();
        chained.extend(metrics::returns(&equity));
        if let (Some(first), Some(last)) = (equity.first(), equity.last()) {
            if *first > 0.0 {
                growth *= last / first;
            }
        }
        folds.push(Fold {
            fold,
            train_end,
            test_end,
            chosen,
            train_sharpe: scored[chosen],
            test: test.metrics,
        });
    }
    let out_of_sample = (!folds.is_empty()).then(|| {
        let sd = metrics::std_dev(&chained);
        OutOfSample {
            bars: folds.last().map_or(0, |f| f.test_end) - folds.first().map_or(0, |f| f.train_end),
            total_return: growth - 1.0,
            sharpe: if sd > 0.0 {
                metrics::mean(&chained) / sd * bars_per_year.sqrt()
            } else {
                0.0
            },
            mean_train_sharpe: folds.iter().map(|f| f.train_sharpe).sum::<f64>()
                / folds.len() as f64,
        }
    });
    (folds, out_of_sample)
}

/// Runs the sweep and records each point as a trial.
///
/// # Errors
/// Too few bars for the folds, a point that does not compile, the sandbox, the log.
pub async fn sweep(root: &Path, dir: &DataDir, r: &SweepRequest<'_>) -> Result<SweepDone> {
    let bars = r.bars;
    if let Some(k) = r.walk_forward {
        check_folds(k, bars.len())?;
    }
    let family = r.template.name.to_string();
    let sandbox = Sandbox::cached(&root.join("cache/native"))?;
    let (limits, risk) = (
        SandboxLimits::backtest(),
        RiskLimits::with_account(r.capital, r.costs),
    );
    let mut runs: Vec<(Vec<HostOrder>, Backtest, Option<String>)> = Vec::new();
    let mut points = Vec::new();
    let mut skipped = Vec::new();
    let mut projections = dir.projections()?;
    for point in &r.grid {
        let source = match templates::render(r.template, point, uuid::Uuid::nil()) {
            Ok(s) => s,
            Err(templates::RenderError::Parameters { message, .. }) => {
                skipped.push(Skipped {
                    params: params_of(point),
                    reason: message,
                });
                continue;
            }
            Err(e) => refuse!("{e}"),
        };
        let wasm = compile_checked(root, &source)?;
        let loaded = sandbox.load(&wasm)?;
        let run = sandbox.run(&loaded, bars, &limits, &risk)?;
        let trap = run
            .trap
            .as_ref()
            .map(|t| format!("{t} at bar {}", run.bars));
        let full = backtest::simulate(
            &bars[..run.bars],
            &run.orders,
            r.capital,
            r.costs,
            r.bars_per_year,
            1,
        );
        dir.append(
            &mut projections,
            stratagem_events::AppendRequest::one(stratagem_events::BacktestTrial {
                strategy_id: None,
                sha256: crate::generator::sha256_hex(&source),
                family: family.clone(),
                data: r.data.to_string(),
                bars: run.bars as u64,
                sharpe: full.metrics.sharpe,
            }),
        )
        .await?;
        points.push(SweepPoint {
            params: params_of(point),
            metrics: full.metrics.clone(),
            fills: full.fills.len(),
            trap: trap.clone(),
        });
        runs.push((run.orders, full, trap));
    }
    // Every point deflated over every trial of the family, the whole sweep included.
    let trials = projections.state().trials_of_family(&family);
    for (point, (_, full, _)) in points.iter_mut().zip(&runs) {
        let equity: Vec<f64> = full.equity.iter().map(|(_, e)| *e).collect();
        point.metrics.deflated_sharpe =
            metrics::deflated_sharpe(&metrics::returns(&equity), trials);
    }
    let best = (0..points.len()).max_by(|a, b| {
        points[*a]
            .metrics
            .sharpe
            .total_cmp(&points[*b].metrics.sharpe)
            .then(b.cmp(a))
    });
    let (folds, out_of_sample) = match (r.walk_forward, points.is_empty()) {
        (Some(k), false) => {
            let orders: Vec<&[HostOrder]> = runs.iter().map(|(o, _, _)| o.as_slice()).collect();
            walk_forward(
                bars,
                &orders,
                k,
                r.capital,
                r.costs,
                r.bars_per_year,
                trials,
            )
        }
        _ => (Vec::new(), None),
    };
    Ok(SweepDone {
        family,
        trials,
        points,
        skipped,
        best,
        folds,
        out_of_sample,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(bar: usize, direction: i32) -> HostOrder {
        HostOrder::market(bar, direction, 1.0)
    }

    #[test]
    fn a_window_starts_holding_the_last_order_before_it() {
        let orders = [order(2, 1), order(5, -1), order(9, 0), order(12, 1)];
        let w = window_orders(&orders, 6, 12);
        assert_eq!(w, vec![order(0, -1), order(3, 0)]);
        assert_eq!(window_orders(&orders, 0, 3), vec![order(2, 1)]);
    }

    #[test]
    fn the_grid_is_every_combination_within_the_documented_ranges() {
        let spec = templates::find("momentum").unwrap();
        let g = grid(spec, &["lookback=12,24".into(), "threshold=range:3".into()]).unwrap();
        assert_eq!(g.len(), 6);
        assert!(g.iter().all(|p| p.len() == spec.params.len()));
        for bad in [
            "lookback=0",
            "lookback=12.5",
            "nope=1",
            "lookback",
            "threshold=range:1",
        ] {
            assert!(grid(spec, &[bad.into()]).is_err(), "{bad}");
        }
    }
}
