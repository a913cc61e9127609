//! `stratagem review list | approve ID | reject ID --reason …`: the human checkpoint.
//!
//! A strategy waits for a person when its validation found only warnings (the seed's manual
//! review), or when `REQUIRE_APPROVAL_BEFORE` names the stage it is about to enter. It waits
//! across restarts: the waiting is read from the log, and the decision is an event.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use serde::Serialize;
use stratagem_actors::stages::runner::StageSettings;
use stratagem_events::projection::{StrategyStatus, StrategyView};
use stratagem_events::{AppendRequest, Event, Projections, ReviewApproved, ReviewRejected, Stage};
use uuid::Uuid;

use super::print_json;
use crate::cli::ReviewCommand;
use crate::data_dir::DataDir;
use crate::settings::stage_settings_from_env;

#[derive(Serialize)]
struct Waiting<'a> {
    strategy_id: Uuid,
    name: &'a str,
    /// `None`: the validator's manual review; else the stage it waits to enter.
    before_stage: Option<Stage>,
    why: String,
}

/// What a strategy waits for a person for, if anything.
pub fn waits_for(s: &StrategyView, settings: &StageSettings) -> Option<Option<Stage>> {
    match (s.status, s.stage) {
        (StrategyStatus::ManualReview, _) => Some(None),
        (StrategyStatus::Staged, Some(stage)) => {
            // FULL's own run done: it runs at full capital, nothing left to approve.
            let ran_full = stage == Stage::Full && s.last_completed_stage == Some(Stage::Full);
            let free = settings.approved_to_run(stage, &s.approved_stages);
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

/// Whether a decision waits in the inbox for the daemon to record it.
pub fn handoffs_waiting(root: &Path) -> bool {
    std::fs::read_dir(root.join(HANDOFF_DIR))
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false)
}

fn held_by_another_process(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<stratagem_events::StoreError>(),
            Some(stratagem_events::StoreError::Locked { .. })
        )
    })
}

/// Writes a decision for the daemon to record (atomically: a temporary file renamed).
fn hand_over(root: &Path, d: &Decision) -> anyhow::Result<std::path::PathBuf> {
    let folder = root.join(HANDOFF_DIR);
    std::fs::create_dir_all(&folder)
        .map_err(|e| anyhow!("cannot create {}: {e}", folder.display()))?;
    let name = format!("{}.json", Uuid::now_v7());
    let tmp = folder.join(format!(".{name}.tmp"));
    let file = folder.join(&name);
    std::fs::write(&tmp, serde_json::to_vec_pretty(d)?)
        .map_err(|e| anyhow!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &file).map_err(|e| anyhow!("cannot write {}: {e}", file.display()))?;
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
}

/// Records a decision on a waiting strategy; the line says what was recorded.
///
/// # Errors
/// When the strategy is unknown or not waiting for review, or the log cannot be written.
pub async fn record(
    dir: &DataDir,
    projections: &mut stratagem_events::projection::files::ProjectionFiles,
    settings: &StageSettings,
    d: &Decision,
) -> anyhow::Result<String> {
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
    projections: &mut stratagem_events::projection::files::ProjectionFiles,
    settings: &StageSettings,
) -> Vec<String> {
    let folder = root.join(HANDOFF_DIR);
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Vec::new();
    };
    let mut files: Vec<std::path::PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    let mut lines = Vec::new();
    for file in files {
        let decision = std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Decision>(&b).map_err(|e| e.to_string()));
        let line = match decision {
            Ok(d) => match record(dir, projections, settings, &d).await {
                Ok(line) => line,
                Err(e) if e.downcast_ref::<Refused>().is_some() => {
                    format!("handed-over decision {} not recorded: {e}", file.display())
                }
                // The log could not be written: leave the file for the next cycle.
                Err(e) => {
                    lines.push(format!(
                        "handed-over decision {} waits: {e:#}",
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

fn reviewer(given: Option<String>) -> String {
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

pub async fn run(root: &Path, cmd: ReviewCommand) -> anyhow::Result<ExitCode> {
    let settings = stage_settings_from_env()?;
    // A decision can be handed to a running daemon; a list needs the log.
    let opened = match DataDir::open(root) {
        Ok(dir) => {
            let projections = dir.projections()?;
            Some((dir, projections))
        }
        Err(e) if held_by_another_process(&e) && !matches!(cmd, ReviewCommand::List(_)) => None,
        Err(e) if held_by_another_process(&e) => bail!(
            "{e:#}\n`review list` reads the log, which a running `stratagem run` holds; `review approve` and `review reject` still work: they hand the decision to it"
        ),
        Err(e) => return Err(e),
    };
    let (id, approve, text, who) = match cmd {
        ReviewCommand::List(flags) => {
            let Some((_, projections)) = &opened else {
                unreachable!("a list opens the log or fails")
            };
            let list: Vec<Waiting> = waiting(projections.state(), &settings)
                .into_iter()
                .map(|(s, before)| Waiting {
                    strategy_id: s.id,
                    name: &s.name,
                    before_stage: before,
                    why: match before {
                        None => "validation found warnings only: a person decides".into(),
                        Some(st) => format!("REQUIRE_APPROVAL_BEFORE={}", st.as_str()),
                    },
                })
                .collect();
            if flags.json {
                print_json(&list)?;
            } else if list.is_empty() {
                say!("nothing waits for review");
            } else {
                for w in &list {
                    let what = w.before_stage.map_or("approval for COLD".to_string(), |s| {
                        format!("approval before {}", s.as_str().to_uppercase())
                    });
                    say!(
                        "{}  {:<32} waits for {what} ({})",
                        w.strategy_id,
                        w.name,
                        w.why
                    );
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        ReviewCommand::Approve {
            strategy,
            note,
            reviewer: r,
        } => (strategy, true, note.unwrap_or_default(), r),
        ReviewCommand::Reject {
            strategy,
            reason,
            reviewer: r,
        } => {
            if reason.trim().is_empty() {
                bail!("--reason is empty: say why it is rejected");
            }
            (strategy, false, reason, r)
        }
    };
    let id: Uuid = id
        .trim()
        .parse()
        .map_err(|_| anyhow!("{id:?} is not a strategy id (a UUID)"))?;
    let reviewer = reviewer(who);
    let decision = Decision {
        strategy: id,
        approve,
        text,
        reviewer,
    };
    let Some((dir, mut projections)) = opened else {
        // The daemon holds the log: hand the decision to it.
        let file = hand_over(root, &decision)?;
        say!(
            "the data directory is held by a running `stratagem run`: your decision is handed to it ({}) and recorded at its next cycle, if strategy {id} still waits for review then",
            file.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let line = record(&dir, &mut projections, &settings, &decision).await?;
    say!("{line}");
    Ok(ExitCode::SUCCESS)
}
