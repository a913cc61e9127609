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
    let dir = DataDir::open(root)?;
    let mut projections = dir.projections()?;
    let (id, approve, text, who) = match cmd {
        ReviewCommand::List(flags) => {
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
    let view = projections
        .state()
        .strategies
        .get(&id)
        .cloned()
        .ok_or_else(|| anyhow!("no strategy {id} in the log"))?;
    let Some(before_stage) = waits_for(&view, &settings) else {
        bail!("strategy {id} is not waiting for review (see `stratagem review list`)");
    };
    let reviewer = reviewer(who);
    let event = if approve {
        Event::from(ReviewApproved {
            strategy_id: id,
            reviewer: reviewer.clone(),
            before_stage,
            note: text,
        })
    } else {
        Event::from(ReviewRejected {
            strategy_id: id,
            reviewer: reviewer.clone(),
            before_stage,
            reason: text,
        })
    };
    dir.append(&mut projections, AppendRequest::one(event))
        .await?;
    let what = before_stage.map_or("for COLD".to_string(), |s| {
        format!("before {}", s.as_str().to_uppercase())
    });
    say!(
        "strategy {id} {} {what} by {reviewer}",
        if approve { "approved" } else { "rejected" }
    );
    Ok(ExitCode::SUCCESS)
}
