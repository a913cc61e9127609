//! The discovery workflows: one cycle (each selected source checked, online or from recorded
//! responses, its new items scored, each check recorded as one atomic batch, then held and
//! hand-submitted opportunities scored again), and the watch: the source actors under their
//! supervisor, each on its interval.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use stratagem_events::projection::files::ProjectionFiles;
use stratagem_events::{AppendRequest, Event, Projections};

use super::data_dir::{DataDir, Projected};
use super::notifications::Notifications;
use super::settings::Settings;
use super::{Context, Result, WorkflowError};
use crate::discovery::actors::{
    run_until, AppendFuture, DiscoveryLog, ScorerArgs, Settled, SupervisorArgs,
};
use crate::discovery::{self, CheckSummary, ScoringContext};
use crate::scorer::regime::{self, RegimeReading};
use crate::scorer::ScorerConfig;
use crate::sources::check::{self, Known, Mode};
use crate::sources::config::DiscoveryConfig;
use crate::sources::http::Validators;
use crate::sources::SourceName;
use crate::supervisor::{HostError, RestartPolicy};

/// Conditional-GET validators kept between runs (a cache; deleting it costs full responses).
pub const VALIDATORS_FILE: &str = "http-validators.json";

/// The scoring context held ideas were last settled in (a cache of the scorer's: see
/// `Settled`).
pub const SETTLED_FILE: &str = "scoring.settled.json";

/// The data directory as the scorer actor's log.
pub struct LiveLog {
    /// The log.
    pub dir: DataDir,
    /// Its projections.
    pub projections: Projected,
    /// The data directory (for the scoring cache).
    pub root: PathBuf,
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
                .map_err(|e| HostError(e.to_string()))
        })
    }
}

/// The mode of `--offline DIR` (else online).
///
/// # Errors
/// A folder that does not exist.
pub fn mode(offline: Option<PathBuf>) -> Result<Mode> {
    match offline {
        None => Ok(Mode::Online),
        Some(dir) if dir.is_dir() => Ok(Mode::Offline(dir)),
        Some(dir) => Err(WorkflowError::io(
            format!("--offline {}: no such folder (it should hold one folder per source: arxiv/, reddit/, …)", dir.display()),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )),
    }
}

fn describe(mode: &Mode) -> String {
    match mode {
        Mode::Online => "online".into(),
        Mode::Offline(d) => format!("offline {}", d.display()),
    }
}

/// The source named `name`, else every source.
///
/// # Errors
/// An unknown name, with the known ones.
pub fn select(name: Option<&str>) -> Result<Vec<SourceName>> {
    Ok(match name {
        None => SourceName::ALL.to_vec(),
        Some(name) => match SourceName::parse(name) {
            Some(s) => vec![s],
            None => super::error::usage!(
                "unknown source {name:?}: one of {}",
                SourceName::ALL.map(|s| s.as_str()).join(", ")
            ),
        },
    })
}

/// One discovery cycle over the data directory `root` ([`cycle`]), with the configured
/// notifications.
///
/// # Errors
/// A bad setting, named; the log cannot be opened or appended to.
pub async fn discover(
    root: &Path,
    settings: &Settings,
    selected: &[SourceName],
    mode: &Mode,
) -> Result<Cycle> {
    let (config, scorer) = settings.discovery(root)?;
    let mut notifications = Notifications::from_settings(settings)?;
    let dir = DataDir::open(root)?;
    let mut projections = dir.projections()?;
    let instruments = crate::stages::realclock::instruments(
        root,
        &settings.stage_market(matches!(mode, Mode::Offline(_)))?,
    );
    let done = cycle(
        root,
        &dir,
        &mut projections,
        &mut notifications,
        selected,
        &config,
        scorer,
        mode,
        instruments,
        settings.model_reader(root)?,
    )
    .await;
    notifications.finish(&dir, &mut projections).await;
    done
}

/// `discover --watch`: the source actors under their supervisor, each on its interval (and
/// once at start), until `until` completes. `panic_once` (chaos tests) makes that source's actor
/// panic on its first check.
///
/// # Errors
/// The log cannot be opened, or the supervisor gave up.
#[allow(clippy::too_many_arguments)]
pub async fn watch(
    root: &Path,
    settings: &Settings,
    selected: Vec<SourceName>,
    mode: Mode,
    panic_once: Option<SourceName>,
    until: impl std::future::Future<Output = ()>,
) -> Result<Cycle> {
    let (config, scorer) = settings.discovery(root)?;
    let notify = Notifications::notify(settings)?;
    let described = describe(&mode);
    let dir = DataDir::open(root)?;
    let projections = dir.projections()?;
    let regime = regime::detect(crate::market::embedded_hourly());
    let mut ctx = ScoringContext::new(regime.clone(), scorer);
    ctx.instruments = crate::stages::realclock::instruments(
        root,
        &settings.stage_market(matches!(mode, Mode::Offline(_)))?,
    );
    ctx.reader = settings.model_reader(root)?;
    let validators_path = root.join(VALIDATORS_FILE);
    let validators = Arc::new(Mutex::new(Validators::load(&validators_path)));
    let args = SupervisorArgs {
        scorer: ScorerArgs {
            log: Box::new(LiveLog {
                dir,
                projections,
                root: root.to_path_buf(),
            }),
            ctx,
            notify: notify.clone(),
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
    let ran = run_until(args, until).await;
    // The scorer let go of the log: what the courier holds is delivered (or left in the outbox).
    let dir = DataDir::reopen(root).await?;
    let mut projections = dir.projections()?;
    super::notifications::finish(&notify, &dir, &mut projections).await;
    let (mut summaries, skipped) = ran?;
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
    Ok(Cycle {
        mode: described,
        regime,
        summaries,
        rescored: 0,
        resubmitted: 0,
    })
}

/// What one discovery cycle (or a watch) did.
#[derive(Debug, Clone, Serialize)]
pub struct Cycle {
    /// Online, or offline from which folder.
    pub mode: String,
    /// The market regime the scores were made in.
    pub regime: RegimeReading,
    /// What each source's check found.
    #[serde(rename = "sources")]
    pub summaries: Vec<CheckSummary>,
    /// Waiting opportunities scored again.
    pub rescored: u32,
    /// Of those, now submitted.
    pub resubmitted: u32,
}

/// One discovery cycle: each selected source checked and recorded (one batch a check), then
/// held and hand-submitted opportunities scored again; each idea's market fit judged on its
/// instrument's regime when `instruments` are given (the real clock), else the recording's.
///
/// # Errors
/// The log cannot be appended to.
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
    instruments: Option<discovery::Instruments>,
    reader: Option<Arc<crate::model_reader::ModelReader>>,
) -> Result<Cycle> {
    let validators_path = root.join(VALIDATORS_FILE);
    let mut validators = Validators::load(&validators_path);
    let regime = regime::detect(crate::market::embedded_hourly());
    let mut ctx = ScoringContext::new(regime.clone(), scorer);
    ctx.instruments = instruments;
    ctx.reader = reader;
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
        let used = crate::model_reader::tokens_used_today(projections.state());
        let prepared = crate::model_reader::prepare(ctx.reader.as_ref(), &result.items, used).await;
        let first_seq = projections.state().last_seq + 1;
        let (events, summary) =
            discovery::plan_check(&result, &mut ctx, &prepared, first_seq, projections.state());
        dir.append(
            projections,
            AppendRequest::new(events.clone()).expecting(first_seq),
        )
        .await
        .with_context(|| format!("cannot record the check of {name}"))?;
        notifications.after(dir, projections, &events).await;
        summaries.push(summary);
    }
    let used = crate::model_reader::tokens_used_today(projections.state());
    discovery::prepare_rescore(projections.state(), &mut ctx, used).await;
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
        mode: describe(mode),
        regime,
        summaries,
        rescored,
        resubmitted,
    })
}
