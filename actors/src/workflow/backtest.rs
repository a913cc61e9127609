//! A backtest on demand (`stratagem backtest`): a strategy — a file, or a generated one from the
//! log — in the sandbox over bars (embedded or a CSV file), then fills, equity and metrics
//! against buy and hold, with the equity curve and the trades exportable as CSV.

use std::fmt::Write as _;
use std::path::Path;

use stratagem_events::projection::rfc3339_micros;
use uuid::Uuid;

use super::compile::compile_checked;
use super::data_dir::DataDir;
use super::{refuse, Result, WorkflowError};
use crate::market;
use crate::stages::backtest::{self, Backtest, CostModel};
use crate::validator::sandbox::runtime::{
    Deadline, RiskLimits, Sandbox, SandboxBar, SandboxLimits,
};

/// Bars to backtest on, with their calendar and annualisation.
#[derive(Debug, Clone)]
pub struct LoadedBars {
    /// The bars, oldest first.
    pub bars: Vec<SandboxBar>,
    /// Their calendar.
    pub calendar: market::Calendar,
    /// Whether the calendar was inferred (else given).
    pub calendar_inferred: bool,
    /// Bars a year for annualised figures: given, else the calendar's.
    pub bars_per_year: f64,
}

/// The bars named by `data` (an embedded recording's name, else a CSV file), cut to the last
/// `days`, on `calendar` (else the one they show), annualised with `bars_per_year` (else the
/// calendar's).
///
/// # Errors
/// An unreadable or unusable file; fewer than two bars; an unknown calendar or a bad
/// `bars_per_year`.
pub fn load_bars(
    root: &Path,
    data: &str,
    days: Option<u32>,
    calendar: Option<&str>,
    bars_per_year: Option<f64>,
) -> Result<LoadedBars> {
    let calendar = match calendar {
        None => None,
        Some(name) => Some(market::Calendar::parse(name).ok_or_else(|| {
            WorkflowError::Usage(format!("--calendar {name:?} is not crypto, equity or fx"))
        })?),
    };
    if let Some(n) = bars_per_year {
        if !(n.is_finite() && (1.0..=31_622_400.0).contains(&n)) {
            return Err(WorkflowError::Usage(format!(
                "--bars-per-year {n} is not between 1 and 31622400 (one a second)"
            )));
        }
    }
    let stored = match data.strip_prefix("store:") {
        Some(spec) => {
            let store = crate::bars::BarStore::new(root);
            let series = crate::bars::Series::parse(spec)
                .map_err(|e| WorkflowError::Usage(format!("--data store:{spec}: {e}")))?;
            let bars = store
                .read(&series, i64::MIN, i64::MAX)
                .map_err(|e| WorkflowError::refused(format!("the bar store: {e}")))?;
            if bars.is_empty() {
                refuse!(
                    "the bar store has no bars of {} (`stratagem data download` first)",
                    series.label()
                );
            }
            // The venue's bars, stamped by their open time; an open time the venue has no bar
            // for (no trades) is not a bar here either.
            Some(crate::stages::realclock::sandbox_bars(&bars))
        }
        None => None,
    };
    let file = match stored.or_else(|| market::embedded(data)) {
        Some(bars) => {
            let inferred = calendar.is_none();
            let calendar = calendar.unwrap_or_else(|| market::Calendar::infer(&bars));
            market::BarFile {
                bars,
                calendar,
                inferred,
            }
        }
        None => {
            let path = data;
            let text = std::fs::read_to_string(path)
                .map_err(|e| WorkflowError::io(format!("cannot read bars from {path}"), e))?;
            market::read_bars(&text, calendar).map_err(|e| {
                WorkflowError::refused(format!("{path} is not a usable bar file: {e}"))
            })?
        }
    };
    let mut bars = file.bars;
    if let Some(days) = days {
        let last = bars.last().map_or(0, |b| b.timestamp);
        let from = last - i64::from(days) * 86_400;
        bars.retain(|b| b.timestamp > from);
    }
    if bars.len() < 2 {
        refuse!("fewer than two bars to backtest on");
    }
    let bars_per_year = bars_per_year.unwrap_or_else(|| file.calendar.bars_per_year(&bars));
    Ok(LoadedBars {
        bars,
        calendar: file.calendar,
        calendar_inferred: file.inferred,
        bars_per_year,
    })
}

/// What a backtest is asked for.
#[derive(Debug, Clone)]
pub struct BacktestRequest<'a> {
    /// The strategy's source.
    pub source: &'a str,
    /// The bars.
    pub bars: &'a [SandboxBar],
    /// Starting capital.
    pub capital: f64,
    /// Fees and slippage.
    pub costs: CostModel,
    /// Bars a year for annualised figures.
    pub bars_per_year: f64,
    /// The strategy, when it is one of the log's.
    pub strategy_id: Option<Uuid>,
    /// The family its trial is counted in ([`family_for`]).
    pub family: String,
    /// What the bars are (for the trial's record).
    pub data: &'a str,
}

/// The family a backtest's trial is counted in: the log's strategy's family (its opportunity's,
/// else its template), else `file:<the strategy type>` for a file.
///
/// # Errors
/// The projections cannot be read.
pub fn family_for(dir: &DataDir, strategy_id: Option<Uuid>, source: &str) -> Result<String> {
    if let Some(id) = strategy_id {
        return Ok(dir.projections()?.state().family_of(id));
    }
    let name = (crate::validator::syntax::too_deep(source).is_none())
        .then(|| syn::parse_file(source).ok())
        .flatten()
        .and_then(|f| crate::validator::conventions::strategy_type(&f))
        .unwrap_or_else(|| "unknown".into());
    Ok(format!("file:{name}"))
}

/// A backtest done.
#[derive(Debug, Clone)]
pub struct BacktestDone {
    /// The strategy's fills, equity, trades and metrics.
    pub result: Backtest,
    /// Buy and hold over the same bars.
    pub baseline: Backtest,
    /// Bars run (fewer than given when the sandbox stopped it).
    pub bars: usize,
    /// Bars a year the figures were annualised with.
    pub bars_per_year: f64,
    /// Trials the deflated Sharpe ratio counted: this family's, this one included.
    pub trials: u64,
    /// Why the sandbox stopped it early, if it did.
    pub trap: Option<String>,
    /// When the sandbox started on the first bar (the module compiled or loaded, started).
    pub first_bar_at: std::time::Instant,
    /// How long the sandbox ran over the bars.
    pub run_time: std::time::Duration,
    /// The orders the sandbox accepted (for walk-forward windows).
    pub orders: Vec<crate::validator::sandbox::runtime::HostOrder>,
}

/// The source of a strategy: a generated strategy's from the log when `target` is its id,
/// else `None` (a file, which the caller reads).
///
/// # Errors
/// An id the log does not know.
pub fn recorded_source(dir: &DataDir, target: &str) -> Result<Option<String>> {
    match target.parse::<Uuid>() {
        Ok(id) => Ok(Some(dir.strategy_source(&*dir.projections()?, id)?)),
        Err(_) => Ok(None),
    }
}

/// Compiles the strategy (after the source-level layers), runs it in the sandbox over the
/// bars, simulates its orders, and records the run as a trial of its family (the deflated
/// Sharpe ratio counts every trial of the family, this one included).
///
/// # Errors
/// A strategy that fails the source layers or rustc; a sandbox that cannot load it; the log.
pub async fn backtest(root: &Path, dir: &DataDir, r: &BacktestRequest<'_>) -> Result<BacktestDone> {
    let bars_per_year = r.bars_per_year;
    let wasm = compile_checked(root, r.source)?;
    let sandbox = Sandbox::cached(&root.join("cache/native"))?;
    let loaded = sandbox.load(&wasm)?;
    let (limits, risk) = (
        SandboxLimits::backtest(),
        RiskLimits::with_account(r.capital, r.costs),
    );
    // As `Sandbox::run`, with the moment the first bar goes in marked.
    let mut live = sandbox.start(&loaded, &limits, &risk, Deadline::WholeRun)?;
    let first_bar_at = std::time::Instant::now();
    live.feed_all(r.bars);
    let run = live.finish();
    let run_time = first_bar_at.elapsed();
    let mut projections = dir.projections()?;
    let trials = projections.state().trials_of_family(&r.family) + 1;
    let result = backtest::simulate(
        &r.bars[..run.bars],
        &run.orders,
        r.capital,
        r.costs,
        bars_per_year,
        trials,
    );
    let baseline = backtest::buy_and_hold(r.bars, r.capital, r.costs, bars_per_year);
    let trap = run
        .trap
        .as_ref()
        .map(|t| format!("{t} at bar {}", run.bars));
    let trial = stratagem_events::BacktestTrial {
        strategy_id: r.strategy_id,
        sha256: crate::generator::sha256_hex(r.source),
        family: r.family.clone(),
        data: r.data.to_string(),
        bars: run.bars as u64,
        sharpe: result.metrics.sharpe,
    };
    dir.append(
        &mut projections,
        stratagem_events::AppendRequest::one(trial),
    )
    .await?;
    Ok(BacktestDone {
        result,
        baseline,
        bars: run.bars,
        bars_per_year,
        trials,
        trap,
        first_bar_at,
        run_time,
        orders: run.orders,
    })
}

/// A backtest of a strategy over several series (`backtest --legs A,B`) as it ran.
#[derive(Debug, Clone)]
pub struct LegsDone {
    /// The series, aligned by time.
    pub aligned: crate::stages::legs::Aligned,
    /// The multi-leg book.
    pub result: crate::stages::legs::LegsBacktest,
    /// Steps the strategy ran through (all, unless it trapped).
    pub steps: usize,
    /// Backtests of its family on the log, this one included.
    pub trials: u64,
    /// Why it stopped early, if it did.
    pub trap: Option<String>,
    /// Log lines of the run.
    pub logs: Vec<String>,
    /// Bars a year of the annualised figures (from the common times' spacing).
    pub bars_per_year: f64,
}

/// Backtests a strategy over several series: `legs` (each a `--data` spec, loaded as
/// [`load_bars`] loads one) aligned by time and interleaved, the strategy run once over them in
/// the sandbox with each leg's capital (`capital` ÷ legs), then each leg's orders filled in its
/// own book; the trial is recorded as one backtest of its family.
///
/// # Errors
/// A bad bar file, fewer than two common times, a strategy that trades another number of
/// series, the sandbox's or the log's error.
#[allow(clippy::too_many_arguments)]
pub async fn backtest_legs(
    root: &Path,
    dir: &DataDir,
    source: &str,
    legs: &[LoadedBars],
    names: &[String],
    capital: f64,
    costs: CostModel,
    strategy_id: Option<Uuid>,
    family: String,
    funding: &[Vec<crate::bars::funding::FundingRate>],
) -> Result<LegsDone> {
    let series: Vec<&[SandboxBar]> = legs.iter().map(|l| l.bars.as_slice()).collect();
    let aligned = crate::stages::legs::align(&series);
    if aligned.steps() < 2 {
        refuse!(
            "the series {} have fewer than two times in common: nothing to backtest",
            names.join(", ")
        );
    }
    let interleaved = crate::stages::legs::interleave(&aligned);
    let wasm = compile_checked(root, source)?;
    let sandbox = Sandbox::cached(&root.join("cache/native"))?;
    let loaded = sandbox.load(&wasm)?;
    let n = legs.len();
    let risk = RiskLimits {
        legs: n,
        ..RiskLimits::with_account(capital / n as f64, costs)
    };
    let run = sandbox.run_with_funding(
        &loaded,
        &interleaved,
        &SandboxLimits::backtest(),
        &risk,
        funding.to_vec(),
    )?;
    let steps = run.bars / n;
    // Annualised on the common times' spacing.
    let bars_per_year =
        crate::market::bars_per_year(&aligned.legs[0][..steps.max(2).min(aligned.steps())]);
    let mut projections = dir.projections()?;
    let trials = projections.state().trials_of_family(&family) + 1;
    let result = crate::stages::legs::simulate_by_leg(
        &aligned,
        &crate::stages::legs::orders_by_leg(&run.orders, n),
        steps,
        capital,
        costs,
        bars_per_year,
        trials,
        funding,
    );
    let trial = stratagem_events::BacktestTrial {
        strategy_id,
        sha256: crate::generator::sha256_hex(source),
        family,
        data: names.join(","),
        bars: steps as u64,
        sharpe: result.metrics.sharpe,
    };
    dir.append(
        &mut projections,
        stratagem_events::AppendRequest::one(trial),
    )
    .await?;
    Ok(LegsDone {
        aligned,
        result,
        steps,
        trials,
        trap: run
            .trap
            .as_ref()
            .map(|t| format!("{t} at bar {}", run.bars)),
        logs: run.logs,
        bars_per_year,
    })
}

/// Writes every leg's fills as CSV (`timestamp,leg,series,quantity,price,fee,position`), in
/// time order: the trades of a strategy over several series, one row a fill.
///
/// # Errors
/// The file cannot be written.
pub fn write_leg_fills(
    result: &crate::stages::legs::LegsBacktest,
    names: &[String],
    path: &Path,
) -> Result<()> {
    let mut out = String::from("timestamp,leg,series,quantity,price,fee,position\n");
    for f in &result.fills {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            rfc3339_micros(f.fill.timestamp * 1_000_000),
            f.leg,
            names
                .get(f.leg)
                .map_or("", String::as_str)
                .replace(',', ";"),
            f.fill.quantity,
            f.fill.price,
            f.fill.fee,
            f.fill.position
        );
    }
    std::fs::write(path, out)
        .map_err(|e| WorkflowError::io(format!("cannot write {}", path.display()), e))
}

/// Writes a curve as CSV (`timestamp,equity`).
///
/// # Errors
/// The file cannot be written.
pub fn write_curve(equity: &[(i64, f64)], path: &Path) -> Result<()> {
    let mut out = String::from("timestamp,equity\n");
    for (t, e) in equity {
        let _ = writeln!(out, "{},{e}", rfc3339_micros(t * 1_000_000));
    }
    std::fs::write(path, out)
        .map_err(|e| WorkflowError::io(format!("cannot write {}", path.display()), e))
}

/// Writes the equity curve as CSV (`timestamp,equity`).
///
/// # Errors
/// The file cannot be written.
pub fn write_equity(result: &Backtest, path: &Path) -> Result<()> {
    write_curve(&result.equity, path)
}

/// Writes the round trips as CSV.
///
/// # Errors
/// The file cannot be written.
pub fn write_trades(result: &Backtest, bars: &[SandboxBar], path: &Path) -> Result<()> {
    let mut out = String::from("entry_time,exit_time,side,quantity,entry_price,exit_price,pnl\n");
    for t in &result.trades {
        let at = |i: usize| {
            bars.get(i)
                .map(|b| rfc3339_micros(b.timestamp * 1_000_000))
                .unwrap_or_default()
        };
        let side = if t.side > 0 { "long" } else { "short" };
        let _ = writeln!(
            out,
            "{},{},{side},{},{},{},{}",
            at(t.entry_bar),
            at(t.exit_bar),
            t.quantity,
            t.entry_price,
            t.exit_price,
            t.pnl
        );
    }
    std::fs::write(path, out)
        .map_err(|e| WorkflowError::io(format!("cannot write {}", path.display()), e))
}
