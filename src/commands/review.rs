//! `stratagem review list | approve ID | reject ID --reason …`: the human checkpoint (the
//! workflow is `stratagem_actors::workflow::review`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::query::Page;
use stratagem_actors::workflow::read_api;
use stratagem_actors::workflow::review::{
    decide, reopen, reviewer, waiting_rows, Decided, Decision, WaitingRow,
};
use stratagem_actors::workflow::settings::Settings;

use super::{print_json, strategy_id};
use crate::cli::ReviewCommand;

pub async fn run(root: &Path, settings: &Settings, cmd: ReviewCommand) -> anyhow::Result<ExitCode> {
    let stages = settings.stages()?;
    let (id, approve, text, who) = match cmd {
        ReviewCommand::List(flags) => {
            let list: Vec<WaitingRow> = match DataDir::open(root) {
                Ok(dir) => waiting_rows(dir.projections()?.state(), &stages),
                // The daemon holds the log: it answers from its read models.
                Err(e) if e.is_locked() && read_api::running(root) => {
                    let page: Page<WaitingRow> =
                        serde_json::from_value(read_api::block_on_ask(root, "/v1/review")?)?;
                    page.items
                }
                Err(e) => return Err(e.into()),
            };
            if flags.json {
                print_json(&Page::all(list))?;
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
            ..
        } => (strategy, true, note.unwrap_or_default(), r),
        ReviewCommand::Reopen {
            strategy,
            reason,
            reviewer: r,
            json,
        } => {
            let id = strategy_id(&strategy)?;
            let line = reopen(root, id, &reviewer(r), &reason).await?;
            match json {
                true => print_json(&serde_json::json!({
                    "strategy_id": id,
                    "recorded": true,
                    "message": line,
                }))?,
                false => say!("{line}"),
            }
            return Ok(ExitCode::SUCCESS);
        }
        ReviewCommand::Reject {
            strategy,
            reason,
            reviewer: r,
            ..
        } => {
            if reason.trim().is_empty() {
                bail!("--reason is empty: say why it is rejected");
            }
            (strategy, false, reason, r)
        }
    };
    let id = strategy_id(&id)?;
    let reviewer = reviewer(who);
    let decision = Decision {
        strategy: id,
        approve,
        text,
        reviewer,
    };
    let (recorded, line) = match decide(root, &stages, &decision).await? {
        Decided::Recorded(line) => (true, line),
        Decided::HandedOver(file) => (false, format!(
            "the data directory is held by a running `stratagem run`: your decision is handed to it ({}) and recorded at its next cycle, if strategy {id} still waits for review then",
            file.display()
        )),
    };
    match crate::output::json() {
        true => print_json(&serde_json::json!({
            "strategy_id": id,
            "recorded": recorded,
            "message": line,
        }))?,
        false => say!("{line}"),
    }
    Ok(ExitCode::SUCCESS)
}
