//! `stratagem discover`: one discovery cycle, or `--watch` the source actors on their
//! intervals (the workflows are `stratagem_actors::workflow::discover`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use serde::Serialize;
use stratagem_actors::discovery::CheckSummary;
use stratagem_actors::scorer::regime::RegimeReading;
use stratagem_actors::sources::check::Mode;
use stratagem_actors::sources::SourceName;
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::discover::{cycle, watch};
use stratagem_actors::workflow::notifications::Notifications;
use stratagem_actors::workflow::settings::Settings;

use super::print_json;

#[derive(Serialize)]
struct DiscoverJson<'a> {
    mode: String,
    regime: &'a RegimeReading,
    sources: &'a [CheckSummary],
    rescored: u32,
    resubmitted: u32,
}

pub async fn run(
    root: &Path,
    settings: &Settings,
    source: Option<&str>,
    offline: Option<PathBuf>,
    watch_for: Option<Option<u64>>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let selected: Vec<SourceName> = match source {
        None => SourceName::ALL.to_vec(),
        Some(name) => match SourceName::parse(name) {
            Some(s) => vec![s],
            None => bail!(
                "unknown source {name:?}: one of {}",
                SourceName::ALL.map(|s| s.as_str()).join(", ")
            ),
        },
    };
    let (config, scorer) = settings.discovery(root)?;
    let mode = match offline {
        None => Mode::Online,
        Some(dir) => {
            if !dir.is_dir() {
                bail!("--offline {}: no such folder (it should hold one folder per source: arxiv/, reddit/, …)", dir.display());
            }
            Mode::Offline(dir)
        }
    };
    let mut notifications = Notifications::from_settings(settings)?;
    if let Some(for_secs) = watch_for {
        let until = async move {
            match for_secs {
                Some(s) => tokio::time::sleep(std::time::Duration::from_secs(s)).await,
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        let panic_once = crate::chaos::hook("PANIC_SOURCE").and_then(|s| SourceName::parse(&s));
        let (summaries, regime) = watch(
            root,
            selected,
            config,
            scorer,
            mode.clone(),
            Notifications::notify(settings)?,
            panic_once,
            until,
        )
        .await?;
        return report(&mode, &regime, &summaries, 0, 0, json);
    }
    let dir = DataDir::open(root)?;
    let mut projections = dir.projections()?;
    let cycle = cycle(
        root,
        &dir,
        &mut projections,
        &mut notifications,
        &selected,
        &config,
        scorer,
        &mode,
    )
    .await?;
    report(
        &mode,
        &cycle.regime,
        &cycle.summaries,
        cycle.rescored,
        cycle.resubmitted,
        json,
    )
}

pub fn report(
    mode: &Mode,
    regime: &RegimeReading,
    summaries: &[CheckSummary],
    rescored: u32,
    resubmitted: u32,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if json {
        print_json(&DiscoverJson {
            mode: match &mode {
                Mode::Online => "online".into(),
                Mode::Offline(d) => format!("offline {}", d.display()),
            },
            regime,
            sources: summaries,
            rescored,
            resubmitted,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
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
