//! `stratagem review list | approve ID | reject ID --reason …`: the human checkpoint (the
//! workflow is `stratagem_actors::workflow::review`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use serde::Serialize;
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::review::{hand_over, record, waiting, Decision};
use stratagem_actors::workflow::settings::Settings;
use stratagem_events::Stage;
use uuid::Uuid;

use super::print_json;
use crate::cli::ReviewCommand;

#[derive(Serialize)]
struct Waiting<'a> {
    strategy_id: Uuid,
    name: &'a str,
    /// `None`: the validator's manual review; else the stage it waits to enter.
    before_stage: Option<Stage>,
    why: String,
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

pub async fn run(root: &Path, settings: &Settings, cmd: ReviewCommand) -> anyhow::Result<ExitCode> {
    let stages = settings.stages()?;
    // A decision can be handed to a running daemon; a list needs the log.
    let opened = match DataDir::open(root) {
        Ok(dir) => {
            let projections = dir.projections()?;
            Some((dir, projections))
        }
        Err(e) if e.is_locked() && !matches!(cmd, ReviewCommand::List(_)) => None,
        Err(e) if e.is_locked() => bail!(
            "{e}\n`review list` reads the log, which a running `stratagem run` holds; `review approve` and `review reject` still work: they hand the decision to it"
        ),
        Err(e) => return Err(e.into()),
    };
    let (id, approve, text, who) = match cmd {
        ReviewCommand::List(flags) => {
            let Some((_, projections)) = &opened else {
                unreachable!("a list opens the log or fails")
            };
            let list: Vec<Waiting> = waiting(projections.state(), &stages)
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
    let line = record(&dir, &mut projections, &stages, &decision).await?;
    say!("{line}");
    Ok(ExitCode::SUCCESS)
}
