//! `stratagem sweep`: a template over a grid of its parameters (the workflow is
//! `stratagem_actors::workflow::sweep`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use serde::Serialize;
use stratagem_actors::generator::templates;
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::sweep::{grid, sweep, SweepDone, SweepRequest};

use super::backtest::{bars, costs};
use super::print_json;
use crate::cli::SweepArgs;

#[derive(Serialize)]
struct SweepJson<'a> {
    template: &'a str,
    data: &'a str,
    bars: usize,
    bars_per_year: f64,
    calendar: &'static str,
    #[serde(flatten)]
    done: &'a SweepDone,
}

pub async fn run(root: &Path, args: SweepArgs) -> anyhow::Result<ExitCode> {
    let Some(spec) = templates::find(&args.template) else {
        let names: Vec<&str> = templates::TEMPLATES.iter().map(|t| t.name).collect();
        bail!(
            "no template {:?} (there are {})",
            args.template,
            names.join(", ")
        );
    };
    let costs = costs(&args.market)?;
    let points = grid(spec, &args.params)?;
    let loaded = bars(root, &args.market)?;
    let dir = DataDir::open(root)?;
    let request = SweepRequest {
        template: spec,
        grid: points,
        bars: &loaded.bars,
        capital: args.market.capital,
        costs,
        bars_per_year: loaded.bars_per_year,
        data: &args.market.data,
        walk_forward: args.walk_forward,
    };
    let done = sweep(root, &dir, &request).await?;
    if args.json {
        print_json(&SweepJson {
            template: spec.name,
            data: &args.market.data,
            bars: loaded.bars.len(),
            bars_per_year: loaded.bars_per_year,
            calendar: loaded.calendar.as_str(),
            done: &done,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{} over {} bars of {} ({} point(s); DSR over {} trial(s) of {})",
        spec.name,
        loaded.bars.len(),
        args.market.data,
        done.points.len(),
        done.trials,
        done.family
    );
    let show = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"));
    let mut order: Vec<usize> = (0..done.points.len()).collect();
    order.sort_by(|a, b| {
        done.points[*b]
            .metrics
            .sharpe
            .total_cmp(&done.points[*a].metrics.sharpe)
    });
    for i in order {
        let p = &done.points[i];
        let params: Vec<String> = p.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        say!(
            "  #{i:<3} {:<40} sharpe {:>8.3}  DSR {:>6}  return {:>8.2} %  max dd {:>6.2} %  trades {}{}",
            params.join(" "),
            p.metrics.sharpe,
            show(p.metrics.deflated_sharpe),
            p.metrics.total_return * 100.0,
            p.metrics.max_drawdown * 100.0,
            p.metrics.trades,
            p.trap
                .as_ref()
                .map(|t| format!("  (stopped: {t})"))
                .unwrap_or_default()
        );
    }
    for s in &done.skipped {
        let params: Vec<String> = s.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        say!("  skipped {}: {}", params.join(" "), s.reason);
    }
    for f in &done.folds {
        say!(
            "fold {}: chosen #{} on bars [0, {}) (sharpe {:.3}), measured on [{}, {}): sharpe {:.3}, return {:.2} %",
            f.fold,
            f.chosen,
            f.train_end,
            f.train_sharpe,
            f.train_end,
            f.test_end,
            f.test.sharpe,
            f.test.total_return * 100.0
        );
    }
    if let Some(o) = &done.out_of_sample {
        say!(
            "out of sample: {} bars, sharpe {:.3} (chosen at {:.3} in sample), return {:.2} %",
            o.bars,
            o.sharpe,
            o.mean_train_sharpe,
            o.total_return * 100.0
        );
    }
    Ok(ExitCode::SUCCESS)
}
