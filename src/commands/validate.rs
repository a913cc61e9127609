//! `stratagem validate FILE`: all six layers, fail-fast.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use stratagem_actors::market;
use stratagem_actors::validator::integration::IntegrationRules;
use stratagem_actors::validator::sandbox::compile::CompileLimits;
use stratagem_actors::validator::sandbox::runtime::{RiskLimits, SandboxLimits};
use stratagem_actors::validator::sandbox::SandboxLayer;
use stratagem_actors::validator::{ValidationReport, Validator};
use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::{AppendRequest, Decision, Event, ValidationDecided, ValidationStarted};
use uuid::Uuid;

use super::print_json;
use super::scan::read_strategy;
use crate::data_dir::DataDir;
use crate::notifications::Notifications;

/// Bars layer 6 runs a strategy over: the most recent of the embedded hourly file.
pub const VALIDATION_BARS: usize = 1000;

/// Reads a boolean setting of the seed (`1`/`true`/`yes` or `0`/`false`/`no`).
pub fn env_flag(key: &str) -> anyhow::Result<bool> {
    match crate::config::var(key) {
        Err(std::env::VarError::NotPresent) => Ok(false),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{key} is not valid text"),
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "" | "0" | "false" | "no" | "off" => Ok(false),
            other => bail!("{key}={other:?} is not a boolean (use 1 or 0)"),
        },
    }
}

/// `VALIDATOR_SANDBOX_TIMEOUT_SECONDS`, default 30, between 1 and 3600.
pub fn sandbox_timeout() -> anyhow::Result<Duration> {
    let key = "VALIDATOR_SANDBOX_TIMEOUT_SECONDS";
    match crate::config::var(key) {
        Err(_) => Ok(SandboxLimits::default().timeout),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(s) if (1..=3600).contains(&s) => Ok(Duration::from_secs(s)),
            _ => bail!("{key}={v:?} is not a number of seconds between 1 and 3600"),
        },
    }
}

/// The six-layer validator with the seed's settings from the environment.
pub fn validator_from_env(data_dir: &Path) -> anyhow::Result<Validator> {
    let rules = IntegrationRules {
        require_error_handling: env_flag("VALIDATOR_REQUIRE_ERROR_HANDLING")?,
        require_logging: env_flag("VALIDATOR_REQUIRE_LOGGING")?,
    };
    let limits = SandboxLimits {
        timeout: sandbox_timeout()?,
        ..SandboxLimits::default()
    };
    let sandbox = SandboxLayer::new(
        data_dir.join("cache"),
        CompileLimits::default(),
        limits,
        RiskLimits::default(),
    )?;
    let all = market::embedded_hourly();
    let bars = all[all.len().saturating_sub(VALIDATION_BARS)..].to_vec();
    Ok(Validator {
        rules,
        sandbox,
        bars,
    })
}

pub async fn run(data_dir: &Path, path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let source = read_strategy(path)?;
    let validator = validator_from_env(data_dir)?;
    let mut notifications = Notifications::from_env()?;
    // A strategy the log knows (by its hash) gets its validation recorded: started first
    // (write-ahead), then every layer and the decision in one batch.
    let dir = DataDir::open(data_dir)?;
    let mut projections = dir.projections()?;
    let sha256 = stratagem_actors::generator::sha256_hex(&source);
    let known = projections
        .state()
        .strategies
        .values()
        .find(|s| s.sha256 == sha256)
        .map(|s| s.id);
    let report = validate_and_record(
        &dir,
        &mut projections,
        &mut notifications,
        &validator,
        &source,
        known,
    )
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
        Decision::Rejected => ExitCode::from(1),
        Decision::ManualReview => ExitCode::from(2),
    })
}

/// Validates a source; for a strategy the log knows, records the start first (write-ahead),
/// then every layer and the decision in one batch, then notifies.
pub async fn validate_and_record(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    notifications: &mut Notifications,
    validator: &Validator,
    source: &str,
    known: Option<Uuid>,
) -> anyhow::Result<ValidationReport> {
    if let Some(strategy_id) = known {
        record_started(dir, projections, strategy_id, source).await?;
    }
    let report = validator.validate(source)?;
    if let Some(strategy_id) = known {
        record_report(dir, projections, notifications, strategy_id, &report).await?;
    }
    Ok(report)
}

/// Records that the validation of a strategy began (write-ahead: before any layer runs).
pub async fn record_started(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    strategy_id: Uuid,
    source: &str,
) -> anyhow::Result<()> {
    dir.append(
        projections,
        AppendRequest::one(ValidationStarted {
            strategy_id,
            sha256: stratagem_actors::generator::sha256_hex(source),
        }),
    )
    .await?;
    Ok(())
}

/// Records every layer of a validation and its decision in one batch, then notifies.
pub async fn record_report(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    notifications: &mut Notifications,
    strategy_id: Uuid,
    report: &ValidationReport,
) -> anyhow::Result<()> {
    let mut events: Vec<Event> = report
        .layers
        .iter()
        .map(|l| Event::from(l.to_event(strategy_id)))
        .collect();
    events.push(Event::from(ValidationDecided {
        strategy_id,
        decision: report.decision,
        layers_passed: report.layers_passed(),
        reason: report.reason(),
    }));
    dir.append(projections, AppendRequest::new(events.clone()))
        .await?;
    notifications.after(dir, projections, &events).await;
    Ok(())
}
