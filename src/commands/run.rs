//! `stratagem run --once [--offline DIR]`: one whole cycle of the pipeline — discovery, then
//! every submitted opportunity generated from its template, every generated strategy validated
//! in six layers, every approved one taken through COLD → WARM → LIMITED → FULL on the
//! recorded bars with a simulated clock — and the funnel.
//!
//! What to do next is read from the log's read models, never from memory: an opportunity
//! submitted but not generated, a strategy generated but not validated, approved but not
//! staged, or staged with its stage not yet run (a stage started and cut short resumes under
//! its own run id). Run it again after a crash and it carries on where the log stops; every
//! step is idempotent by id, so nothing happens twice.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use serde::Serialize;
use stratagem_actors::sources::check::Mode;
use stratagem_actors::sources::SourceName;
use stratagem_events::projection::files::AUTONOMY_FILE;
use stratagem_events::projection::{AuditFile, OpportunityStatus, StrategyStatus};
use stratagem_events::{Projections, Stage};
use uuid::Uuid;

use std::sync::Arc;

use stratagem_actors::cycle::{due_sources, Idleness};
use stratagem_actors::discovery::actors::{ScorerArgs, SupervisorArgs};
use stratagem_actors::discovery::ScoringContext;
use stratagem_actors::notify::{Notify, SlackSettings};
use stratagem_actors::pipeline::{
    opportunity_waits, strategy_waits, Begun, Chaos, Job, JobOutput, PipelineWork, SharedWork,
    Step, WorkFuture,
};
use stratagem_actors::root::{CycleHost, Root, RootArgs};
use stratagem_actors::sources::http::Validators;
use stratagem_actors::stages::runner::StageSettings;
use stratagem_actors::supervisor::{HostError, RestartPolicy};
use stratagem_actors::validator::Validator;
use stratagem_events::Event;
use tokio::sync::Mutex;

use super::{discover, generate, host_error, print_json, stage, validate};
use crate::data_dir::DataDir;
use crate::notifications::Notifications;
use crate::settings::{monitor_settings_from_env, stage_settings_from_env};
use stratagem_actors::stages::monitor::MonitorSettings;

#[derive(Serialize, Default)]
struct Funnel {
    discovered: u64,
    scored: u64,
    submitted: u64,
    generated: u64,
    validated: u64,
    approved: u64,
    reached_cold: u64,
    reached_warm: u64,
    reached_limited: u64,
    reached_full: u64,
    rolled_back: u64,
    retired: u64,
    cloned: u64,
}

impl Funnel {
    fn of(p: &Projections) -> Funnel {
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

#[derive(Serialize)]
struct RunJson {
    funnel: Funnel,
    audit_files: Vec<String>,
    notes: Vec<String>,
}

/// Progress on stderr, only when someone is watching.
struct Progress(bool);

impl Progress {
    fn say(&self, what: &str) {
        if self.0 {
            eprintln!("… {what}");
        }
    }
}

/// The pipeline's work over the data directory: what the generator, validator, stage runners
/// and monitor record (one at a time), and the jobs that run without it.
struct RecordedPipeline {
    root: PathBuf,
    dir: DataDir,
    projections: crate::data_dir::Projected,
    notifications: Notifications,
    validator: Arc<Validator>,
    settings: StageSettings,
    monitor: MonitorSettings,
    progress: bool,
}

impl RecordedPipeline {
    async fn generate(&mut self, id: Uuid) -> anyhow::Result<(bool, String)> {
        Progress(self.progress).say(&format!("generating a strategy for opportunity {id}"));
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

    /// Records the validation's start; its six layers run on the blocking pool, without the log.
    async fn begin_validation(&mut self, id: Uuid) -> anyhow::Result<Job> {
        Progress(self.progress).say(&format!(
            "validating strategy {id} (six layers, rustc → wasm32 → wasmtime)"
        ));
        let source = self.dir.strategy_source(&self.projections, id)?;
        validate::record_started(&self.dir, &mut self.projections, id, &source).await?;
        let validator = self.validator.clone();
        Ok(Box::pin(async move {
            tokio::task::spawn_blocking(move || validator.validate(&source))
                .await
                .map_err(|e| HostError(format!("the validation stopped: {e}")))?
                .map(JobOutput::Validation)
                .map_err(|e| host_error(e.into()))
        }))
    }

    /// Records the stage run's start; the run (compiling, then the sandbox over the bars) is on
    /// the blocking pool, without the log.
    async fn begin_stage(&mut self, strategy: Uuid, st: Stage) -> anyhow::Result<Job> {
        Progress(self.progress).say(&format!(
            "{} of strategy {strategy}",
            st.as_str().to_uppercase()
        ));
        let plan = stage::begin_recorded(
            &self.dir,
            &mut self.projections,
            &self.settings,
            strategy,
            st,
        )
        .await?;
        let (root, settings) = (self.root.clone(), self.settings);
        // The validator's engine: the module its layer 6 compiled is loaded from its cache.
        let validator = self.validator.clone();
        Ok(Box::pin(async move {
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                let sandbox = validator.sandbox.sandbox();
                handle.block_on(plan.run(sandbox, &root, &settings, None, None))
            })
            .await
            .map_err(|e| HostError(format!("the stage run stopped: {e}")))?
            .map(JobOutput::Stage)
            .map_err(host_error)
        }))
    }

    async fn finish_job(&mut self, id: Uuid, output: JobOutput) -> anyhow::Result<(bool, String)> {
        Ok(match output {
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
            JobOutput::Stage(outcome) => {
                stage::finish_recorded(
                    &self.dir,
                    &mut self.projections,
                    &mut self.notifications,
                    id,
                    outcome.stage,
                    &outcome,
                )
                .await?;
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
    fn begin(&mut self, id: Uuid, step: Step) -> WorkFuture<'_, Result<Begun, HostError>> {
        Box::pin(async move {
            match step {
                Step::Generate => self.generate(id).await.map(Begun::Done),
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
            Progress(self.progress).say("monitoring the strategies in LIMITED and FULL");
            let watched = super::monitor::pass(
                &self.root,
                &self.dir,
                &mut self.projections,
                &mut self.notifications,
                &self.settings,
                &self.monitor,
            )
            .await
            .map_err(host_error)?;
            Ok(watched
                .iter()
                .filter(|w| !w.actions.is_empty() || w.error.is_some())
                .map(super::monitor::line)
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

pub async fn run(
    root: &Path,
    once: bool,
    offline: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let progress = Progress(std::io::stderr().is_terminal() && !json);
    let mode = match offline {
        None => Mode::Online,
        Some(dir) if dir.is_dir() => Mode::Offline(dir),
        Some(dir) => bail!("--offline {}: no such folder (it should hold one folder per source: arxiv/, reddit/, …)", dir.display()),
    };
    // The store stays open for the whole run (each phase borrows it): see `DataDir::keep_open`.
    let _kept = DataDir::keep_open(root)?;
    let actors = Actors::start(root, &mode, &progress).await?;
    let result = if once {
        let selected = sources_for(root, &mode, Sources::All)?;
        match one_cycle(&actors, &progress, selected).await {
            Ok(done) => report(root, done, json),
            Err(e) => Err(e),
        }
    } else {
        daemon(root, &mode, &actors, &progress, json).await
    };
    actors.stop().await;
    result
}

/// Which sources a cycle checks.
#[derive(Clone, Copy, PartialEq)]
enum Sources<'a> {
    /// Every source (`run --once`).
    All,
    /// Those whose interval has passed at `now` (micros) since their last check: on the
    /// simulated clock, as this process recorded it; else as the log did (the daemon).
    Due {
        now: i64,
        simulated: Option<&'a HashMap<SourceName, i64>>,
    },
}

/// What one cycle left: the regime line, the funnel and the notes.
struct CycleDone {
    regime: String,
    funnel: Funnel,
    notes: Vec<String>,
    /// The Prometheus text of the read models after the cycle (the daemon serves it).
    metrics: String,
    /// The sources checked.
    checked: Vec<SourceName>,
    /// Something failed that the next cycle should try again, even if nothing else changed.
    retry: bool,
}

/// `stratagem run`: cycles until SIGINT or SIGTERM. Each cycle checks the sources that are due
/// (their interval passed since their last check on the log, so a restart keeps the rhythm),
/// then carries every piece of in-flight work forward. The data directory is held for the whole
/// run (a person's review decisions reach it through `review-inbox/`). A signal lets the cycle
/// in progress finish; whatever is left is on the log and resumes at the next start.
async fn daemon(
    root: &Path,
    mode: &Mode,
    actors: &Actors,
    progress: &Progress,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let number =
        |key: &str, default: u64, range: std::ops::RangeInclusive<u64>| -> anyhow::Result<u64> {
            match crate::config::var(key) {
                Err(_) => Ok(default),
                Ok(v) => match v.trim().parse::<u64>() {
                    Ok(x) if range.contains(&x) => Ok(x),
                    _ => bail!(
                        "{key}={v:?} is not a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                },
            }
        };
    // A simulated clock (for soaks): each cycle advances it by this many hours, and sources
    // fall due by it. 0 = the real clock.
    let sim_hours = number("RUN_SIMULATED_HOURS_PER_CYCLE", 0, 0..=24)?;
    let tick = std::time::Duration::from_secs(number(
        "RUN_TICK_SECONDS",
        60,
        if sim_hours > 0 { 0..=3600 } else { 1..=3600 },
    )?);
    // Stop after this many cycles (0 = until a signal).
    let max_cycles = number("RUN_CYCLES", 0, 0..=1_000_000)?;
    let started_micros = now_micros();
    let rss_start = resident_bytes();
    let mut rss_first = None;
    // After a simulated day's cycles the caches and the allocator have settled: growth after
    // it is what a leak would show.
    let mut rss_day = None;
    let mut sim_checked: HashMap<SourceName, i64> = HashMap::new();
    let shared: crate::metrics::Shared = Default::default();
    let addr = crate::config::var("METRICS_ADDR").unwrap_or_else(|_| "127.0.0.1:9464".into());
    if addr.trim() != "off" {
        match tokio::net::TcpListener::bind(addr.trim()).await {
            Ok(listener) => {
                if let Ok(local) = listener.local_addr() {
                    if !json {
                        say!("metrics on http://{local}/metrics (and /livez, /readyz)");
                    }
                }
                tokio::spawn(crate::metrics::serve(listener, shared.clone(), tick));
            }
            Err(e) => {
                tracing::warn!(%addr, error = %e, "cannot serve /metrics; running without it")
            }
        }
    }
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
        }
        let _ = stop_tx.send(true);
    });
    let mut cycles = 0u64;
    let mut last: Option<CycleDone> = None;
    let mut idleness = Idleness::default();
    while !*stop.borrow() {
        if let Ok(mut s) = shared.lock() {
            s.heartbeat = Some(std::time::Instant::now());
        }
        let now = if sim_hours > 0 {
            started_micros + (cycles * sim_hours * 3_600_000_000) as i64
        } else {
            now_micros()
        };
        let due = Sources::Due {
            now,
            simulated: (sim_hours > 0).then_some(&sim_checked),
        };
        let began = std::time::Instant::now();
        let selected = sources_for(root, mode, due)?;
        let mut head = stratagem_events::EventStore::head(DataDir::open(root)?.store()).seq;
        // Idle (see `Idleness`): the cycle appends nothing and does nothing, and its report is
        // the last one's.
        let idle = last.is_some()
            && idleness.is_idle(&selected, head, super::review::handoffs_waiting(root));
        if !idle {
            let done = one_cycle(actors, progress, selected).await?;
            head = stratagem_events::EventStore::head(DataDir::open(root)?.store()).seq;
            idleness.worked(head, done.retry);
            // Only a cycle that ran checked its sources (an idle one checks nothing).
            for name in &done.checked {
                sim_checked.insert(*name, now);
            }
            if let Ok(mut s) = shared.lock() {
                s.text = done.metrics.clone();
            }
            last = Some(done);
        }
        let took = began.elapsed();
        cycles += 1;
        if let Ok(mut s) = shared.lock() {
            s.cycles = cycles;
            s.heartbeat = Some(std::time::Instant::now());
        }
        tracing::info!(
            cycles,
            idle,
            took_us = took.as_micros() as u64,
            "cycle done"
        );
        if cycles == 1 {
            rss_first = resident_bytes();
        }
        if cycles == 24 {
            rss_day = resident_bytes();
        }
        if let (false, Some(done)) = (json, &last) {
            say!(
                "cycle {cycles} ({}, {} µs, log at {}): {}",
                if idle { "idle" } else { "worked" },
                took.as_micros(),
                head,
                funnel_line(&done.funnel)
            );
        }
        if max_cycles > 0 && cycles >= max_cycles {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => {}
        }
    }
    if !json {
        say!("stopped after {cycles} cycle(s): everything in flight is on the log and resumes at the next start");
        let mib = |b: Option<u64>| {
            b.map_or("?".to_string(), |b| {
                format!("{:.1} MiB", b as f64 / 1048576.0)
            })
        };
        say!(
            "resident memory {} at start, {} after the first cycle, {} after 24 cycles, {} at the end; event log {} on disk",
            mib(rss_start),
            mib(rss_first),
            mib(rss_day),
            mib(resident_bytes()),
            mib(Some(dir_size(&root.join("events"))))
        );
    }
    match last {
        Some(done) if json => report(root, done, true),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// This process's resident memory (Linux `/proc/self/status`).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn funnel_line(f: &Funnel) -> String {
    format!(
        "discovered {} → scored {} → submitted {} → generated {} → validated {} → approved {}; reached COLD {}, WARM {}, LIMITED {}, FULL {}; rolled back {}, retired {}, clones {}",
        f.discovered, f.scored, f.submitted, f.generated, f.validated, f.approved, f.reached_cold, f.reached_warm, f.reached_limited, f.reached_full, f.rolled_back, f.retired, f.cloned
    )
}

/// The sources a cycle checks: all of them, or those due
/// ([`stratagem_actors::cycle::due_sources`]).
fn sources_for(root: &Path, mode: &Mode, sources: Sources<'_>) -> anyhow::Result<Vec<SourceName>> {
    let (config, _) = discover::settings(root)?;
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

/// One cycle: discovery, then generation, validation, the stages and the monitor for whatever
/// waits. Clones the monitor spawns are scored, generated, validated and staged in the same
/// cycle (a further round), so a cycle ends with nothing left in flight.
async fn one_cycle(
    actors: &Actors,
    progress: &Progress,
    selected: Vec<SourceName>,
) -> anyhow::Result<CycleDone> {
    progress.say("discovering");
    let outcome = actors
        .root
        .cycle(selected)
        .await
        .map_err(|e| anyhow::anyhow!("the cycle failed: {e}"))?;
    let mut notes = Vec::new();
    let mut retry = false;
    for s in &outcome.summaries {
        for e in &s.errors {
            notes.push(format!("{}: {e}", s.source));
        }
    }
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
                (Ok((false, why)), Step::Validate) => {
                    notes.push(format!("strategy {} not approved: {why}", r.id))
                }
                (Ok((false, why)), Step::Stage(st)) => notes.push(format!(
                    "strategy {} rejected at {} ({why})",
                    r.id,
                    st.as_str().to_uppercase()
                )),
                (Err(e), step) => {
                    retry = true;
                    notes.push(format!("{} {}: could not be done: {e}", step.actor(), r.id))
                }
            }
        }
    }
    let Some(work) = outcome.work else {
        bail!("the cycle ended without the pipeline's state");
    };
    let stage_settings = stage_settings_from_env()?;
    let guard = work.lock().await;
    let waiting = super::review::waiting(guard.state(), &stage_settings);
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
        || !guard.waiting(Step::Validate).is_empty()
        || guard
            .state()
            .opportunities
            .values()
            .any(|o| o.status == OpportunityStatus::Discovered && o.score.is_none());
    let done = CycleDone {
        regime: stratagem_actors::scorer::regime::detect(
            stratagem_actors::market::embedded_hourly(),
        )
        .reason,
        funnel: Funnel::of(guard.state()),
        notes,
        metrics: crate::metrics::render(guard.state(), &queue, waiting.len()),
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

/// The log as the root supervisor's phases take it: opened for each, released after.
struct Host {
    root: PathBuf,
    mode: Mode,
    progress: bool,
    validators: Arc<std::sync::Mutex<Validators>>,
    /// Chaos testing: this source's actor panics on its first check.
    source_chaos: Option<SourceName>,
    /// Chaos testing: this phase (`discovery` or `pipeline`) fails to start once.
    phase_chaos: std::sync::Mutex<Option<String>>,
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
    ) -> anyhow::Result<SupervisorArgs> {
        let (config, scorer) = discover::settings(&self.root)?;
        let dir = DataDir::reopen(&self.root).await?;
        let projections = dir.projections()?;
        let regime =
            stratagem_actors::scorer::regime::detect(stratagem_actors::market::embedded_hourly());
        let ctx = ScoringContext::new(regime, scorer);
        Ok(SupervisorArgs {
            scorer: ScorerArgs {
                log: Box::new(discover::LiveLog {
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

    async fn pipeline_work(&self, notify: Notify) -> anyhow::Result<SharedWork> {
        let dir = DataDir::reopen(&self.root).await?;
        let mut projections = dir.projections()?;
        let settings = stage_settings_from_env()?;
        // Decisions a person handed over while this process held the log.
        for line in
            super::review::take_handoffs(&self.root, &dir, &mut projections, &settings).await
        {
            tracing::info!("{line}");
        }
        let work = RecordedPipeline {
            root: self.root.clone(),
            dir,
            projections,
            notifications: Notifications::via(notify),
            validator: Arc::new(validate::validator_from_env(&self.root)?),
            settings,
            monitor: monitor_settings_from_env()?,
            progress: self.progress,
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
            if let Err(e) = v.save(&self.root.join(discover::VALIDATORS_FILE)) {
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

/// The actors of a `run`: the root supervisor over everything.
struct Actors {
    root: Root,
}

impl Actors {
    async fn start(root: &Path, mode: &Mode, progress: &Progress) -> anyhow::Result<Actors> {
        let env = |k: &str| crate::config::var(k).ok();
        let slack = SlackSettings::from_lookup(&env).map_err(anyhow::Error::msg)?;
        let chaos = crate::chaos::hook("PANIC_STAGE");
        let host = Host {
            root: root.to_path_buf(),
            mode: mode.clone(),
            progress: progress.0,
            validators: Arc::new(std::sync::Mutex::new(Validators::load(
                &root.join(discover::VALIDATORS_FILE),
            ))),
            source_chaos: crate::chaos::hook("PANIC_SOURCE").and_then(|s| SourceName::parse(&s)),
            phase_chaos: std::sync::Mutex::new(crate::chaos::hook("FAIL_PHASE")),
        };
        let args = RootArgs {
            host: Arc::new(host),
            policy: RestartPolicy::default(),
            slack,
            pipeline_chaos: chaos.as_deref().and_then(Chaos::parse),
            notifier_chaos: chaos.as_deref() == Some("notifier"),
            max_rounds: 8,
            concurrency: crate::settings::concurrency_from_env()?,
        };
        Ok(Actors {
            root: Root::start(args).await?,
        })
    }

    async fn stop(self) {
        self.root.stop().await;
    }
}

fn report(root: &Path, done: CycleDone, json: bool) -> anyhow::Result<ExitCode> {
    let CycleDone {
        regime,
        funnel,
        notes,
        ..
    } = done;
    let mut audit_files: Vec<String> = AuditFile::ALL
        .iter()
        .map(|f| root.join(f.file_name()).display().to_string())
        .collect();
    audit_files.push(root.join(AUTONOMY_FILE).display().to_string());
    if json {
        print_json(&RunJson {
            funnel,
            audit_files,
            notes,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let f = &funnel;
    say!("regime        {regime}");
    say!(
        "funnel        discovered {} → scored {} → submitted {} → generated {} → validated {} → approved {}",
        f.discovered, f.scored, f.submitted, f.generated, f.validated, f.approved
    );
    say!(
        "stages        reached COLD {}, WARM {}, LIMITED {}, FULL {}",
        f.reached_cold,
        f.reached_warm,
        f.reached_limited,
        f.reached_full
    );
    say!(
        "monitor       rolled back {}, retired {}, clones spawned {}",
        f.rolled_back,
        f.retired,
        f.cloned
    );
    for n in &notes {
        say!("note          {n}");
    }
    say!("audit files   {}", audit_files.join("\n              "));
    Ok(ExitCode::SUCCESS)
}
