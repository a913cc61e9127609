//! `stratagem stage STRATEGY_ID cold|warm|limited|full`: runs a stage now, offline (the
//! workflow is `stratagem_actors::workflow::stage`).

use std::path::Path;
use std::process::ExitCode;

use stratagem_actors::workflow::settings::Settings;
use stratagem_actors::workflow::stage::{next, run_now};
use stratagem_events::Stage;

use super::print_json;
use crate::cli::StageArg;

pub async fn run(
    root: &Path,
    settings: &Settings,
    strategy: &str,
    stage: StageArg,
    speed: Option<f64>,
    feed: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let stage = match stage {
        StageArg::Cold => Stage::Cold,
        StageArg::Warm => Stage::Warm,
        StageArg::Limited => Stage::Limited,
        StageArg::Full => Stage::Full,
    };
    let id = super::strategy_id(strategy)?;
    let run = run_now(root, settings, id, stage, speed, feed).await?;
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
            // The window judged: a paper stage extended for evidence is longer than planned.
            outcome.window.end - outcome.window.start,
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
        if let Some(p) = &outcome.parity {
            say!(
                "  parity with the backtest: {}",
                stratagem_actors::stages::parity::summary(p)
            );
        }
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
        crate::output::verdict(
            "rejected",
            format!(
                "rejected at {}: {}",
                stage.as_str().to_uppercase(),
                outcome.trap.as_ref().map_or_else(
                    || format!("gate not met: {}", outcome.gate),
                    |t| format!("stopped by the sandbox: {t}")
                )
            ),
        );
        ExitCode::FAILURE
    })
}
