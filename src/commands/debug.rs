//! `stratagem debug …`: hidden helpers for the crash tests.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use stratagem_events::{AppendRequest, Event, OpportunityDiscovered, Parameter};
use uuid::Uuid;

use crate::cli::DebugCommand;
use stratagem_actors::workflow::data_dir::DataDir;

pub async fn run(root: &Path, cmd: DebugCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DebugCommand::AppendLoad { batches, max_batch } => {
            append_load(root, batches, max_batch.max(1)).await
        }
    }
}

/// Appends `batches` batches of 1..=max_batch synthetic opportunities. Each event's external id
/// is `batch:index:size`, so a reader can check that every batch is whole. After each durable
/// append it prints `ack BATCH FIRST LAST`, then updates the projections.
async fn append_load(root: &Path, batches: u64, max_batch: u64) -> anyhow::Result<ExitCode> {
    let dir = DataDir::open(root)?;
    let mut projections = dir.projections()?;
    let run = Uuid::now_v7();
    let mut stdout = std::io::stdout().lock();
    for b in 0..batches {
        let size = b % max_batch + 1;
        let events: Vec<Event> = (0..size)
            .map(|i| {
                Event::from(OpportunityDiscovered {
                    opportunity_id: Uuid::now_v7(),
                    source: "load".into(),
                    external_id: Some(format!("{b}:{i}:{size}")),
                    title: format!("load batch {b} event {i} of {size}").into(),
                    hypothesis: "synthetic event of the crash test"
                        .repeat(1 + (i as usize % 4))
                        .into(),
                    url: None,
                    family: Some("momentum".into()),
                    asset_class: None,
                    timeframe: None,
                    parameters: vec![Parameter {
                        name: "lookback".into(),
                        value: b as f64,
                    }],
                    stated_sharpe: None,
                    template: None,
                    parent_strategy_id: None,
                })
            })
            .collect();
        let request = AppendRequest::new(events).idempotent(format!("load-{run}-{b}"));
        let ack = dir.append(&mut projections, request).await?;
        writeln!(stdout, "ack {b} {} {}", ack.first_seq, ack.last_seq)?;
        stdout.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}
