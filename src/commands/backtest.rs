//! `stratagem backtest`: a strategy in the sandbox over bars, then fills, equity and metrics
//! (the workflow is `stratagem_actors::workflow::backtest`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use serde::Serialize;
use stratagem_actors::stages::backtest::{CostModel, Liquidation, Sizing};
use stratagem_actors::stages::metrics;
use stratagem_actors::validator::sandbox::runtime::SandboxBar;
use stratagem_actors::workflow::backtest::{
    backtest, backtest_legs, family_for, load_bars, recorded_source, write_curve, write_equity,
    write_leg_fills, write_trades, BacktestRequest, LoadedBars,
};
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::report::{write_report, BookSection, Report};
use stratagem_actors::workflow::sweep::{check_folds, walk_forward, Fold, OutOfSample};
use stratagem_events::projection::rfc3339_micros;
use stratagem_events::StageMetrics;

use super::print_json;
use crate::cli::{BacktestArgs, MarketArgs};
use stratagem_actors::workflow::compile::read_strategy;

#[derive(Serialize)]
struct BacktestJson<'a> {
    strategy: &'a str,
    data: &'a str,
    bars: usize,
    first_bar: String,
    last_bar: String,
    bars_per_year: f64,
    calendar: &'static str,
    calendar_inferred: bool,
    costs: CostModel,
    capital: f64,
    metrics: &'a StageMetrics,
    buy_and_hold: &'a StageMetrics,
    fills: usize,
    trap: Option<String>,
    liquidated: Option<Liquidation>,
    implausible: Option<String>,
    family: String,
    trials: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    timings: Option<Timings>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    folds: Vec<Fold>,
    #[serde(skip_serializing_if = "Option::is_none")]
    out_of_sample: Option<OutOfSample>,
}

/// Where the time of a backtest went, whole-process.
#[derive(Serialize, Clone, Copy)]
struct Timings {
    /// From the process's start to the first bar going into the sandbox: reading the file and
    /// the bars, layers 1–2, the module (from the cache, or rustc), wasmtime's compile (or its
    /// cache) and the instance's start.
    before_first_bar_ms: f64,
    /// The sandbox over every bar.
    run_ms: f64,
    /// Bars through the sandbox per second.
    bars_per_second: f64,
}

/// The costs asked for, checked: fees, slippage, capital, sizing and leverage.
///
/// # Errors
/// A value out of its range, named by its flag.
pub fn costs(m: &MarketArgs) -> anyhow::Result<CostModel> {
    if !(m.fee_bps.is_finite() && (0.0..=1000.0).contains(&m.fee_bps)) {
        bail!("--fee-bps {} is not between 0 and 1000", m.fee_bps);
    }
    if !(m.slippage_bps.is_finite() && (0.0..=1000.0).contains(&m.slippage_bps)) {
        bail!(
            "--slippage-bps {} is not between 0 and 1000",
            m.slippage_bps
        );
    }
    if !(m.capital.is_finite() && m.capital > 0.0) {
        bail!("--capital {} is not a positive amount", m.capital);
    }
    let Some(sizing) = Sizing::parse(&m.sizing) else {
        bail!("--sizing {:?} is not equity, fixed or units", m.sizing);
    };
    if !(m.max_leverage.is_finite() && (0.01..=100.0).contains(&m.max_leverage)) {
        bail!(
            "--max-leverage {} is not between 0.01 and 100",
            m.max_leverage
        );
    }
    let maker_fee_bps = m.maker_fee_bps.unwrap_or(m.fee_bps);
    if !(maker_fee_bps.is_finite() && (-100.0..=1000.0).contains(&maker_fee_bps)) {
        bail!("--maker-fee-bps {maker_fee_bps} is not between -100 (a rebate) and 1000");
    }
    if !(m.fixed_fee.is_finite() && m.fixed_fee >= 0.0) {
        bail!("--fixed-fee {} is not an amount of 0 or more", m.fixed_fee);
    }
    if !(m.borrow_bps_per_year.is_finite() && (0.0..=100_000.0).contains(&m.borrow_bps_per_year)) {
        bail!(
            "--borrow-bps-per-year {} is not between 0 and 100000",
            m.borrow_bps_per_year
        );
    }
    Ok(CostModel {
        fee_bps: m.fee_bps,
        slippage_bps: m.slippage_bps,
        sizing,
        max_leverage: m.max_leverage,
        maker_fee_bps,
        fixed_fee: m.fixed_fee,
        borrow_bps_per_year: m.borrow_bps_per_year,
        hold_within_leverage: false,
    })
}

/// The bars asked for, read on their calendar.
///
/// # Errors
/// As [`load_bars`].
pub fn bars(root: &Path, m: &MarketArgs) -> anyhow::Result<LoadedBars> {
    Ok(load_bars(
        root,
        &m.data,
        m.days,
        m.calendar.as_deref(),
        m.bars_per_year,
    )?)
}

pub async fn run(root: &Path, args: BacktestArgs) -> anyhow::Result<ExitCode> {
    let costs = costs(&args.market)?;
    let dir = DataDir::open(root)?;
    let strategy_id = args.strategy.trim().parse::<uuid::Uuid>().ok();
    let source = match recorded_source(&dir, &args.strategy)? {
        Some(source) => source,
        None => read_strategy(Path::new(&args.strategy))?,
    };
    let family = family_for(&dir, strategy_id, &source)?;
    if let Some(legs) = &args.legs {
        return run_legs(root, &dir, &args, legs, &source, costs, strategy_id, family).await;
    }
    if args.funding.is_some() {
        bail!("--funding is the first leg's of a strategy over several series: give it with --legs PERPETUAL,SPOT");
    }
    let loaded = bars(root, &args.market)?;
    let bars = &loaded.bars;
    if let Some(k) = args.walk_forward {
        check_folds(k, bars.len())?;
    }
    let request = BacktestRequest {
        source: &source,
        bars,
        capital: args.market.capital,
        costs,
        bars_per_year: loaded.bars_per_year,
        strategy_id,
        family: family.clone(),
        data: &args.market.data,
    };
    let done = backtest(root, &dir, &request).await?;
    let (result, baseline, trials, trap) = (&done.result, &done.baseline, done.trials, &done.trap);
    if let Some(path) = &args.equity_out {
        write_equity(result, path)?;
    }
    if let Some(path) = &args.trades_out {
        write_trades(result, bars, path)?;
    }
    let implausible = metrics::implausible(&result.metrics, done.bars_per_year);
    if let Some(path) = &args.report {
        write_report(
            &Report {
                strategy: &args.strategy,
                data: &args.market.data,
                bars: &bars[..done.bars],
                result,
                baseline,
                calendar: loaded.calendar.as_str(),
                bars_per_year: done.bars_per_year,
                costs,
                capital: args.market.capital,
                implausible: implausible.as_deref(),
                book: None,
            },
            path,
        )?;
    }
    let when = |b: Option<&SandboxBar>| {
        b.map(|b| rfc3339_micros(b.timestamp * 1_000_000))
            .unwrap_or_default()
    };
    let (folds, out_of_sample) = match args.walk_forward {
        Some(k) => walk_forward(
            &bars[..done.bars],
            &[done.orders.as_slice()],
            k,
            args.market.capital,
            costs,
            done.bars_per_year,
            trials,
        ),
        None => (Vec::new(), None),
    };
    let timings = Timings {
        before_first_bar_ms: crate::STARTED
            .get()
            .map(|s| done.first_bar_at.duration_since(*s).as_secs_f64() * 1e3)
            .unwrap_or(f64::NAN),
        run_ms: done.run_time.as_secs_f64() * 1e3,
        bars_per_second: done.bars as f64 / done.run_time.as_secs_f64().max(1e-9),
    };
    if args.json {
        print_json(&BacktestJson {
            strategy: &args.strategy,
            data: &args.market.data,
            bars: done.bars,
            first_bar: when(bars.first()),
            last_bar: when(bars.get(done.bars.saturating_sub(1))),
            bars_per_year: done.bars_per_year,
            calendar: loaded.calendar.as_str(),
            calendar_inferred: loaded.calendar_inferred,
            costs,
            capital: args.market.capital,
            metrics: &result.metrics,
            buy_and_hold: &baseline.metrics,
            fills: result.fills.len(),
            trap: trap.clone(),
            liquidated: result.liquidated,
            implausible: implausible.clone(),
            family: family.clone(),
            trials,
            timings: args.timings.then_some(timings),
            folds: folds.clone(),
            out_of_sample: out_of_sample.clone(),
        })?;
    } else {
        let m = &result.metrics;
        say!(
            "{} bars of {} ({} → {}), {} fills",
            done.bars,
            args.market.data,
            when(bars.first()),
            when(bars.last()),
            result.fills.len()
        );
        say!(
            "calendar       {:>9}     ({}; annualised with {} bars a year)",
            loaded.calendar.as_str(),
            if loaded.calendar_inferred {
                "inferred"
            } else {
                "given"
            },
            done.bars_per_year
        );
        say!(
            "total return   {:>9.2} %   (buy and hold {:.2} %)",
            m.total_return * 100.0,
            baseline.metrics.total_return * 100.0
        );
        // Annualised figures need a window that can carry them; ∞ is said as such.
        let annualised = |v: f64| {
            if m.bars < metrics::MIN_BARS_TO_ANNUALISE {
                format!("n/a ({} bars)", m.bars)
            } else if v.is_infinite() {
                if v > 0.0 { "∞" } else { "-∞" }.to_string()
            } else {
                format!("{v:.3}")
            }
        };
        say!(
            "sharpe         {:>9}     (buy and hold {})",
            annualised(m.sharpe),
            annualised(baseline.metrics.sharpe)
        );
        say!("sortino        {:>9}", annualised(m.sortino));
        say!("max drawdown   {:>9.2} %", m.max_drawdown * 100.0);
        say!("calmar         {:>9}", annualised(m.calmar));
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
            "PSR            {:>9}     DSR {} over {trials} trial(s) of {family}",
            show(m.probabilistic_sharpe),
            show(m.deflated_sharpe)
        );
        if let Some(t) = &trap {
            say!("stopped early: {t}");
        }
        if let Some(why) = &implausible {
            say!("IMPLAUSIBLE    {why}");
        }
        if let Some(l) = &result.liquidated {
            say!(
                "LIQUIDATED     equity reached zero at {} (bar {}, price {:.2}); the run stopped there",
                rfc3339_micros(l.timestamp * 1_000_000),
                l.bar,
                l.price
            );
        }
        for f in &folds {
            say!(
                "fold {}: in sample [0, {}) sharpe {:.3}; out of sample [{}, {}) sharpe {:.3}, return {:.2} %, max drawdown {:.2} %",
                f.fold,
                f.train_end,
                f.train_sharpe,
                f.train_end,
                f.test_end,
                f.test.sharpe,
                f.test.total_return * 100.0,
                f.test.max_drawdown * 100.0
            );
        }
        if let Some(o) = &out_of_sample {
            say!(
                "out of sample  {} bars: sharpe {:.3} (in sample {:.3}), return {:.2} %",
                o.bars,
                o.sharpe,
                o.mean_train_sharpe,
                o.total_return * 100.0
            );
        }
        if args.timings {
            say!(
                "timings        {:.1} ms before the first bar, {:.1} ms over the bars ({:.0} bars/s)",
                timings.before_first_bar_ms,
                timings.run_ms,
                timings.bars_per_second
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct LegJson<'a> {
    series: &'a str,
    bars: usize,
    dropped: usize,
    #[serde(flatten)]
    summary: stratagem_actors::stages::legs::LegSummary,
}

#[derive(Serialize)]
struct LegsJson<'a> {
    strategy: &'a str,
    legs: Vec<LegJson<'a>>,
    steps: usize,
    first_step: String,
    last_step: String,
    capital: f64,
    capital_per_leg: f64,
    costs: CostModel,
    metrics: &'a StageMetrics,
    exposure: &'a stratagem_actors::stages::legs::BookExposure,
    final_equity: f64,
    fills: usize,
    trap: Option<String>,
    family: String,
    trials: u64,
}

/// The funding rates `--funding` names: `store:VENUE/SYMBOL` or a file.
fn funding_rates(
    root: &Path,
    spec: &str,
) -> anyhow::Result<Vec<stratagem_actors::bars::funding::FundingRate>> {
    if let Some(stored) = spec.strip_prefix("store:") {
        let (venue, symbol) = stored.split_once('/').unwrap_or(("", stored));
        let Some(venue) = stratagem_actors::bars::Venue::parse(venue) else {
            bail!("--funding {spec:?}: give store:binance/SYMBOL");
        };
        let rates = stratagem_actors::bars::BarStore::new(root).funding(venue, symbol)?;
        if rates.is_empty() {
            bail!("the store has no funding rates of {symbol} (`stratagem data funding --symbol {symbol} --since …` first)");
        }
        return Ok(rates);
    }
    let text = std::fs::read_to_string(spec)
        .map_err(|e| anyhow::anyhow!("cannot read funding rates from {spec}: {e}"))?;
    stratagem_actors::bars::funding::parse(&text)
        .map_err(|e| anyhow::anyhow!("{spec} is not a usable funding file: {e}"))
}

/// `backtest --legs A,B`: a strategy over several series.
#[allow(clippy::too_many_arguments)]
async fn run_legs(
    root: &Path,
    dir: &DataDir,
    args: &BacktestArgs,
    legs: &str,
    source: &str,
    costs: CostModel,
    strategy_id: Option<uuid::Uuid>,
    family: String,
) -> anyhow::Result<ExitCode> {
    if args.walk_forward.is_some() {
        bail!("--walk-forward takes one series; with --legs give --equity-out, --trades-out and --report");
    }
    let names: Vec<String> = legs
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if names.len() < 2 {
        bail!("--legs {legs:?} names fewer than two series: give each leg's bars, comma-separated");
    }
    let mut loaded = Vec::new();
    for name in &names {
        let market = MarketArgs {
            data: name.clone(),
            ..args.market.clone()
        };
        loaded.push(bars(root, &market)?);
    }
    let funding = match &args.funding {
        None => Vec::new(),
        Some(spec) => vec![funding_rates(root, spec)?],
    };
    let done = backtest_legs(
        root,
        dir,
        source,
        &loaded,
        &names,
        args.market.capital,
        costs,
        strategy_id,
        family.clone(),
        &funding,
    )
    .await?;
    let r = &done.result;
    let exposure = r.exposure(&done.aligned);
    let summaries = r.summaries();
    if let Some(path) = &args.equity_out {
        write_curve(&r.equity, path)?;
    }
    if let Some(path) = &args.trades_out {
        write_leg_fills(r, &names, path)?;
    }
    if let Some(path) = &args.report {
        // The portfolio's tear sheet: its summed equity against each leg bought and held with
        // its share, every leg's round trips.
        let steps = done.steps.min(done.aligned.steps());
        let bars_per_year = done.bars_per_year;
        let baseline = stratagem_actors::stages::legs::buy_and_hold_legs(
            &done.aligned,
            steps,
            args.market.capital,
            costs,
            (bars_per_year, &funding),
        );
        let portfolio = r.portfolio();
        let label = format!("{} (legs, aligned by time)", names.join(" + "));
        let implausible = metrics::implausible(&r.metrics, bars_per_year);
        write_report(
            &Report {
                strategy: &args.strategy,
                data: &label,
                bars: &done.aligned.legs[0][..steps],
                result: &portfolio,
                baseline: &baseline,
                calendar: loaded[0].calendar.as_str(),
                bars_per_year,
                costs,
                capital: args.market.capital,
                implausible: implausible.as_deref(),
                book: Some(BookSection {
                    names: &names,
                    legs: &summaries,
                    exposure: &exposure,
                }),
            },
            path,
        )?;
    }
    let when = |t: Option<i64>| t.map(|t| rfc3339_micros(t * 1_000_000)).unwrap_or_default();
    let steps = &done.aligned.legs[0][..done.steps.min(done.aligned.steps())];
    let per_leg: Vec<LegJson> = summaries
        .iter()
        .enumerate()
        .map(|(k, summary)| LegJson {
            series: &names[k],
            bars: loaded[k].bars.len(),
            dropped: done.aligned.dropped[k],
            summary: *summary,
        })
        .collect();
    let final_equity = r.equity.last().map_or(args.market.capital, |(_, e)| *e);
    if args.json {
        print_json(&LegsJson {
            strategy: &args.strategy,
            legs: per_leg,
            steps: done.steps,
            first_step: when(steps.first().map(|b| b.timestamp)),
            last_step: when(steps.last().map(|b| b.timestamp)),
            capital: args.market.capital,
            capital_per_leg: r.capital_per_leg,
            costs,
            metrics: &r.metrics,
            exposure: &exposure,
            final_equity,
            fills: r.fills.len(),
            trap: done.trap.clone(),
            family,
            trials: done.trials,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{} steps of {} series aligned by time ({} → {}), {} fills",
        done.steps,
        names.len(),
        when(steps.first().map(|b| b.timestamp)),
        when(steps.last().map(|b| b.timestamp)),
        r.fills.len()
    );
    for l in &per_leg {
        say!(
            "leg {:<28} {} bars ({} without a partner), {} fills, {} trades, fees {:.2}, funding paid {:.2} ({} payments), equity {:.2} ({:+.2} %)",
            l.series,
            l.bars,
            l.dropped,
            l.summary.fills,
            l.summary.trades,
            l.summary.fees,
            l.summary.funding_paid,
            l.summary.funding_payments,
            l.summary.final_equity,
            l.summary.total_return * 100.0
        );
    }
    say!(
        "exposure       net mean {:+.2} % (largest {:.2} %), gross mean {:.2} % (largest {:.2} %) of equity",
        exposure.net_mean * 100.0,
        exposure.net_max_abs * 100.0,
        exposure.gross_mean * 100.0,
        exposure.gross_max * 100.0
    );
    let m = &r.metrics;
    say!(
        "portfolio      equity {final_equity:.2} ({:+.2} %), sharpe {:.3}, max drawdown {:.2} %, {} trades",
        m.total_return * 100.0,
        m.sharpe,
        m.max_drawdown * 100.0,
        m.trades
    );
    if let Some(t) = &done.trap {
        say!("stopped early: {t}");
    }
    Ok(ExitCode::SUCCESS)
}
