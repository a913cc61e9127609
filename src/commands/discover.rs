//! `stratagem discover`: one discovery cycle, or `--watch` the source actors on their
//! intervals (the workflows are `stratagem_actors::workflow::discover`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use stratagem_actors::sources::SourceName;
use stratagem_actors::workflow::discover::{discover, mode, select, watch, Cycle};
use stratagem_actors::workflow::settings::Settings;

use super::print_json;

pub async fn run(
    root: &Path,
    settings: &Settings,
    source: Option<&str>,
    offline: Option<PathBuf>,
    watch_for: Option<Option<u64>>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let selected = select(source)?;
    let mode = mode(offline)?;
    let cycle = match watch_for {
        None => discover(root, settings, &selected, &mode).await?,
        Some(for_secs) => {
            let until = async move {
                match for_secs {
                    Some(s) => tokio::time::sleep(std::time::Duration::from_secs(s)).await,
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            };
            let panic_once = crate::chaos::hook("PANIC_SOURCE").and_then(|s| SourceName::parse(&s));
            watch(root, settings, selected, mode, panic_once, until).await?
        }
    };
    let code = report(&cycle, json)?;
    // Every source that was checked failed: nothing could be discovered (the network, say).
    let checked: Vec<_> = cycle
        .summaries
        .iter()
        .filter(|s| s.skipped.is_none())
        .collect();
    if !checked.is_empty() && checked.iter().all(|s| s.outcome == "failed") {
        crate::output::verdict(
            "unavailable",
            format!(
                "every source checked failed ({}): nothing was discovered; what was recorded before is unchanged",
                checked
                    .iter()
                    .map(|s| s.source.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        return Ok(ExitCode::from(69));
    }
    Ok(code)
}

fn report(cycle: &Cycle, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(cycle)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (regime, summaries) = (&cycle.regime, &cycle.summaries);
    let (rescored, resubmitted) = (cycle.rescored, cycle.resubmitted);
    say!("regime        {}", regime.reason);
    say!(
        "{:<10} {:>7} {:>5} {:>10} {:>9} {:>5} {:>6}",
        "source",
        "fetched",
        "new",
        "duplicates",
        "submitted",
        "held",
        "errors"
    );
    for s in summaries {
        match &s.skipped {
            Some(why) => say!("{:<10} {why}", s.source),
            None => say!(
                "{:<10} {:>7} {:>5} {:>10} {:>9} {:>5} {:>6}",
                s.source,
                s.fetched,
                s.new,
                s.duplicates,
                s.submitted,
                s.held,
                s.errors.len()
            ),
        }
        if s.outcome == "not_modified" {
            say!("  (not modified since the last check)");
        }
        for e in &s.errors {
            say!("  ! {e}");
        }
    }
    if rescored > 0 {
        say!("scored {rescored} waiting opportunities (held, or submitted by hand); {resubmitted} now submitted");
    }
    Ok(ExitCode::SUCCESS)
}
