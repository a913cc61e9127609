//! The human checkpoint's workflow. A strategy waits for a person when its validation found
//! only warnings (the seed's manual review), or when `REQUIRE_APPROVAL_BEFORE` names the stage
//! it is about to enter. It waits across restarts: the waiting is read from the log, and the
//! decision is an event. While a daemon holds the log, a decision is handed to it as a file in
//! `DATA_DIR/review-inbox/` and recorded at its next cycle.

use std::path::{Path, PathBuf};

use serde::Serialize;
use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::projection::{StrategyStatus, StrategyView};
use stratagem_events::{AppendRequest, Event, Projections, ReviewApproved, ReviewRejected, Stage};
use uuid::Uuid;

use super::data_dir::DataDir;
use super::{Result, WorkflowError};
use crate::stages::runner::StageSettings;

/// What a strategy waits for a person for, if anything.
pub fn waits_for(s: &StrategyView, settings: &StageSettings) -> Option<Option<Stage>> {
    match (s.status, s.stage) {
        (StrategyStatus::ManualReview, _) => Some(None),
        (StrategyStatus::Staged, Some(stage)) => {
            // FULL's own run done: it runs at full capital, nothing left to approve.
            let ran_full = stage == Stage::Full && s.last_completed_stage == Some(Stage::Full);
            let held = s.held.as_ref().map(|h| h.0);
            let free = settings.approved_to_run(stage, s.mode, &s.approved_stages, held);
            (!free && !ran_full).then_some(Some(stage))
        }
        _ => None,
    }
}

/// A person's decision on a waiting strategy.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Decision {
    /// The strategy.
    pub strategy: Uuid,
    /// Approve, or reject.
    pub approve: bool,
    /// The note (approval) or the reason (rejection).
    pub text: String,
    /// Who decided.
    pub reviewer: String,
}

/// Where decisions wait for a running daemon: `DATA_DIR/review-inbox/`.
pub const HANDOFF_DIR: &str = "review-inbox";

/// Whether a decision (a review, or a risk state: `risk-inbox/`) waits for the daemon to
/// record it.
pub fn handoffs_waiting(root: &Path) -> bool {
    [HANDOFF_DIR, super::risk::HANDOFF_DIR].iter().any(|d| {
        std::fs::read_dir(root.join(d))
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false)
    })
}

/// Writes a decision for the daemon to record (atomically: a temporary file renamed).
///
/// # Errors
/// The folder or the file cannot be written.
pub fn hand_over(root: &Path, d: &Decision) -> Result<PathBuf> {
    hand_over_to(root, HANDOFF_DIR, d)
}

/// Writes `value` as a file of the inbox `folder` of `root` for the daemon to record
/// (atomically: a temporary file renamed; named by a UUID v7, so in the order written).
///
/// # Errors
/// The folder or the file cannot be written.
pub fn hand_over_to<T: Serialize>(root: &Path, folder: &str, value: &T) -> Result<PathBuf> {
    let folder = root.join(folder);
    std::fs::create_dir_all(&folder)
        .map_err(|e| WorkflowError::io(format!("cannot create {}", folder.display()), e))?;
    let name = format!("{}.json", Uuid::now_v7());
    let tmp = folder.join(format!(".{name}.tmp"));
    let file = folder.join(&name);
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| WorkflowError::refused(format!("cannot encode the decision: {e}")))?;
    std::fs::write(&tmp, bytes)
        .map_err(|e| WorkflowError::io(format!("cannot write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, &file)
        .map_err(|e| WorkflowError::io(format!("cannot write {}", file.display()), e))?;
    Ok(file)
}

/// Why a decision cannot be recorded, whatever happens to the log.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// No such strategy.
    #[error("no strategy {0} in the log")]
    Unknown(uuid::Uuid),
    /// It does not wait for a person.
    #[error("strategy {0} is not waiting for review (see `stratagem review list`)")]
    NotWaiting(uuid::Uuid),
    /// Only a retired or rejected strategy can be reopened.
    #[error("strategy {0} is {1}, not retired or rejected: there is nothing to reopen")]
    NotTerminal(uuid::Uuid, String),
}

/// Records a decision on a waiting strategy; the line says what was recorded.
///
/// # Errors
/// When the strategy is unknown or not waiting for review, or the log cannot be written.
pub async fn record(
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    settings: &StageSettings,
    d: &Decision,
) -> Result<String> {
    let id = d.strategy;
    let view = projections
        .state()
        .strategies
        .get(&id)
        .cloned()
        .ok_or(Refused::Unknown(id))?;
    let Some(before_stage) = waits_for(&view, settings) else {
        return Err(Refused::NotWaiting(id).into());
    };
    let event = if d.approve {
        Event::from(ReviewApproved {
            strategy_id: id,
            reviewer: d.reviewer.clone(),
            before_stage,
            note: d.text.clone(),
        })
    } else {
        Event::from(ReviewRejected {
            strategy_id: id,
            reviewer: d.reviewer.clone(),
            before_stage,
            reason: d.text.clone(),
        })
    };
    dir.append(projections, AppendRequest::one(event)).await?;
    let what = before_stage.map_or("for COLD".to_string(), |s| {
        format!("before {}", s.as_str().to_uppercase())
    });
    Ok(format!(
        "strategy {id} {} {what} by {}",
        if d.approve { "approved" } else { "rejected" },
        d.reviewer
    ))
}

/// Records the decisions handed over while the daemon held the log, oldest first, and removes
/// each file once it is recorded (or refused: a strategy no longer waiting, an unreadable
/// file). Returns a line for each.
pub async fn take_handoffs(
    root: &Path,
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    settings: &StageSettings,
) -> Vec<String> {
    let mut lines = Vec::new();
    for file in handed_over(root, HANDOFF_DIR) {
        let decision = std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Decision>(&b).map_err(|e| e.to_string()));
        let line = match decision {
            Ok(d) => match record(dir, projections, settings, &d).await {
                Ok(line) => line,
                Err(e) if matches!(e.root(), WorkflowError::Review(_)) => {
                    format!("handed-over decision {} not recorded: {e}", file.display())
                }
                // The log could not be written: leave the file for the next cycle.
                Err(e) => {
                    lines.push(format!(
                        "handed-over decision {} waits: {e}",
                        file.display()
                    ));
                    continue;
                }
            },
            Err(e) => format!(
                "handed-over decision {} is unreadable ({e}); removed",
                file.display()
            ),
        };
        if let Err(e) = std::fs::remove_file(&file) {
            tracing::warn!(file = %file.display(), error = %e, "cannot remove a handed-over decision");
        }
        lines.push(line);
    }
    lines
}

/// The files waiting in the inbox `folder` of `root`, oldest first.
pub fn handed_over(root: &Path, folder: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root.join(folder)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// A strategy waiting for a person, as `review list` shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct WaitingRow {
    /// The strategy.
    pub strategy_id: Uuid,
    /// Its file stem.
    pub name: String,
    /// `None`: the validator's manual review; else the stage it waits to enter.
    pub before_stage: Option<Stage>,
    /// Why it waits.
    pub why: String,
}

/// Every strategy waiting for a person, with why.
pub fn waiting_rows(p: &Projections, settings: &StageSettings) -> Vec<WaitingRow> {
    waiting(p, settings)
        .into_iter()
        .map(|(s, before)| WaitingRow {
            strategy_id: s.id,
            name: s.name.clone(),
            before_stage: before,
            why: match before {
                None => "validation found warnings only: a person decides".into(),
                Some(st) => format!("REQUIRE_APPROVAL_BEFORE={}", st.as_str()),
            },
        })
        .collect()
}

/// Every strategy waiting for a person.
pub fn waiting<'a>(
    p: &'a Projections,
    settings: &StageSettings,
) -> Vec<(&'a StrategyView, Option<Stage>)> {
    p.strategies
        .values()
        .filter_map(|s| waits_for(s, settings).map(|w| (s, w)))
        .collect()
}

/// What became of a person's decision.
#[derive(Debug, Clone)]
pub enum Decided {
    /// Recorded on the log: the line says what.
    Recorded(String),
    /// The log is held by a running daemon: handed to it in this file, recorded at its next
    /// cycle if the strategy still waits then.
    HandedOver(PathBuf),
}

/// Records a person's decision in the data directory `root`, or hands it to the daemon that
/// holds the log.
///
/// # Errors
/// A strategy unknown or not waiting ([`Refused`]); the log or the inbox cannot be written.
pub async fn decide(root: &Path, settings: &StageSettings, d: &Decision) -> Result<Decided> {
    match DataDir::open(root) {
        Ok(dir) => {
            let mut projections = dir.projections()?;
            record(&dir, &mut projections, settings, d)
                .await
                .map(Decided::Recorded)
        }
        Err(e) if e.is_locked() => hand_over(root, d).map(Decided::HandedOver),
        Err(e) => Err(e),
    }
}

/// Who decided: the name given, else the login, cleaned of control characters and cut to 64
/// characters; `operator` when there is none.
pub fn reviewer(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .map(|r| {
            r.chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        })
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "operator".into())
}

/// Whether a strategy is in a terminal state — retired, or rejected — which only
/// [`reopen`] leaves.
pub fn is_terminal(s: &StrategyView) -> bool {
    matches!(s.status, StrategyStatus::Retired | StrategyStatus::Rejected)
}

/// Lets a retired or rejected strategy back into the pipeline (`review reopen`): it waits for
/// validation again. The line says what was recorded.
///
/// # Errors
/// A strategy unknown or not terminal ([`Refused`]); an empty reason; the log cannot be
/// written.
pub async fn reopen(root: &Path, id: Uuid, reviewer: &str, reason: &str) -> Result<String> {
    if reason.trim().is_empty() {
        return Err(WorkflowError::refused(
            "--reason is empty: say why it is let back in",
        ));
    }
    let dir = DataDir::open(root)?;
    let mut projections = dir.projections()?;
    let view = projections
        .state()
        .strategies
        .get(&id)
        .ok_or(Refused::Unknown(id))?;
    if !is_terminal(view) {
        let now = view.status.as_str().to_string();
        return Err(Refused::NotTerminal(id, now).into());
    }
    let event = stratagem_events::ReviewReopened {
        strategy_id: id,
        reviewer: reviewer.to_string(),
        reason: reason.trim().to_string(),
    };
    dir.append(&mut projections, AppendRequest::one(event))
        .await?;
    Ok(format!(
        "strategy {id} reopened by {reviewer}: it waits for validation again"
    ))
}
