//! `stratagem discover`: one discovery cycle. Each enabled source is checked (online, or from
//! the recorded responses of `--offline DIR`), its new items become scored opportunities, and
//! each check is recorded as one atomic batch: `source.checked`, then every opportunity's
//! discovery, score and decision. Held opportunities are then re-scored.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use stratagem_actors::discovery::{self, CheckSummary, ScoringContext};
use stratagem_actors::extract::RuleExtractor;
use stratagem_actors::scorer::regime::{self, RegimeReading};
use stratagem_actors::scorer::ScorerConfig;
use stratagem_actors::sources::check::{self, Known, Mode};
use stratagem_actors::sources::config::DiscoveryConfig;
use stratagem_actors::sources::http::Validators;
use stratagem_actors::sources::SourceName;

use stratagem_actors::discovery::actors::{
    run_until, AppendFuture, DiscoveryLog, ScorerArgs, Settled, SupervisorArgs,
};
use stratagem_actors::supervisor::RestartPolicy;
use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::{AppendRequest, Event, Projections};

use super::print_json;
use crate::data_dir::DataDir;
use crate::notifications::Notifications;

/// Conditional-GET validators kept between runs (a cache; deleting it costs full responses).
pub const VALIDATORS_FILE: &str = "http-validators.json";

#[derive(Serialize)]
struct DiscoverJson<'a> {
    mode: String,
    regime: &'a RegimeReading,
    sources: &'a [CheckSummary],
    rescored: u32,
    resubmitted: u32,
}

/// Reads an environment variable as text (unset and empty are the same).
pub fn env_lookup(key: &str) -> Option<String> {
    crate::config::var(key)
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// The discovery and scorer settings from the environment, with the inbox defaulting to
/// `DATA_DIR/inbox`.
pub fn settings(root: &Path) -> anyhow::Result<(DiscoveryConfig, ScorerConfig)> {
    let mut config = DiscoveryConfig::from_lookup(&env_lookup)
        .map_err(|e| anyhow::anyhow!("bad discovery setting: {e}"))?;
    if config.inbox.is_none() {
        config.inbox = Some(root.join("inbox"));
    }
    let scorer = ScorerConfig::from_lookup(&env_lookup)
        .map_err(|e| anyhow::anyhow!("bad scorer setting: {e}"))?;
    Ok((config, scorer))
}

/// The scoring context held ideas were last settled in (a cache of the scorer's: see
/// `Settled`).
pub const SETTLED_FILE: &str = "scoring.settled.json";

/// The data directory as the scorer actor's log.
pub struct LiveLog {
    pub dir: DataDir,
    pub projections: crate::data_dir::Projected,
    pub root: std::path::PathBuf,
}

impl DiscoveryLog for LiveLog {
    fn state(&self) -> &Projections {
        self.projections.state()
    }

    fn settled(&self) -> Option<Settled> {
        let bytes = std::fs::read(self.root.join(SETTLED_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn keep_settled(&mut self, settled: &Settled) {
        let written = serde_json::to_vec(settled)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                stratagem_events::durable::replace(&self.root, SETTLED_FILE, &bytes)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot keep the scoring cache; held ideas are scored again next time");
        }
    }

    fn append(&mut self, events: Vec<Event>, first_seq: u64) -> AppendFuture<'_> {
        Box::pin(async move {
            self.dir
                .append(
                    &mut self.projections,
                    AppendRequest::new(events).expecting(first_seq),
                )
                .await
                .map(|_| ())
                .map_err(super::host_error)
        })
    }
}

/// `discover --watch`: the source actors under their supervisor, each on its interval (and
/// once at start), until Ctrl-C or `--for` seconds.
async fn watch(
    root: &Path,
    selected: Vec<SourceName>,
    config: DiscoveryConfig,
    scorer: ScorerConfig,
    mode: Mode,
    for_secs: Option<u64>,
) -> anyhow::Result<(Vec<CheckSummary>, RegimeReading)> {
    let dir = DataDir::open(root)?;
    let projections = dir.projections()?;
    let regime = regime::detect(stratagem_actors::market::embedded_hourly());
    let ctx = ScoringContext::new(regime.clone(), scorer);
    let validators_path = root.join(VALIDATORS_FILE);
    let validators = Arc::new(Mutex::new(Validators::load(&validators_path)));
    let panic_once = crate::chaos::hook("PANIC_SOURCE").and_then(|s| SourceName::parse(&s));
    let args = SupervisorArgs {
        scorer: ScorerArgs {
            log: Box::new(LiveLog {
                dir,
                projections,
                root: root.to_path_buf(),
            }),
            ctx,
            notify: Notifications::notify_from_env()?,
        },
        config: Arc::new(config),
        mode,
        sources: selected,
        policy: RestartPolicy::default(),
        validators: validators.clone(),
        panic_once,
        repeat: true,
        announced: Default::default(),
    };
    let until = async move {
        match for_secs {
            Some(s) => tokio::time::sleep(std::time::Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    let (mut summaries, skipped) = run_until(args, until).await.map_err(anyhow::Error::msg)?;
    for (source, why) in skipped {
        summaries.push(CheckSummary {
            source: source.as_str().to_string(),
            outcome: "skipped".into(),
            skipped: Some(why),
            ..CheckSummary::default()
        });
    }
    if let Ok(v) = validators.lock() {
        if let Err(e) = v.save(&validators_path) {
            tracing::warn!(error = %e, "cannot save the conditional-GET cache");
        }
    }
    Ok((summaries, regime))
}

pub async fn run(
    root: &Path,
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
    let (config, scorer) = settings(root)?;
    let mode = match offline {
        None => Mode::Online,
        Some(dir) => {
            if !dir.is_dir() {
                bail!("--offline {}: no such folder (it should hold one folder per source: arxiv/, reddit/, …)", dir.display());
            }
            Mode::Offline(dir)
        }
    };
    let mut notifications = Notifications::from_env()?;
    if let Some(for_secs) = watch_for {
        let (summaries, regime) =
            watch(root, selected, config, scorer, mode.clone(), for_secs).await?;
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

/// What one discovery cycle did.
pub struct Cycle {
    pub regime: RegimeReading,
    pub summaries: Vec<CheckSummary>,
    pub rescored: u32,
    pub resubmitted: u32,
}

/// One discovery cycle: each selected source checked and recorded (one batch a check), then
/// held and hand-submitted opportunities scored again.
#[allow(clippy::too_many_arguments)]
pub async fn cycle(
    root: &Path,
    dir: &DataDir,
    projections: &mut ProjectionFiles,
    notifications: &mut Notifications,
    selected: &[SourceName],
    config: &DiscoveryConfig,
    scorer: ScorerConfig,
    mode: &Mode,
) -> anyhow::Result<Cycle> {
    let validators_path = root.join(VALIDATORS_FILE);
    let mut validators = Validators::load(&validators_path);
    let regime = regime::detect(stratagem_actors::market::embedded_hourly());
    let mut ctx = ScoringContext::new(regime.clone(), scorer);
    let known = discovery::known_ids(projections.state());
    let mut summaries = Vec::new();
    for &source in selected {
        if let Some(why) = check::not_ready(source, config, mode) {
            summaries.push(CheckSummary {
                source: source.as_str().to_string(),
                outcome: "skipped".into(),
                skipped: Some(why),
                ..CheckSummary::default()
            });
            continue;
        }
        let name = source.as_str().to_string();
        let seen = |id: &str| known.contains(&(name.clone(), id.to_string()));
        let last_success_unix = projections
            .state()
            .sources
            .get(&name)
            .and_then(|h| h.last_success_micros)
            .map(|m| m / 1_000_000);
        let known_view = Known {
            seen: &seen,
            last_success_unix,
        };
        let result = check::check_source(source, config, mode, &mut validators, &known_view).await;
        let first_seq = projections.state().last_seq + 1;
        let (events, summary) = discovery::plan_check(
            &result,
            &mut ctx,
            &RuleExtractor,
            first_seq,
            projections.state(),
        );
        dir.append(
            projections,
            AppendRequest::new(events.clone()).expecting(first_seq),
        )
        .await
        .with_context(|| format!("cannot record the check of {name}"))?;
        notifications.after(dir, projections, &events).await;
        summaries.push(summary);
    }
    let (events, rescored, resubmitted) = discovery::plan_rescore(projections.state(), &mut ctx);
    if !events.is_empty() {
        dir.append(projections, AppendRequest::new(events.clone()))
            .await
            .context("cannot record the re-scoring of held opportunities")?;
        notifications.after(dir, projections, &events).await;
    }
    if let Err(e) = validators.save(&validators_path) {
        tracing::warn!(error = %e, "cannot save the conditional-GET cache");
    }
    Ok(Cycle {
        regime,
        summaries,
        rescored,
        resubmitted,
    })
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
