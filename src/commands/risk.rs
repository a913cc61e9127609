//! `stratagem halt | reduce-only | resume`: the account's risk state (the workflow is
//! `stratagem_actors::workflow::risk`).

use std::path::Path;
use std::process::ExitCode;

use stratagem_actors::workflow::review::reviewer;
use stratagem_actors::workflow::risk::{change, Changed, RiskChange};
use stratagem_events::RiskState;

use super::print_json;
use crate::cli::RiskArgs;

pub async fn run(root: &Path, state: RiskState, args: RiskArgs) -> anyhow::Result<ExitCode> {
    if args.flatten && state != RiskState::Halted {
        anyhow::bail!("--flatten goes with `halt` only");
    }
    let wanted = RiskChange {
        state,
        reason: args.reason,
        by: reviewer(args.by),
        flatten: args.flatten,
    };
    let done = change(root, &wanted).await?;
    let (recorded, message) = match &done {
        Changed::Recorded(line) => (true, format!("trading is {line}")),
        Changed::HandedOver(file) => (
            false,
            format!(
                "handed to the running daemon ({}): recorded at its next cycle, honoured from the next bar",
                file.display()
            ),
        ),
    };
    if args.json {
        print_json(&serde_json::json!({
            "state": state.as_str(),
            "recorded": recorded,
            "message": message,
        }))?;
    } else {
        say!("{message}");
    }
    Ok(ExitCode::SUCCESS)
}
