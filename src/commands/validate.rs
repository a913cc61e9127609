//! `stratagem validate FILE`: all six layers, fail-fast (the workflow is
//! `stratagem_actors::workflow::validate`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use stratagem_actors::workflow::settings::Settings;
use stratagem_actors::workflow::validate::validate_source;
use stratagem_events::Decision;

use super::print_json;
use stratagem_actors::workflow::compile::read_strategy;

pub async fn run(
    data_dir: &Path,
    settings: &Settings,
    path: &Path,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let source = read_strategy(path)?;
    let (report, known) = validate_source(data_dir, settings, &source)
        .await
        .with_context(|| format!("cannot validate {}", path.display()))?;
    if json {
        print_json(&report)?;
    } else {
        for layer in &report.layers {
            let verdict = if !layer.passed() {
                "FAILED"
            } else if layer.warnings.is_empty() {
                "passed"
            } else {
                "warnings"
            };
            say!(
                "layer {} {:<12} {:<8} {:>9.1} ms",
                layer.layer.number(),
                layer.layer.name(),
                verdict,
                layer.duration.as_secs_f64() * 1000.0
            );
            for (kind, list) in [("error", &layer.errors), ("warning", &layer.warnings)] {
                for f in list {
                    let line = f.line.map_or_else(String::new, |l| format!("line {l}: "));
                    say!("    {kind}: {line}{} ({})", f.message, f.code);
                }
            }
        }
        let verdict = match report.decision {
            Decision::Approved => "APPROVED for COLD",
            Decision::Rejected => "REJECTED",
            Decision::ManualReview => "MANUAL REVIEW",
        };
        say!(
            "decision: {verdict} ({}/6 layers passed; {})",
            report.layers_passed(),
            report.reason()
        );
        match known {
            Some(id) => say!("recorded in the log for strategy {id}"),
            None => say!("(not a generated strategy of this data directory: nothing recorded)"),
        }
    }
    Ok(match report.decision {
        Decision::Approved => ExitCode::SUCCESS,
        Decision::Rejected => {
            crate::output::verdict("rejected", report.reason());
            ExitCode::from(1)
        }
        Decision::ManualReview => {
            crate::output::verdict("manual_review", report.reason());
            ExitCode::from(2)
        }
    })
}
