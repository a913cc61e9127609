//! `stratagem backtest`: a strategy in the sandbox over bars, then fills, equity and metrics.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde::Serialize;
use stratagem_actors::market;
use stratagem_actors::stages::backtest::{self, Backtest, CostModel};
use stratagem_actors::validator::sandbox::runtime::{
    RiskLimits, Sandbox, SandboxBar, SandboxLimits,
};
use stratagem_events::projection::rfc3339_micros;
use stratagem_events::StageMetrics;
use uuid::Uuid;

use super::print_json;
use super::scan::read_strategy;
use crate::cli::BacktestArgs;
use stratagem_actors::workflow::compile::compile_checked;
use stratagem_actors::workflow::data_dir::DataDir;

#[derive(Serialize)]
struct BacktestJson<'a> {
    strategy: &'a str,
    data: &'a str,
    bars: usize,
    first_bar: String,
    last_bar: String,
    bars_per_year: f64,
    costs: CostModel,
    capital: f64,
    metrics: &'a StageMetrics,
    buy_and_hold: &'a StageMetrics,
    fills: usize,
    trap: Option<String>,
}

/// The source of a strategy: a file, or a generated strategy's source from the log.
fn strategy_source(dir: &DataDir, target: &str) -> anyhow::Result<String> {
    match target.parse::<Uuid>() {
        Ok(id) => Ok(dir.strategy_source(&*dir.projections()?, id)?),
        Err(_) => read_strategy(Path::new(target)),
    }
}

/// The bars named by `--data`, cut to the last `days`.
pub fn load_bars(data: &str, days: Option<u32>) -> anyhow::Result<Vec<SandboxBar>> {
    let mut bars = match market::embedded(data) {
        Some(bars) => bars,
        None => {
            let path = data;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read bars from {path}"))?;
            market::parse_bars(&text).with_context(|| format!("{path} is not a usable bar file"))?
        }
    };
    if let Some(days) = days {
        let last = bars.last().map_or(0, |b| b.timestamp);
        let from = last - i64::from(days) * 86_400;
        bars.retain(|b| b.timestamp > from);
    }
    if bars.len() < 2 {
        bail!("fewer than two bars to backtest on");
    }
    Ok(bars)
}

pub fn run(root: &Path, args: BacktestArgs) -> anyhow::Result<ExitCode> {
    if !(args.fee_bps.is_finite() && (0.0..=1000.0).contains(&args.fee_bps)) {
        bail!("--fee-bps {} is not between 0 and 1000", args.fee_bps);
    }
    if !(args.slippage_bps.is_finite() && (0.0..=1000.0).contains(&args.slippage_bps)) {
        bail!(
            "--slippage-bps {} is not between 0 and 1000",
            args.slippage_bps
        );
    }
    if !(args.capital.is_finite() && args.capital > 0.0) {
        bail!("--capital {} is not a positive amount", args.capital);
    }
    let dir = DataDir::open(root)?;
    let source = strategy_source(&dir, &args.strategy)?;
    let bars = load_bars(&args.data, args.days)?;
    let bars_per_year = market::bars_per_year(&bars);
    let wasm = compile_checked(root, &source)?;
    let sandbox = Sandbox::new()?;
    let loaded = sandbox.load(&wasm)?;
    let risk = RiskLimits {
        capital: args.capital,
        ..RiskLimits::default()
    };
    let limits = SandboxLimits {
        timeout: std::time::Duration::from_secs(600),
        ..SandboxLimits::default()
    };
    let run = sandbox.run(&loaded, &bars, &limits, &risk)?;
    let trials = dir.projections()?.state().backtest_trials + 1;
    let costs = CostModel {
        fee_bps: args.fee_bps,
        slippage_bps: args.slippage_bps,
    };
    let result = backtest::simulate(
        &bars[..run.bars],
        &run.orders,
        args.capital,
        costs,
        bars_per_year,
        trials,
    );
    let baseline = backtest::buy_and_hold(&bars, args.capital, costs, bars_per_year);
    if let Some(path) = &args.equity_out {
        write_equity(&result, path)?;
    }
    if let Some(path) = &args.trades_out {
        write_trades(&result, &bars, path)?;
    }
    let trap = run
        .trap
        .as_ref()
        .map(|t| format!("{t} at bar {}", run.bars));
    let when = |b: Option<&SandboxBar>| {
        b.map(|b| rfc3339_micros(b.timestamp * 1_000_000))
            .unwrap_or_default()
    };
    if args.json {
        print_json(&BacktestJson {
            strategy: &args.strategy,
            data: &args.data,
            bars: run.bars,
            first_bar: when(bars.first()),
            last_bar: when(bars.get(run.bars.saturating_sub(1))),
            bars_per_year,
            costs,
            capital: args.capital,
            metrics: &result.metrics,
            buy_and_hold: &baseline.metrics,
            fills: result.fills.len(),
            trap,
        })?;
    } else {
        let m = &result.metrics;
        say!(
            "{} bars of {} ({} → {}), {} fills",
            run.bars,
            args.data,
            when(bars.first()),
            when(bars.last()),
            result.fills.len()
        );
        say!(
            "total return   {:>9.2} %   (buy and hold {:.2} %)",
            m.total_return * 100.0,
            baseline.metrics.total_return * 100.0
        );
        say!(
            "sharpe         {:>9.3}     (buy and hold {:.3})",
            m.sharpe,
            baseline.metrics.sharpe
        );
        say!("sortino        {:>9.3}", m.sortino);
        say!("max drawdown   {:>9.2} %", m.max_drawdown * 100.0);
        say!("calmar         {:>9.3}", m.calmar);
        say!(
            "trades         {:>9}     win rate {:.1} %, profit factor {:.2}",
            m.trades,
            m.win_rate * 100.0,
            m.profit_factor
        );
        say!(
            "exposure       {:>9.1} %   turnover {:.1}",
            m.exposure * 100.0,
            m.turnover
        );
        let show = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"));
        say!(
            "PSR            {:>9}     DSR {} over {trials} trial(s)",
            show(m.probabilistic_sharpe),
            show(m.deflated_sharpe)
        );
        if let Some(t) = &trap {
            say!("stopped early: {t}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_equity(result: &Backtest, path: &Path) -> anyhow::Result<()> {
    let mut out = String::from("timestamp,equity\n");
    for (t, e) in &result.equity {
        let _ = writeln!(out, "{},{e}", rfc3339_micros(t * 1_000_000));
    }
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

fn write_trades(result: &Backtest, bars: &[SandboxBar], path: &Path) -> anyhow::Result<()> {
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
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}
