//! The downstream pipeline as supervised ractor actors: a generator, a validator, one runner
//! per stage, and the monitor, under the [`PipelineSupervisor`].
//!
//! Dataflow: submitted opportunity → generator → validator → COLD → WARM → LIMITED → FULL
//! runners → monitor, whose rollbacks put strategies back in a runner's queue and whose clones
//! wait for the scorer. Each worker's mailbox is its step's queue.
//!
//! The work itself — generate, validate, run a stage, watch, each recorded write-ahead — is the
//! caller's [`PipelineWork`] (the binary runs it over the data directory), shared by the workers
//! behind one lock: one writer. What is waiting comes from the log ([`PipelineWork::waiting`]),
//! never from memory: at start, after every finished job, and when a worker is restarted after a
//! failure, the queues are filled from the read models, so the job a worker died in is resumed
//! (a stage under its own run id) and the jobs queued behind it are not lost. A job the log no
//! longer shows waiting is dropped, never done twice. Each start, restart and give-up is an
//! event.

use crate::supervisor::{CycleError, HostError};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use stratagem_events::{ActorStarted, Event, Stage};
use tokio::sync::{oneshot, Mutex};
use uuid::Uuid;

use crate::supervisor::{RestartDecision, RestartPolicy, RestartTracker};

/// A boxed future of the work.
pub type WorkFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A step of the pipeline a worker does, one id at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// A submitted opportunity becomes a strategy (by its opportunity id).
    Generate,
    /// A generated strategy is validated in six layers (by its strategy id).
    Validate,
    /// A strategy runs a stage (by its strategy id).
    Stage(Stage),
}

impl Step {
    /// Every step, in dataflow order.
    pub const ALL: [Step; 6] = [
        Step::Generate,
        Step::Validate,
        Step::Stage(Stage::Cold),
        Step::Stage(Stage::Warm),
        Step::Stage(Stage::Limited),
        Step::Stage(Stage::Full),
    ];

    /// The worker's name in events: `generator`, `validator`, `stage/cold`, …
    pub fn actor(self) -> String {
        match self {
            Step::Generate => "generator".into(),
            Step::Validate => "validator".into(),
            Step::Stage(s) => format!("stage/{}", s.as_str()),
        }
    }

    /// The step named `generator`, `validator`, or a stage's name (`cold`, …).
    pub fn parse(name: &str) -> Option<Step> {
        match name.trim() {
            "generator" | "generate" => Some(Step::Generate),
            "validator" | "validate" => Some(Step::Validate),
            other => Stage::ALL
                .into_iter()
                .find(|s| s.as_str() == other)
                .map(Step::Stage),
        }
    }
}

/// The pipeline work the workers do, over the log.
pub trait PipelineWork: Send + 'static {
    /// Does `step` for `id` and records it. `Ok((true, what))` when it moved on (generated,
    /// approved, passed and promoted), `Ok((false, why))` when it stopped there (no template
    /// fits, rejected, waits for a person).
    fn run(&mut self, id: Uuid, step: Step) -> WorkFuture<'_, Result<(bool, String), HostError>>;
    /// The ids the log shows waiting for `step`.
    fn waiting(&self, step: Step) -> Vec<Uuid>;
    /// Records supervision events.
    fn record(&mut self, events: Vec<Event>) -> WorkFuture<'_, Result<(), HostError>>;
    /// The read models, current with every step recorded through this value.
    fn state(&self) -> &stratagem_events::Projections;
    /// One pass of the monitor over every strategy trading in LIMITED or FULL, recorded;
    /// returns a line for each rollback, retirement or clone it decided.
    fn monitor(&mut self) -> WorkFuture<'_, Result<Vec<String>, HostError>>;
}

/// The work, shared by the workers.
pub type SharedWork = Arc<Mutex<Box<dyn PipelineWork>>>;

/// What a job came to.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDone {
    /// The opportunity (for generation) or strategy.
    pub id: Uuid,
    /// The step.
    pub step: Step,
    /// Moved on or stopped, with what or why; or could not be done (why).
    pub result: Result<(bool, String), HostError>,
}

/// Everything a run until idle did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Idle {
    /// Every job's result, in completion order.
    pub jobs: Vec<JobDone>,
    /// The monitor's decisions, a line each.
    pub monitor: Vec<String>,
    /// Monitor passes that failed, and why.
    pub monitor_errors: Vec<String>,
}

/// A worker's message: do this id's step.
pub struct RunJob(pub Uuid);

/// One step's worker.
pub struct Worker;

/// What a worker is started with.
#[derive(Clone)]
pub struct WorkerArgs {
    /// Its step.
    pub step: Step,
    /// The work.
    pub work: SharedWork,
    /// Where results go.
    pub supervisor: ActorRef<PipelineMsg>,
    /// Chaos testing: the first job of this worker in this process panics.
    pub panic_once: Option<Arc<AtomicBool>>,
}

impl Actor for Worker {
    type Msg = RunJob;
    type State = WorkerArgs;
    type Arguments = WorkerArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<RunJob>,
        args: WorkerArgs,
    ) -> Result<WorkerArgs, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _me: ActorRef<RunJob>,
        RunJob(id): RunJob,
        a: &mut WorkerArgs,
    ) -> Result<(), ActorProcessingErr> {
        if crate::supervisor::chaos_strikes(a.panic_once.as_deref()) {
            panic!("chaos: the {} worker fails on purpose", a.step.actor());
        }
        let mut work = a.work.lock().await;
        // Handlers are idempotent by id: a job the log no longer shows waiting (queued twice
        // around a restart) is dropped, never done twice.
        if !work.waiting(a.step).contains(&id) {
            drop(work);
            a.supervisor
                .send_message(PipelineMsg::Skipped(a.step, id))?;
            return Ok(());
        }
        let result = work.run(id, a.step).await;
        drop(work);
        a.supervisor.send_message(PipelineMsg::Done(JobDone {
            id,
            step: a.step,
            result,
        }))?;
        Ok(())
    }
}

/// The monitor's message: make a pass.
pub struct Watch;

/// The monitor actor: a pass over every strategy trading in LIMITED or FULL, on request.
pub struct MonitorActor;

/// What the monitor actor is started with.
#[derive(Clone)]
pub struct MonitorArgs {
    /// The work.
    pub work: SharedWork,
    /// Where its passes go.
    pub supervisor: ActorRef<PipelineMsg>,
    /// Chaos testing: its first pass in this process panics.
    pub panic_once: Option<Arc<AtomicBool>>,
}

impl Actor for MonitorActor {
    type Msg = Watch;
    type State = MonitorArgs;
    type Arguments = MonitorArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<Watch>,
        args: MonitorArgs,
    ) -> Result<MonitorArgs, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _me: ActorRef<Watch>,
        _msg: Watch,
        a: &mut MonitorArgs,
    ) -> Result<(), ActorProcessingErr> {
        if crate::supervisor::chaos_strikes(a.panic_once.as_deref()) {
            panic!("chaos: the monitor fails on purpose");
        }
        let result = a.work.lock().await.monitor().await;
        a.supervisor.send_message(PipelineMsg::Watched(result))?;
        Ok(())
    }
}

/// Messages of the pipeline supervisor.
pub enum PipelineMsg {
    /// A worker finished a job.
    Done(JobDone),
    /// A worker dropped a job the log no longer shows waiting.
    Skipped(Step, Uuid),
    /// The monitor finished a pass.
    Watched(Result<Vec<String>, HostError>),
    /// Start a worker again after its backoff.
    Restart(Step),
    /// Start the monitor again after its backoff.
    RestartMonitor,
}

/// The pipeline supervisor.
pub struct PipelineSupervisor;

/// What the pipeline supervisor is started with.
pub struct PipelineArgs {
    /// The work.
    pub work: SharedWork,
    /// Restart policy of the workers and the monitor.
    pub policy: RestartPolicy,
    /// Told once every queue is empty and the monitor found nothing more to do.
    pub idle: Option<oneshot::Sender<Idle>>,
    /// Chaos testing: this worker (or the monitor, `None` inside) panics on its first job.
    pub panic_once: Option<Chaos>,
    /// Monitor passes at most, so a run always ends (a rollback loop is ended by retirement).
    pub max_monitor_passes: u32,
    /// Actors whose start this process has already recorded.
    pub announced: crate::supervisor::Announced,
}

/// Which actor a chaos test makes fail once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chaos {
    /// A step's worker.
    Worker(Step),
    /// The monitor.
    Monitor,
}

impl Chaos {
    /// `monitor`, or a step's name (see [`Step::parse`]).
    pub fn parse(name: &str) -> Option<Chaos> {
        match name.trim() {
            "monitor" => Some(Chaos::Monitor),
            other => Step::parse(other).map(Chaos::Worker),
        }
    }
}

/// Which child an actor id is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Child {
    Worker(Step),
    Monitor,
}

impl Child {
    fn actor(self) -> String {
        match self {
            Child::Worker(s) => s.actor(),
            Child::Monitor => "monitor".into(),
        }
    }
}

/// The pipeline supervisor's state.
pub struct PipelineState {
    work: SharedWork,
    workers: HashMap<Step, ActorRef<RunJob>>,
    monitor: Option<ActorRef<Watch>>,
    ids: HashMap<ractor::ActorId, Child>,
    trackers: HashMap<Child, RestartTracker>,
    gave_up: HashSet<Child>,
    pending: HashMap<Step, BTreeSet<Uuid>>,
    /// Jobs that stopped without moving on by an error, or a generation no template fits: not
    /// queued again in this run (the log would show them waiting forever).
    settled: HashSet<(Step, Uuid)>,
    /// A monitor pass asked for and not answered.
    watching: bool,
    passes: u32,
    max_passes: u32,
    done: Idle,
    idle: Option<oneshot::Sender<Idle>>,
    chaos: Option<(Chaos, Arc<AtomicBool>)>,
    started: Instant,
}

impl PipelineState {
    fn chaos_for(&self, c: Chaos) -> Option<Arc<AtomicBool>> {
        self.chaos
            .as_ref()
            .filter(|(x, _)| *x == c)
            .map(|(_, f)| f.clone())
    }

    async fn spawn(
        &mut self,
        me: &ActorRef<PipelineMsg>,
        step: Step,
    ) -> Result<(), ActorProcessingErr> {
        let args = WorkerArgs {
            step,
            work: self.work.clone(),
            supervisor: me.clone(),
            panic_once: self.chaos_for(Chaos::Worker(step)),
        };
        let (worker, _) = Actor::spawn_linked(
            Some(format!("{}-{}", step.actor(), Uuid::now_v7())),
            Worker,
            args,
            me.get_cell(),
        )
        .await?;
        self.ids.insert(worker.get_id(), Child::Worker(step));
        self.workers.insert(step, worker);
        // Its queue, from the log: whatever waits for this step (a restart re-sends the job it
        // died in; one already done is dropped by the waiting check).
        if let Some(q) = self.pending.get_mut(&step) {
            q.clear();
        }
        self.fill(&[step]).await?;
        Ok(())
    }

    async fn spawn_monitor(
        &mut self,
        me: &ActorRef<PipelineMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let args = MonitorArgs {
            work: self.work.clone(),
            supervisor: me.clone(),
            panic_once: self.chaos_for(Chaos::Monitor),
        };
        let (monitor, _) = Actor::spawn_linked(
            Some(format!("monitor-{}", Uuid::now_v7())),
            MonitorActor,
            args,
            me.get_cell(),
        )
        .await?;
        self.ids.insert(monitor.get_id(), Child::Monitor);
        if self.watching {
            monitor.send_message(Watch)?;
        }
        self.monitor = Some(monitor);
        Ok(())
    }

    /// Queues every id the log shows waiting for `steps` that is not queued yet.
    async fn fill(&mut self, steps: &[Step]) -> Result<(), ActorProcessingErr> {
        let waiting: Vec<(Step, Vec<Uuid>)> = {
            let work = self.work.lock().await;
            steps.iter().map(|s| (*s, work.waiting(*s))).collect()
        };
        for (step, ids) in waiting {
            if self.gave_up.contains(&Child::Worker(step)) {
                continue;
            }
            let queue = self.pending.entry(step).or_default();
            for id in ids {
                if self.settled.contains(&(step, id)) || !queue.insert(id) {
                    continue;
                }
                if let Some(w) = self.workers.get(&step) {
                    w.send_message(RunJob(id))?;
                }
            }
        }
        Ok(())
    }

    /// When every queue is empty: ask the monitor for a pass, or, after one that left nothing
    /// to do, report idle.
    fn check_idle(&mut self) -> Result<(), ActorProcessingErr> {
        if self.watching || !self.pending.values().all(BTreeSet::is_empty) {
            return Ok(());
        }
        let monitor_can = self.passes < self.max_passes && !self.gave_up.contains(&Child::Monitor);
        if monitor_can {
            if let Some(m) = &self.monitor {
                self.watching = true;
                self.passes += 1;
                m.send_message(Watch)?;
                return Ok(());
            }
        }
        if let Some(tx) = self.idle.take() {
            let _ = tx.send(std::mem::take(&mut self.done));
        }
        Ok(())
    }
}

impl Actor for PipelineSupervisor {
    type Msg = PipelineMsg;
    type State = PipelineState;
    type Arguments = PipelineArgs;

    async fn pre_start(
        &self,
        me: ActorRef<PipelineMsg>,
        a: PipelineArgs,
    ) -> Result<PipelineState, ActorProcessingErr> {
        let mut children: Vec<Child> = Step::ALL.iter().map(|s| Child::Worker(*s)).collect();
        children.push(Child::Monitor);
        let mut state = PipelineState {
            work: a.work,
            workers: HashMap::new(),
            monitor: None,
            ids: HashMap::new(),
            trackers: children
                .iter()
                .map(|c| (*c, RestartTracker::new(a.policy)))
                .collect(),
            gave_up: HashSet::new(),
            pending: HashMap::new(),
            settled: HashSet::new(),
            watching: false,
            passes: 0,
            max_passes: a.max_monitor_passes,
            done: Idle::default(),
            idle: a.idle,
            chaos: a.panic_once.map(|c| (c, Arc::new(AtomicBool::new(false)))),
            started: Instant::now(),
        };
        let started: Vec<Event> = std::iter::once("pipeline".to_string())
            .chain(children.iter().map(|c| c.actor()))
            .filter(|actor| a.announced.first(actor))
            .map(|actor| Event::from(ActorStarted { actor }))
            .collect();
        if !started.is_empty() {
            state
                .work
                .lock()
                .await
                .record(started)
                .await
                .map_err(ActorProcessingErr::from)?;
        }
        state.spawn_monitor(&me).await?;
        // Later steps first, so work an earlier worker moves on finds its next worker.
        for step in Step::ALL.iter().rev() {
            state.spawn(&me, *step).await?;
        }
        state.check_idle()?;
        Ok(state)
    }

    async fn handle(
        &self,
        me: ActorRef<PipelineMsg>,
        msg: PipelineMsg,
        state: &mut PipelineState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PipelineMsg::Done(done) => {
                if let Some(q) = state.pending.get_mut(&done.step) {
                    q.remove(&done.id);
                }
                let settled = matches!(
                    (&done.result, done.step),
                    (Err(_), _) | (Ok((false, _)), Step::Generate)
                );
                if settled {
                    state.settled.insert((done.step, done.id));
                }
                state.done.jobs.push(done);
                // What it moved on is waiting for a later step now.
                state.fill(&Step::ALL).await?;
                state.check_idle()?;
            }
            PipelineMsg::Skipped(step, id) => {
                if let Some(q) = state.pending.get_mut(&step) {
                    q.remove(&id);
                }
                state.check_idle()?;
            }
            PipelineMsg::Watched(result) => {
                state.watching = false;
                match result {
                    Ok(lines) => state.done.monitor.extend(lines),
                    Err(e) => {
                        state.done.monitor_errors.push(e.to_string());
                        // A pass that cannot be recorded is not retried in this run.
                        state.passes = state.max_passes;
                    }
                }
                // A rollback put a strategy back in a stage's queue.
                state.fill(&Step::ALL).await?;
                if state.pending.values().all(BTreeSet::is_empty) {
                    // Nothing new since the pass: done.
                    state.passes = state.max_passes;
                }
                state.check_idle()?;
            }
            PipelineMsg::Restart(step) => {
                state.spawn(&me, step).await?;
                state.check_idle()?;
            }
            PipelineMsg::RestartMonitor => {
                state.spawn_monitor(&me).await?;
                state.check_idle()?;
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<PipelineMsg>,
        evt: SupervisionEvent,
        state: &mut PipelineState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, reason)) = crate::supervisor::ended(evt) else {
            return Ok(());
        };
        let Some(child) = state.ids.remove(&cell.get_id()) else {
            return Ok(());
        };
        match child {
            Child::Worker(step) => {
                state.workers.remove(&step);
            }
            Child::Monitor => state.monitor = None,
        }
        let Some(tracker) = state.trackers.get_mut(&child) else {
            return Ok(());
        };
        let decision = tracker.on_failure(state.started.elapsed());
        let actor = child.actor();
        tracing::warn!(%actor, %reason, ?decision, "pipeline worker ended");
        let event = decision.to_event(&actor, &reason, tracker.policy());
        state
            .work
            .lock()
            .await
            .record(vec![event])
            .await
            .map_err(ActorProcessingErr::from)?;
        match (decision, child) {
            (RestartDecision::Restart { backoff, .. }, Child::Worker(step)) => {
                me.send_after(backoff, move || PipelineMsg::Restart(step));
            }
            (RestartDecision::Restart { backoff, .. }, Child::Monitor) => {
                me.send_after(backoff, || PipelineMsg::RestartMonitor);
            }
            (RestartDecision::GiveUp { .. }, c) => {
                // Its work stays in the log for the next start; this run stops waiting on it.
                state.gave_up.insert(c);
                match c {
                    Child::Worker(step) => {
                        if let Some(q) = state.pending.get_mut(&step) {
                            q.clear();
                        }
                    }
                    Child::Monitor => state.watching = false,
                }
                state.check_idle()?;
            }
        }
        Ok(())
    }
}

/// Runs every waiting job and the monitor under the supervisor until nothing is left to do;
/// returns what was done.
///
/// # Errors
/// When the supervisor cannot start or stops before it is idle.
pub async fn run_until_idle(
    work: SharedWork,
    policy: RestartPolicy,
    panic_once: Option<Chaos>,
) -> Result<Idle, CycleError> {
    let (tx, rx) = oneshot::channel();
    let args = PipelineArgs {
        work,
        policy,
        idle: Some(tx),
        panic_once,
        max_monitor_passes: 16,
        announced: crate::supervisor::Announced::default(),
    };
    let (sup, handle) = Actor::spawn(
        Some(format!("pipeline-{}", Uuid::now_v7())),
        PipelineSupervisor,
        args,
    )
    .await
    .map_err(|e| CycleError::Start {
        what: "the pipeline's workers",
        reason: e.to_string(),
    })?;
    let done = rx.await.map_err(|_| CycleError::Stopped {
        what: "the pipeline's workers",
        reason: "they stopped before they were idle".into(),
    });
    sup.stop(None);
    let _ = handle.await;
    done
}
