//! One cycle of the whole pipeline, as `run --once` and each working cycle of the daemon make
//! it: discovery, then every submitted opportunity generated from its template, every generated
//! strategy validated in six layers, every approved one taken through COLD → WARM → LIMITED →
//! FULL on the recorded bars, the monitor's pass, and the funnel.
//!
//! What to do next is read from the log's read models, never from memory: an opportunity
//! submitted but not generated, a strategy generated but not validated, approved but not
//! staged, or staged with its stage not yet run (a stage started and cut short resumes under
//! its own run id). Run it again after a crash and it carries on where the log stops; every
//! step is idempotent by id, so nothing happens twice.
//!
//! [`Engine`] is the root supervisor over every actor; [`RecordedPipeline`] is the pipeline's
//! work over the data directory, and [`Host`] hands each phase its part of the log.

use crate::validator::sandbox::compile::Author;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use stratagem_events::projection::{OpportunityStatus, StrategyStatus};
use stratagem_events::{Event, Projections, Stage};
use tokio::sync::Mutex;
use uuid::Uuid;

use super::data_dir::{DataDir, Projected};
use super::discover::{LiveLog, VALIDATORS_FILE};
use super::notifications::Notifications;
use super::settings::Settings;
use super::{generate, monitor, review, stage, validate, Result, WorkflowError};
use crate::cycle::due_sources;
use crate::discovery::actors::{ScorerArgs, SupervisorArgs};
use crate::discovery::ScoringContext;
use crate::notify::Notify;
use crate::pipeline::{
    opportunity_waits, strategy_waits, Begun, Chaos, Job, JobOutput, PipelineWork, SharedWork,
    Step, WorkFuture,
};
use crate::root::{CycleHost, Root, RootArgs};
use crate::sources::check::Mode;
use crate::sources::http::Validators;
use crate::sources::SourceName;
use crate::stages::monitor::MonitorSettings;
use crate::stages::runner::StageSettings;
use crate::supervisor::{HostError, RestartPolicy};
use crate::validator::{Screened, Validator};

/// The execution venue the pipeline's stage runs and the monitor share.
type Venue = Arc<Mutex<Box<dyn super::execute::ExecutionVenue>>>;

/// The funnel: how far the ideas on the log went.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Funnel {
    /// Opportunities discovered.
    pub discovered: u64,
    /// Scored.
    pub scored: u64,
    /// Submitted (scored at or above the threshold, or by hand).
    pub submitted: u64,
    /// Strategies generated.
    pub generated: u64,
    /// Validated (a decision made).
    pub validated: u64,
    /// Approved.
    pub approved: u64,
    /// Strategies that reached COLD.
    pub reached_cold: u64,
    /// … WARM.
    pub reached_warm: u64,
    /// … LIMITED.
    pub reached_limited: u64,
    /// … FULL.
    pub reached_full: u64,
    /// Rollbacks.
    pub rolled_back: u64,
    /// Strategies retired.
    pub retired: u64,
    /// Clones spawned.
    pub cloned: u64,
}

impl Funnel {
    /// The funnel of the log's state.
    pub fn of(p: &Projections) -> Funnel {
        let a = &p.autonomy;
        let reached = |s: Stage| {
            p.strategies
                .values()
                .filter(|v| v.highest_stage >= Some(s))
                .count() as u64
        };
        Funnel {
            discovered: a.opportunities_discovered,
            scored: a.opportunities_scored,
            submitted: a.opportunities_submitted,
            generated: p.strategies.len() as u64,
            validated: p
                .strategies
                .values()
                .filter(|s| s.decision.is_some())
                .count() as u64,
            approved: a.strategies_approved,
            reached_cold: reached(Stage::Cold),
            reached_warm: reached(Stage::Warm),
            reached_limited: reached(Stage::Limited),
            reached_full: reached(Stage::Full),
            rolled_back: p.strategies.values().map(|s| u64::from(s.rollbacks)).sum(),
            retired: p
                .strategies
                .values()
                .filter(|s| s.status == StrategyStatus::Retired)
                .count() as u64,
            cloned: p
                .opportunities
                .values()
                .filter(|o| o.parent_strategy_id.is_some())
                .count() as u64,
        }
    }
}

impl std::fmt::Display for Funnel {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let f = self;
        write!(
            out,
            "discovered {} → scored {} → submitted {} → generated {} → validated {} → approved {}; reached COLD {}, WARM {}, LIMITED {}, FULL {}; rolled back {}, retired {}, clones {}",
            f.discovered, f.scored, f.submitted, f.generated, f.validated, f.approved, f.reached_cold, f.reached_warm, f.reached_limited, f.reached_full, f.rolled_back, f.retired, f.cloned
        )
    }
}

/// Where progress is told (a person watching a terminal), if anywhere.
pub type Progress = Option<Arc<dyn Fn(&str) + Send + Sync>>;

fn say(progress: &Progress, what: &str) {
    if let Some(p) = progress {
        p(what);
    }
}

fn host_error(e: WorkflowError) -> HostError {
    HostError(e.to_string())
}

/// How a stage step under way on the real clock begins its note.
const UNDER_WAY: &str = "under way";

/// The pipeline's work over the data directory: what the generator, validator, stage runners
/// and monitor record (one at a time), and the jobs that run without it.
struct RecordedPipeline {
    root: PathBuf,
    dir: DataDir,
    projections: Projected,
    notifications: Notifications,
    validator: Arc<Validator>,
    settings: StageSettings,
    market: crate::stages::realclock::StageMarket,
    monitor: MonitorSettings,
    progress: Progress,
    /// The execution venue LIMITED and FULL trade on.
    venue: Venue,
    /// The job queue validations go to (`REMOTE_WORKERS`), and how long one may wait.
    jobs: Option<stratagem_events::JobQueue>,
    remote_wait: std::time::Duration,
}

impl RecordedPipeline {
    async fn generate(&mut self, id: Uuid) -> Result<(bool, String)> {
        say(
            &self.progress,
            &format!("generating a strategy for opportunity {id}"),
        );
        Ok(
            match generate::from_template_recorded(&self.root, &self.dir, &mut self.projections, id)
                .await?
            {
                Some(strategy) => (true, format!("strategy {strategy}")),
                None => (
                    false,
                    "no template fits; it waits for a language model (generate --mode llm)".into(),
                ),
            },
        )
    }

    /// Records the validation's start; layers 1–5 run on the blocking pool, without the log.
    async fn begin_screen(&mut self, id: Uuid) -> Result<Job> {
        say(
            &self.progress,
            &format!("screening strategy {id} (layers 1–5)"),
        );
        let source = self.dir.strategy_source(&self.projections, id)?;
        validate::record_started(&self.dir, &mut self.projections, id, &source).await?;
        let validator = self.validator.clone();
        Ok(Box::pin(async move {
            tokio::task::spawn_blocking(move || validator.screen(&source))
                .await
                .map_err(|e| HostError(format!("the screening stopped: {e}")))
                .map(JobOutput::Screen)
        }))
    }

    /// Layer 6 of a screened strategy (its validation's start and layers 1–5 are on the log),
    /// without the log: layers 1–5 again in memory on the blocking pool (cheap, deterministic),
    /// rustc awaited as a child process, the sandbox runs on the blocking pool.
    async fn begin_validation(&mut self, id: Uuid) -> Result<Job> {
        say(
            &self.progress,
            &format!("validating strategy {id} (layer 6: rustc → wasm32 → wasmtime)"),
        );
        let source = self.dir.strategy_source(&self.projections, id)?;
        let author = Author::of_recorded(self.projections.state(), Some(id));
        // On workers: queued on the log's job queue, the result a worker stored recorded here.
        if let Some(queue) = self.jobs.clone() {
            let job = super::remote::ValidateJob {
                strategy_id: id,
                source,
                untrusted: author == Author::Untrusted,
            };
            let within = self.remote_wait;
            return Ok(Box::pin(async move {
                super::remote::validate(&queue, &job, within)
                    .await
                    .map(JobOutput::RemoteValidation)
                    .map_err(HostError)
            }));
        }
        let validator = self.validator.clone();
        Ok(Box::pin(async move {
            validator
                .validate_async(source, author)
                .await
                .map(JobOutput::Validation)
                .map_err(|e| host_error(e.into()))
        }))
    }

    /// Records the stage run's start; the run (compiling, then the sandbox over the bars) is on
    /// the blocking pool, without the log.
    async fn begin_stage(&mut self, strategy: Uuid, st: Stage) -> Result<Job> {
        say(
            &self.progress,
            &format!("{} of strategy {strategy}", st.as_str().to_uppercase()),
        );
        let sends_orders = self.venue.lock().await.sends_orders();
        let plan = stage::begin_recorded(
            &self.dir,
            &mut self.projections,
            &self.settings,
            (&self.market, sends_orders),
            strategy,
            st,
        )
        .await?;
        // On workers: the run travels whole; the step a worker computed is recorded here.
        if let Some(queue) = self.jobs.clone() {
            let run = self
                .projections
                .state()
                .strategies
                .get(&strategy)
                .and_then(|v| v.open_run)
                .map_or(Uuid::nil(), |(_, run)| run);
            let job = super::remote::StageJob {
                id: format!("stage-{run}-{}", Uuid::now_v7().simple()),
                strategy_id: strategy,
                plan,
                settings: self.settings,
            };
            let within = self.remote_wait;
            return Ok(Box::pin(async move {
                super::remote::run_stage(&queue, &job, within)
                    .await
                    .map(|step| JobOutput::Stage(Box::new(step)))
                    .map_err(HostError)
            }));
        }
        let (root, settings) = (self.root.clone(), self.settings);
        // The validator's engine: the module its layer 6 compiled is loaded from its cache.
        let validator = self.validator.clone();
        Ok(Box::pin(async move {
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                let sandbox = validator.sandbox.sandbox();
                handle.block_on(plan.step(sandbox, &root, &settings, None, None))
            })
            .await
            .map_err(|e| HostError(format!("the stage run stopped: {e}")))?
            .map(|step| JobOutput::Stage(Box::new(step)))
            .map_err(host_error)
        }))
    }

    async fn finish_job(&mut self, id: Uuid, output: JobOutput) -> Result<(bool, String)> {
        Ok(match output {
            JobOutput::Screen(screened) => {
                validate::record_screened(
                    &self.dir,
                    &mut self.projections,
                    &mut self.notifications,
                    id,
                    &screened,
                )
                .await?;
                match screened {
                    Screened::Passed { .. } => (true, "layers 1–5 passed".to_string()),
                    Screened::Decided(report) => (
                        report.decision == stratagem_events::Decision::Approved,
                        report.reason(),
                    ),
                }
            }
            JobOutput::Validation(report) => {
                validate::record_report(
                    &self.dir,
                    &mut self.projections,
                    &mut self.notifications,
                    id,
                    &report,
                )
                .await?;
                (
                    report.decision == stratagem_events::Decision::Approved,
                    report.reason(),
                )
            }
            JobOutput::RemoteValidation(report) => {
                validate::record_remote(
                    &self.dir,
                    &mut self.projections,
                    &mut self.notifications,
                    id,
                    &report,
                    Some(&super::remote::ValidateJob::id_of(id)),
                )
                .await?;
                (
                    report.decision == stratagem_events::Decision::Approved,
                    format!("{} (on worker {})", report.reason, report.worker),
                )
            }
            JobOutput::Stage(step) => {
                let st = match &step.outcome {
                    Some(o) => o.stage,
                    None => self
                        .projections
                        .state()
                        .strategies
                        .get(&id)
                        .and_then(|v| v.open_run)
                        .map_or(Stage::Cold, |(st, _)| st),
                };
                let venue = self.venue.clone();
                let mut venue = venue.lock().await;
                stage::record_step(
                    &self.dir,
                    &mut self.projections,
                    &mut self.notifications,
                    &self.settings,
                    venue.as_mut(),
                    id,
                    st,
                    &step,
                )
                .await?;
                let Some(outcome) = step.outcome else {
                    let m = step.mark.as_ref();
                    return Ok((
                        false,
                        format!(
                            "{UNDER_WAY} on {}: {} of {} bars",
                            m.map_or_else(|| self.market.label(), |m| m.series.clone()),
                            m.map_or(0, |m| m.bars),
                            m.map_or(0, |m| m.window_bars)
                        ),
                    ));
                };
                let why = match &outcome.trap {
                    Some(t) => format!("stopped by the sandbox: {t}"),
                    None if outcome.passed => outcome.gate.clone(),
                    None => format!("gate not met: {}", outcome.gate),
                };
                (outcome.passed, why)
            }
        })
    }
}

impl PipelineWork for RecordedPipeline {
    fn stages_in_log_order(&self) -> bool {
        matches!(self.market, crate::stages::realclock::StageMarket::Recorded)
    }

    fn begin(&mut self, id: Uuid, step: Step) -> WorkFuture<'_, Result<Begun, HostError>> {
        Box::pin(async move {
            match step {
                Step::Generate => self.generate(id).await.map(Begun::Done),
                Step::Screen => self.begin_screen(id).await.map(Begun::Job),
                Step::Validate => self.begin_validation(id).await.map(Begun::Job),
                Step::Stage(st) => self.begin_stage(id, st).await.map(Begun::Job),
            }
            .map_err(host_error)
        })
    }

    fn finish(
        &mut self,
        id: Uuid,
        _step: Step,
        output: JobOutput,
    ) -> WorkFuture<'_, Result<(bool, String), HostError>> {
        Box::pin(async move { self.finish_job(id, output).await.map_err(host_error) })
    }

    fn waiting(&self, step: Step) -> Vec<Uuid> {
        let state = self.projections.state();
        match step {
            // A template fits (one that none fits waits for a language model: `generate --mode
            // llm`).
            Step::Generate => state
                .opportunities
                .values()
                .filter(|o| opportunity_waits(o) && generate::template_for(o).is_some())
                .map(|o| o.id)
                .collect(),
            // No stage run begins while trading is halted or reduce-only; one open goes on.
            Step::Stage(_) => state
                .strategies
                .values()
                .filter(|s| strategy_waits(s, step, &self.settings))
                .filter(|s| super::risk::may_begin(state, s.open_run.is_some()))
                .map(|s| s.id)
                .collect(),
            _ => state
                .strategies
                .values()
                .filter(|s| strategy_waits(s, step, &self.settings))
                .map(|s| s.id)
                .collect(),
        }
    }

    fn state(&self) -> &Projections {
        self.projections.state()
    }

    fn monitor(&mut self) -> WorkFuture<'_, Result<Vec<String>, HostError>> {
        Box::pin(async move {
            say(
                &self.progress,
                "monitoring the strategies in LIMITED and FULL",
            );
            let venue = self.venue.clone();
            let mut venue = venue.lock().await;
            let watched = monitor::pass(
                &self.root,
                &self.dir,
                &mut self.projections,
                &mut self.notifications,
                &self.settings,
                &self.market,
                &self.monitor,
                venue.as_mut(),
            )
            .await
            .map_err(host_error)?;
            Ok(watched
                .iter()
                .filter(|w| !w.actions.is_empty() || w.error.is_some())
                .map(monitor::line)
                .collect())
        })
    }

    fn record(&mut self, events: Vec<Event>) -> WorkFuture<'_, Result<(), HostError>> {
        Box::pin(async move {
            self.dir
                .append(
                    &mut self.projections,
                    stratagem_events::AppendRequest::new(events.clone()),
                )
                .await
                .map_err(host_error)?;
            // A give-up is worth a message (after it is recorded).
            self.notifications
                .after(&self.dir, &mut self.projections, &events)
                .await;
            Ok(())
        })
    }
}

/// Which sources a cycle checks.
#[derive(Clone, Copy, PartialEq)]
pub enum Sources<'a> {
    /// Every source (`run --once`).
    All,
    /// Those whose interval has passed at `now` (micros) since their last check: on the
    /// simulated clock, as this process recorded it; else as the log did (the daemon).
    Due {
        /// Now, in microseconds since the epoch.
        now: i64,
        /// The simulated clock's check times, if the clock is simulated.
        simulated: Option<&'a HashMap<SourceName, i64>>,
    },
}

/// What one cycle left: the regime line, the funnel and the notes.
#[derive(Debug, Clone)]
pub struct CycleDone {
    /// The market regime, in words.
    pub regime: String,
    /// The funnel after the cycle.
    pub funnel: Funnel,
    /// What went wrong or waits, one line each.
    pub notes: Vec<String>,
    /// The Prometheus text of the read models after the cycle (the daemon serves it).
    pub metrics: String,
    /// Strategies waiting for each stage.
    pub queue: Vec<(Stage, usize)>,
    /// Strategies waiting for a person.
    pub waiting_review: usize,
    /// The sources checked.
    pub checked: Vec<SourceName>,
    /// Something failed that the next cycle should try again, even if nothing else changed.
    pub retry: bool,
}

/// The sources a cycle checks: all of them, or those due ([`crate::cycle::due_sources`]).
///
/// # Errors
/// A bad discovery setting; the log cannot be read.
pub fn sources_for(
    root: &Path,
    settings: &Settings,
    mode: &Mode,
    sources: Sources<'_>,
) -> Result<Vec<SourceName>> {
    let (config, _) = settings.discovery(root)?;
    Ok(match sources {
        Sources::All => SourceName::ALL.to_vec(),
        Sources::Due {
            now,
            simulated: Some(times),
        } => due_sources(&config, mode, now, |s| times.get(&s).copied()),
        Sources::Due {
            now,
            simulated: None,
        } => {
            let recorded = DataDir::open(root)?.projections()?;
            due_sources(&config, mode, now, |s| {
                recorded
                    .state()
                    .sources
                    .get(s.as_str())
                    .map(|h| h.last_checked_micros)
            })
        }
    })
}

/// The chaos tests' hooks (the binary reads them only in its `chaos` build).
#[derive(Debug, Clone, Default)]
pub struct ChaosHooks {
    /// A pipeline worker, the monitor or the notifier fails on its first job.
    pub panic_stage: Option<String>,
    /// This source's actor panics on its first check.
    pub panic_source: Option<SourceName>,
    /// This phase (`discovery` or `pipeline`) fails to start once.
    pub fail_phase: Option<String>,
}

/// The actors of a `run`: the root supervisor over everything, over a data directory.
pub struct Engine {
    root: Root,
    /// The data directory.
    dir: PathBuf,
    /// The courier of every phase's messages.
    notify: Notify,
    settings: Settings,
    /// Where the stages take their bars.
    market: crate::stages::realclock::StageMarket,
    progress: Progress,
}

impl Engine {
    /// Starts the root supervisor and its actors over the data directory `root`.
    ///
    /// # Errors
    /// A bad setting, named; an actor that cannot start.
    pub async fn start(
        root: &Path,
        mode: &Mode,
        settings: Settings,
        progress: Progress,
        chaos: ChaosHooks,
    ) -> Result<Engine> {
        let slack = settings.slack()?;
        // Live trading starts only with its opt-in and keys: what is missing is named now.
        crate::execution::ExecutionSettings::from_settings(&settings)?;
        let market = settings.stage_market(matches!(mode, Mode::Offline(_)))?;
        // Validations on workers: through the job queue beside the log's stream.
        let jobs = if settings.flag("REMOTE_WORKERS")? {
            let address = DataDir::store_elsewhere(root)
                .and_then(|a| stratagem_events::NatsAddress::parse(&a).ok())
                .ok_or_else(|| {
                    WorkflowError::Usage(
                        "REMOTE_WORKERS=1 needs the log on NATS JetStream: --store nats://HOST:PORT/STREAM"
                            .into(),
                    )
                })?;
            let replicas = settings.store_replicas(address.server.split(',').count())?;
            let ack_wait = std::time::Duration::from_secs(settings.job_ack_seconds()?);
            Some(
                stratagem_events::JobQueue::open(&address, replicas, ack_wait)
                    .await
                    .map_err(|e| WorkflowError::refused(e.to_string()))?,
            )
        } else {
            None
        };
        // Orders go to an exchange only on the real clock.
        let paper = crate::stages::paper::PaperVenue::of(&settings.stages()?);
        let venue = Arc::new(Mutex::new(super::execute::venue(
            &settings, &market, paper,
        )?));
        let host = Host {
            root: root.to_path_buf(),
            mode: mode.clone(),
            settings: settings.clone(),
            progress: progress.clone(),
            validators: Arc::new(std::sync::Mutex::new(Validators::load(
                &root.join(VALIDATORS_FILE),
            ))),
            source_chaos: chaos.panic_source,
            phase_chaos: std::sync::Mutex::new(chaos.fail_phase),
            venue,
            reconciled: Default::default(),
            jobs,
            remote_wait: std::time::Duration::from_secs(settings.remote_wait_seconds()?),
        };
        // The courier delivers through the supervised notifier, found in its slot.
        let notifier: crate::notify::NotifierSlot = Default::default();
        let notify = match &slack {
            Some(_) => Notify::Courier(crate::notify::Courier::start(
                crate::notify::Channel::Actor(notifier.clone()),
            )),
            None => Notify::Off,
        };
        let args = RootArgs {
            host: Arc::new(host),
            policy: RestartPolicy::default(),
            slack,
            notifier,
            notify: notify.clone(),
            pipeline_chaos: chaos.panic_stage.as_deref().and_then(Chaos::parse),
            notifier_chaos: chaos.panic_stage.as_deref() == Some("notifier"),
            max_rounds: 8,
            concurrency: settings.concurrency()?,
        };
        Ok(Engine {
            root: Root::start(args).await?,
            dir: root.to_path_buf(),
            notify,
            settings,
            market,
            progress,
        })
    }

    /// One cycle: discovery of `selected`, then generation, validation, the stages and the
    /// monitor for whatever waits. Clones the monitor spawns are scored, generated, validated
    /// and staged in the same cycle (a further round), so a cycle ends with nothing left in
    /// flight.
    ///
    /// # Errors
    /// The cycle failed past its actors' restarts; a bad setting.
    pub async fn cycle(&self, selected: Vec<SourceName>) -> Result<CycleDone> {
        self.record_deliveries().await;
        let mut notes = Vec::new();
        let mut retry = false;
        // The stages' series brought up to the venue's now, so the monitor reads the bars
        // closed since the last cycle (a stage step brings it up again itself).
        if let crate::stages::realclock::StageMarket::Store { markets, urls, .. } = &self.market {
            let lookback = self.settings.stages()?.warmup_bars + 1;
            for series in markets {
                say(&self.progress, &format!("updating {}", series.label()));
                if let Err(e) =
                    crate::stages::realclock::bring_up_to_now(&self.dir, series, urls, lookback)
                        .await
                {
                    notes.push(format!("market: {e}"));
                    retry = true;
                }
            }
        }
        say(&self.progress, "discovering");
        let outcome = self
            .root
            .cycle(selected)
            .await
            .map_err(|e| WorkflowError::refused(format!("the cycle failed: {e}")))?;
        for s in &outcome.summaries {
            for e in &s.errors {
                notes.push(format!("{}: {e}", s.source));
            }
        }
        let Some(work) = outcome.work else {
            return Err(WorkflowError::refused(
                "the cycle ended without the pipeline's state",
            ));
        };
        let stage_settings = self.settings.stages()?;
        let guard = work.lock().await;
        // What a stage job that did not move on came to, read from the log, not its words: a
        // run still open goes on at the next cycle (a paper stage on the real clock); a run
        // that could not begin for capital waits (`stage.waiting`).
        let view = |id: Uuid| guard.state().strategies.get(&id);
        let under_way = |id: Uuid, st: Stage| {
            view(id).is_some_and(|v| v.open_run.is_some_and(|(open, _)| open == st))
        };
        let waits_for_capital = |id: Uuid, st: Stage| {
            view(id).is_some_and(|v| {
                v.open_run.is_none() && v.waiting.as_ref().is_some_and(|(w, _)| *w == st)
            })
        };
        for idle in &outcome.rounds {
            retry |= !idle.monitor_errors.is_empty();
            notes.extend(idle.monitor.iter().map(|a| format!("monitor: {a}")));
            notes.extend(
                idle.monitor_errors
                    .iter()
                    .map(|e| format!("monitor: could not record its pass: {e}")),
            );
            for r in &idle.jobs {
                match (&r.result, r.step) {
                    (Ok((true, _)), _) => {}
                    (Ok((false, why)), Step::Generate) => {
                        notes.push(format!("opportunity {}: {why}", r.id))
                    }
                    (Ok((false, why)), Step::Screen | Step::Validate) => {
                        notes.push(format!("strategy {} not approved: {why}", r.id))
                    }
                    // A paper stage on the real clock goes on at the next cycle.
                    (Ok((false, why)), Step::Stage(st)) if under_way(r.id, st) => notes.push(
                        format!("strategy {}: {} {why}", r.id, st.as_str().to_uppercase()),
                    ),
                    (Ok((false, why)), Step::Stage(st)) => notes.push(format!(
                        "strategy {} rejected at {} ({why})",
                        r.id,
                        st.as_str().to_uppercase()
                    )),
                    // A LIMITED or FULL run the free capital cannot cover begins later.
                    (Err(e), Step::Stage(st)) if waits_for_capital(r.id, st) => {
                        notes.push(format!("strategy {}: {e}", r.id))
                    }
                    (Err(e), step) => {
                        retry = true;
                        notes.push(format!("{} {}: could not be done: {e}", step.actor(), r.id))
                    }
                }
            }
        }
        let waiting = review::waiting(guard.state(), &stage_settings);
        if !waiting.is_empty() {
            notes.push(format!(
                "waiting for a person: {} (`stratagem review list`)",
                waiting.len()
            ));
        }
        let queue: Vec<(Stage, usize)> = Stage::ALL
            .iter()
            .map(|st| (*st, guard.waiting(Step::Stage(*st)).len()))
            .collect();
        // Work left for the next cycle (the rounds ran out, say): it is not idle then.
        retry |= queue.iter().any(|(_, n)| *n > 0)
            || !guard.waiting(Step::Generate).is_empty()
            || !guard.waiting(Step::Screen).is_empty()
            || !guard.waiting(Step::Validate).is_empty()
            || guard
                .state()
                .opportunities
                .values()
                .any(|o| o.status == OpportunityStatus::Discovered && o.score.is_none())
            // On the real clock every bar that closes is work for a strategy staged: a paper
            // stage's next bars, FULL's next reading.
            || (matches!(
                self.market,
                crate::stages::realclock::StageMarket::Store { .. }
            ) && guard
                .state()
                .strategies
                .values()
                .any(|s| s.status == stratagem_events::projection::StrategyStatus::Staged));
        let done = CycleDone {
            queue: queue.clone(),
            waiting_review: waiting.len(),
            regime: match crate::stages::realclock::instruments(&self.dir, &self.market) {
                Some(i) if !i.regimes.is_empty() => i
                    .regimes
                    .iter()
                    .map(|(_, r)| r.reason.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
                _ => crate::scorer::regime::detect(crate::market::embedded_hourly()).reason,
            },
            funnel: Funnel::of(guard.state()),
            notes,
            metrics: super::metrics::render(
                guard.state(),
                &queue,
                waiting.len(),
                self.settings
                    .kpi_window_days()
                    .unwrap_or(stratagem_events::projection::kpi::DEFAULT_WINDOW_DAYS),
            ),
            checked: outcome
                .summaries
                .iter()
                .filter(|s| s.skipped.is_none())
                .filter_map(|s| SourceName::parse(&s.source))
                .collect(),
            retry,
        };
        drop(guard);
        drop(work); // the last reference: the data directory is released
        Ok(done)
    }

    /// Records what the courier delivered since the phases last appended (an idle daemon's
    /// deliveries would wait for the next decision otherwise).
    async fn record_deliveries(&self) {
        let Notify::Courier(courier) = &self.notify else {
            return;
        };
        let outcomes = courier.outcomes();
        if outcomes.is_empty() {
            return;
        }
        let append = async {
            let dir = DataDir::reopen(&self.dir).await?;
            let mut projections = dir.projections()?;
            dir.append(
                &mut projections,
                stratagem_events::AppendRequest::new(outcomes),
            )
            .await
            .map(|_| ())
        };
        if let Err(e) = append.await {
            tracing::warn!(error = %e.to_string(), "cannot record the notifications' outcomes");
        }
    }

    /// Stops every actor: the courier first delivers what it holds while deliveries succeed
    /// (up to [`crate::notify::SETTLE_GRACE`]); the rest stays in the outbox.
    pub async fn stop(self) {
        if !matches!(self.notify, Notify::Off) {
            let settle = async {
                let dir = DataDir::reopen(&self.dir).await?;
                let mut projections = dir.projections()?;
                super::notifications::finish(&self.notify, &dir, &mut projections).await;
                Ok::<(), WorkflowError>(())
            };
            if let Err(e) = settle.await {
                tracing::warn!(error = %e.to_string(), "cannot record the notifications' outcomes");
            }
        }
        self.root.stop().await;
    }
}

/// The log as the root supervisor's phases take it: opened for each, released after.
pub struct Host {
    root: PathBuf,
    mode: Mode,
    settings: Settings,
    progress: Progress,
    validators: Arc<std::sync::Mutex<Validators>>,
    /// Chaos testing: this source's actor panics on its first check.
    source_chaos: Option<SourceName>,
    /// Chaos testing: this phase (`discovery` or `pipeline`) fails to start once.
    phase_chaos: std::sync::Mutex<Option<String>>,
    /// The execution venue LIMITED and FULL trade on (on the real clock
    /// `EXECUTION_VENUE=binance` is the exchange, else paper).
    venue: Venue,
    /// Whether its account was reconciled with the log since this process started.
    reconciled: std::sync::atomic::AtomicBool,
    /// The job queue validations go to (`REMOTE_WORKERS`), and how long one may wait.
    jobs: Option<stratagem_events::JobQueue>,
    remote_wait: std::time::Duration,
}

impl Host {
    fn chaos(&self, phase: &str) -> Result<(), HostError> {
        let mut armed = self
            .phase_chaos
            .lock()
            .map_err(|e| HostError(e.to_string()))?;
        if armed.as_deref() == Some(phase) {
            *armed = None;
            return Err(HostError(format!(
                "chaos: the {phase} fails to start on purpose"
            )));
        }
        Ok(())
    }

    async fn discovery_args(
        &self,
        sources: Vec<SourceName>,
        notify: Notify,
    ) -> Result<SupervisorArgs> {
        let (config, scorer) = self.settings.discovery(&self.root)?;
        let dir = DataDir::reopen(&self.root).await?;
        let projections = dir.projections()?;
        let regime = crate::scorer::regime::detect(crate::market::embedded_hourly());
        let mut ctx = ScoringContext::new(regime, scorer);
        // On the real clock each idea's market fit is judged on its instrument's regime.
        let market = self
            .settings
            .stage_market(matches!(self.mode, Mode::Offline(_)))?;
        ctx.instruments = crate::stages::realclock::instruments(&self.root, &market);
        ctx.reader = self.settings.model_reader(&self.root)?;
        Ok(SupervisorArgs {
            scorer: ScorerArgs {
                log: Box::new(LiveLog {
                    dir,
                    projections,
                    root: self.root.clone(),
                }),
                ctx,
                notify,
            },
            config: Arc::new(config),
            mode: self.mode.clone(),
            sources,
            policy: RestartPolicy::default(),
            validators: self.validators.clone(),
            panic_once: self.source_chaos,
            repeat: false,
            // The root supervisor hands over its own.
            announced: Default::default(),
        })
    }

    async fn pipeline_work(&self, notify: Notify) -> Result<SharedWork> {
        let dir = DataDir::reopen(&self.root).await?;
        let mut projections = dir.projections()?;
        let settings = self.settings.stages()?;
        // Decisions a person handed over while this process held the log.
        for line in review::take_handoffs(&self.root, &dir, &mut projections, &settings).await {
            tracing::info!("{line}");
        }
        // Risk changes too: every runner honours them from this cycle's steps on.
        for line in super::risk::take_handoffs(&self.root, &dir, &mut projections).await {
            tracing::info!("{line}");
        }
        // The venue's account against the log, once a process (again next cycle if the venue
        // cannot be reached), then whatever orders the log holds unsent.
        {
            let mut venue = self.venue.lock().await;
            use std::sync::atomic::Ordering::SeqCst;
            if !self.reconciled.load(SeqCst) {
                match venue.reconcile(&dir, &mut projections).await {
                    Ok(differences) => {
                        self.reconciled.store(true, SeqCst);
                        for line in differences {
                            tracing::warn!("reconciliation: {line}");
                        }
                    }
                    Err(e) => tracing::warn!("{e}"),
                }
            }
            for line in venue.send_pending(&dir, &mut projections).await? {
                tracing::warn!("{line}");
            }
        }
        let work = RecordedPipeline {
            root: self.root.clone(),
            dir,
            projections,
            notifications: Notifications::via(notify),
            validator: Arc::new(self.settings.validator(&self.root)?),
            settings,
            market: self
                .settings
                .stage_market(matches!(self.mode, Mode::Offline(_)))?,
            monitor: self.settings.monitor()?,
            progress: self.progress.clone(),
            venue: self.venue.clone(),
            jobs: self.jobs.clone(),
            remote_wait: self.remote_wait,
        };
        Ok(Arc::new(
            Mutex::new(Box::new(work) as Box<dyn PipelineWork>),
        ))
    }
}

impl CycleHost for Host {
    fn discovery(
        &self,
        sources: Vec<SourceName>,
        notify: Notify,
    ) -> WorkFuture<'_, Result<SupervisorArgs, HostError>> {
        Box::pin(async move {
            self.chaos("discovery")?;
            self.discovery_args(sources, notify)
                .await
                .map_err(host_error)
        })
    }

    fn discovery_stopped(&self) {
        if let Ok(v) = self.validators.lock() {
            if let Err(e) = v.save(&self.root.join(VALIDATORS_FILE)) {
                tracing::warn!(error = %e, "cannot save the conditional-GET cache");
            }
        }
    }

    fn pipeline(&self, notify: Notify) -> WorkFuture<'_, Result<SharedWork, HostError>> {
        Box::pin(async move {
            self.chaos("pipeline")?;
            self.pipeline_work(notify).await.map_err(host_error)
        })
    }

    fn record(&self, events: Vec<Event>) -> WorkFuture<'_, Result<(), HostError>> {
        Box::pin(async move {
            let append = async {
                let dir = DataDir::reopen(&self.root).await?;
                let mut projections = dir.projections()?;
                dir.append(
                    &mut projections,
                    stratagem_events::AppendRequest::new(events),
                )
                .await
                .map(|_| ())
            };
            append.await.map_err(host_error)
        })
    }
}
