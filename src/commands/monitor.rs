//! `stratagem monitor`: one pass of the monitor over every strategy trading in LIMITED or FULL
//! (the workflow is `stratagem_actors::workflow::monitor`).

use std::path::Path;
use std::process::ExitCode;

use stratagem_actors::stages::paper::PaperVenue;
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::execute::venue;
use stratagem_actors::workflow::monitor::{line, pass};
use stratagem_actors::workflow::notifications::Notifications;
use stratagem_actors::workflow::settings::Settings;

use super::print_json;

pub async fn run(root: &Path, settings: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let stages = settings.stages()?;
    let monitor_settings = settings.monitor()?;
    let market = settings.stage_market(false)?;
    let mut notifications = Notifications::from_settings(settings)?;
    let dir = DataDir::open(root)?;
    let mut projections = dir.projections()?;
    // The stays trade on the execution venue (on the real clock an exchange when so set),
    // reconciled with the log first.
    let mut venue = venue(settings, &market, PaperVenue::of(&stages))?;
    for line in venue.reconcile(&dir, &mut projections).await? {
        eprintln!("reconciliation: {line}");
    }
    let watched = pass(
        root,
        &dir,
        &mut projections,
        &mut notifications,
        &stages,
        &market,
        &monitor_settings,
        venue.as_mut(),
    )
    .await;
    notifications.finish(&dir, &mut projections).await;
    let watched = watched?;
    if json {
        print_json(&crate::output::Page::all(watched))?;
        return Ok(ExitCode::SUCCESS);
    }
    if watched.is_empty() {
        say!("no strategy trades in LIMITED or FULL: nothing to watch");
    }
    for w in &watched {
        say!("{}", line(w));
        if let Some(m) = projections
            .state()
            .strategies
            .get(&w.strategy)
            .and_then(|s| s.monitor.as_ref())
        {
            say!(
                "    P&L {:+.2} ({:+.2} %), rolling Sharpe {:.2} vs baseline {:.2}, drawdown {:.2} %, {} h below the baseline",
                m.pnl,
                m.total_return * 100.0,
                m.rolling_sharpe,
                m.baseline_sharpe,
                m.drawdown * 100.0,
                m.below_baseline_hours
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
