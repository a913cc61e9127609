//! A validation as the log records it: the start first (write-ahead: before any layer runs),
//! then every layer and the decision in one batch, then the notifications.

use crate::validator::sandbox::compile::Author;
use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::{AppendRequest, Event, ValidationDecided, ValidationStarted};
use uuid::Uuid;

use super::data_dir::DataDir;
use super::notifications::Notifications;
use super::{Result, WorkflowError};
use crate::validator::{Screened, ValidationReport, Validator};

/// The strategy of the log whose source this is (by its hash), if any.
pub fn known_strategy(projections: &ProjectionFiles, source: &str) -> Option<Uuid> {
    let sha256 = crate::generator::sha256_hex(source);
    projections
        .state()
        .strategies
        .values()
        .find(|s| s.sha256 == sha256)
        .map(|s| s.id)
}

/// Validates a source with the configured validator (`stratagem validate FILE`); a strategy the
/// log knows (by its hash) gets its validation recorded. Returns the report and that strategy.
///
/// # Errors
/// A bad setting; rustc or the log cannot be used.
pub async fn validate_source(
    root: &std::path::Path,
    settings: &super::settings::Settings,
    source: &str,
) -> Result<(ValidationReport, Option<Uuid>)> {
    let validator = settings.validator(root)?;
    let mut notifications = Notifications::from_settings(settings)?;
    let dir = DataDir::open(root)?;
    let mut projections = dir.projections()?;
    let known = known_strategy(&projections, source);
    // Retired and rejected are terminal: their validation is not recorded again.
    if let Some(view) = known.and_then(|id| projections.state().strategies.get(&id)) {
        if super::review::is_terminal(view) {
            return Err(WorkflowError::refused(format!(
                "strategy {} is {}: its validation is not recorded again and it stays out of the pipeline; `stratagem review reopen {} --reason …` lets it back in",
                view.id,
                view.status.as_str(),
                view.id
            )));
        }
    }
    let report = validate_and_record(
        &dir,
        &mut projections,
        &mut notifications,
        &validator,
        source,
        known,
    )
    .await?;
    notifications.finish(&dir, &mut projections).await;
    Ok((report, known))
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
) -> Result<ValidationReport> {
    if let Some(strategy_id) = known {
        record_started(dir, projections, strategy_id, source).await?;
    }
    let author = Author::of_recorded(projections.state(), known);
    let report = validator.validate(source, author)?;
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
) -> Result<()> {
    dir.append(
        projections,
        AppendRequest::one(ValidationStarted {
            strategy_id,
            sha256: crate::generator::sha256_hex(source),
        }),
    )
    .await?;
    Ok(())
}

/// Records what layers 1–5 found in one batch — and the decision when they decided (a layer
/// failed) — then notifies. Once layer 5 passed is on the log, the strategy is screened: layer 6
/// is what is left.
///
/// # Errors
/// The log cannot be appended to.
pub async fn record_screened(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    notifications: &mut Notifications,
    strategy_id: Uuid,
    screened: &Screened,
) -> Result<()> {
    let report = match screened {
        Screened::Decided(report) => report,
        Screened::Passed { layers, .. } => {
            let events: Vec<Event> = layers
                .iter()
                .map(|l| Event::from(l.to_event(strategy_id)))
                .collect();
            dir.append(projections, AppendRequest::new(events)).await?;
            return Ok(());
        }
    };
    record_report(dir, projections, notifications, strategy_id, report).await
}

/// Records the layers of a validation not yet on the log (all of them; layer 6 alone once the
/// strategy is screened) and its decision in one batch, then notifies.
pub async fn record_report(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    notifications: &mut Notifications,
    strategy_id: Uuid,
    report: &ValidationReport,
) -> Result<()> {
    let remote = super::remote::RemoteReport::of(report, strategy_id, "");
    record_remote(dir, projections, notifications, strategy_id, &remote, None).await
}

/// Records a validation's result as a worker stored it (see [`super::remote`]); the layers
/// screened already are not recorded twice. `job`: the worker's job id, the append's
/// idempotency key (a result recorded once however often it is handed over).
///
/// # Errors
/// The log's.
pub async fn record_remote(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    notifications: &mut Notifications,
    strategy_id: Uuid,
    report: &super::remote::RemoteReport,
    job: Option<&str>,
) -> Result<()> {
    let screened = projections
        .state()
        .strategies
        .get(&strategy_id)
        .is_some_and(|s| s.screened);
    let mut events: Vec<Event> = report
        .layers
        .iter()
        .filter(|l| !screened || l.layer > 5)
        .cloned()
        .map(Event::from)
        .collect();
    events.push(Event::from(ValidationDecided {
        strategy_id,
        decision: report.decision,
        layers_passed: report.layers_passed,
        reason: report.reason.clone(),
    }));
    let mut request = AppendRequest::new(events.clone());
    if let Some(job) = job {
        request = request.idempotent(format!("job:{job}"));
    }
    let ack = dir.append(projections, request).await?;
    if !ack.deduplicated {
        notifications.after(dir, projections, &events).await;
    }
    Ok(())
}
