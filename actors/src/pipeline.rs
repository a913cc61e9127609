//! The downstream pipeline as supervised ractor actors: a generator, a validator, one runner
//! per stage, and the monitor, under the [`PipelineSupervisor`].
//!
//! Dataflow: submitted opportunity → generator → validator → COLD → WARM → LIMITED → FULL
//! runners → monitor, whose rollbacks put strategies back in a runner's queue and whose clones
//! wait for the scorer. Each worker's mailbox is its step's queue.
//!
//! The work itself — generate, validate, run a stage, watch, each recorded write-ahead — is the
//! caller's [`PipelineWork`] (the binary runs it over the data directory), shared by the workers
//! behind one lock: one writer. The lock is held only to record: a job's start is recorded
//! under it ([`PipelineWork::begin`]), its heavy part — rustc, wasmtime, a stage's hours —
//! runs without it as a [`Job`], and its end is recorded under it again
//! ([`PipelineWork::finish`]). So several strategies compile, validate and run stages at once:
//! the validator and each stage runner are pools of workers ([`Concurrency`]), and the
//! supervisor hands a worker its next job when it is free. A long stage run holds one worker of
//! its stage; nothing else waits for it.
//!
//! What is waiting comes from the log ([`PipelineWork::waiting`]), never from memory: at start,
//! after every finished job, and when a worker is restarted after a failure, the queues are
//! filled from the read models, so the job a worker died in is resumed (a stage under its own
//! run id) and the jobs queued behind it are not lost. A job the log no longer shows waiting is
//! dropped, never done twice; a job is never given to two workers at once. Each start, restart
//! and give-up is an event.

use crate::supervisor::{CycleError, HostError};
use std::collections::{HashMap, HashSet, VecDeque};
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
    /// A generated strategy passes validation layers 1–5 (by its strategy id): cheap, fail-fast.
    Screen,
    /// A screened strategy passes layer 6, the sandbox: rustc → wasm32 → wasmtime (by its
    /// strategy id).
    Validate,
    /// A strategy runs a stage (by its strategy id).
    Stage(Stage),
}

impl Step {
    /// Every step, in dataflow order.
    pub const ALL: [Step; 7] = [
        Step::Generate,
        Step::Screen,
        Step::Validate,
        Step::Stage(Stage::Cold),
        Step::Stage(Stage::Warm),
        Step::Stage(Stage::Limited),
        Step::Stage(Stage::Full),
    ];

    /// The worker's name in events: `generator`, `screener`, `validator`, `stage/cold`, …
    pub fn actor(self) -> String {
        match self {
            Step::Generate => "generator".into(),
            Step::Screen => "screener".into(),
            Step::Validate => "validator".into(),
            Step::Stage(s) => format!("stage/{}", s.as_str()),
        }
    }

    /// The step named `generator`, `screener`, `validator`, or a stage's name (`cold`, …).
    pub fn parse(name: &str) -> Option<Step> {
        match name.trim() {
            "generator" | "generate" => Some(Step::Generate),
            "screener" | "screen" => Some(Step::Screen),
            "validator" | "validate" => Some(Step::Validate),
            other => Stage::ALL
                .into_iter()
                .find(|s| s.as_str() == other)
                .map(Step::Stage),
        }
    }
}

/// What [`PipelineWork::begin`] left.
pub enum Begun {
    /// The step is done: it was cheap enough to do under the lock. Moved on or stopped, with
    /// what or why (see [`PipelineWork::finish`]).
    Done((bool, String)),
    /// The step's start is recorded; this job does the heavy part without the lock, and what it
    /// returns goes to [`PipelineWork::finish`].
    Job(Job),
}

/// The heavy part of a step, run without the lock (its CPU work on the blocking pool).
pub type Job = WorkFuture<'static, Result<JobOutput, HostError>>;

/// What a [`Job`] came to, for [`PipelineWork::finish`] to record.
#[derive(Debug)]
pub enum JobOutput {
    /// Validation layers 1–5.
    Screen(crate::validator::Screened),
    /// A validation's six layers (the screened ones again, in memory: they are cheap and
    /// deterministic); what is not on the log yet is recorded.
    Validation(crate::validator::ValidationReport),
    /// A stage run, or a step of one on the real clock (its outcome `None` while under way).
    Stage(Box<crate::stages::realclock::StageStep>),
    /// A validation a worker did (`REMOTE_WORKERS`), as it stored it.
    RemoteValidation(crate::workflow::remote::RemoteReport),
}

/// Whether the read models show an opportunity waiting for a strategy: submitted, and none
/// generated for it yet (the caller adds whether it can generate one now).
pub fn opportunity_waits(o: &stratagem_events::projection::OpportunityView) -> bool {
    o.status == stratagem_events::projection::OpportunityStatus::Submitted
        && o.strategies.is_empty()
}

/// Whether the read models show strategy `s` waiting for `step`: layers 1–5 when generated, or
/// its validation started and not screened (cut short); layer 6 when screened; COLD when
/// approved; a later stage when staged in it
/// (FULL until its own run completed; after it the monitor watches); a stage that needs a
/// person's approval (`settings`) not before it is given.
pub fn strategy_waits(
    s: &stratagem_events::projection::StrategyView,
    step: Step,
    settings: &crate::stages::runner::StageSettings,
) -> bool {
    use stratagem_events::projection::StrategyStatus;
    match step {
        Step::Generate => false,
        Step::Screen => {
            s.status == StrategyStatus::Generated
                || (s.status == StrategyStatus::Validating && !s.screened)
        }
        Step::Validate => s.status == StrategyStatus::Validating && s.screened,
        Step::Stage(st) => {
            settings.approved_to_run(st, s.mode, &s.approved_stages, s.held.as_ref().map(|h| h.0))
                && match (st, s.status, s.stage) {
                    (Stage::Cold, StrategyStatus::Approved, _) => true,
                    (Stage::Full, StrategyStatus::Staged, Some(Stage::Full)) => {
                        s.last_completed_stage != Some(Stage::Full)
                    }
                    (_, StrategyStatus::Staged, Some(at)) => at == st,
                    _ => false,
                }
        }
    }
}

/// The pipeline work the workers do, over the log.
pub trait PipelineWork: Send + 'static {
    /// Starts `step` for `id`: records its start (write-ahead), then either does it at once or
    /// returns the [`Job`] to run without the lock.
    fn begin(&mut self, id: Uuid, step: Step) -> WorkFuture<'_, Result<Begun, HostError>>;
    /// Records what the job `begin` returned came to. `Ok((true, what))` when it moved on
    /// (generated, approved, passed and promoted), `Ok((false, why))` when it stopped there (no
    /// template fits, rejected, waits for a person).
    fn finish(
        &mut self,
        id: Uuid,
        step: Step,
        output: JobOutput,
    ) -> WorkFuture<'_, Result<(bool, String), HostError>>;
    /// The ids the log shows waiting for `step`.
    fn waiting(&self, step: Step) -> Vec<Uuid>;
    /// Whether the log shows `id` waiting for `step`.
    fn is_waiting(&self, step: Step, id: Uuid) -> bool {
        self.waiting(step).contains(&id)
    }
    /// Records supervision events.
    fn record(&mut self, events: Vec<Event>) -> WorkFuture<'_, Result<(), HostError>>;
    /// The read models, current with every step recorded through this value.
    fn state(&self) -> &stratagem_events::Projections;
    /// One pass of the monitor over every strategy trading in LIMITED or FULL, recorded;
    /// returns a line for each rollback, retirement or clone it decided.
    fn monitor(&mut self) -> WorkFuture<'_, Result<Vec<String>, HostError>>;
    /// Whether stage runs begin in the log's order (see `dispatch`), as they must on a
    /// recorded timeline, where a run is a replay and its verdict must not depend on how many
    /// workers there are. By default (and on the real clock, where each paper stage lasts hours
    /// of the venue's time) strategies run their stages side by side.
    fn stages_in_log_order(&self) -> bool {
        false
    }
}

/// The work, shared by the workers.
pub type SharedWork = Arc<Mutex<Box<dyn PipelineWork>>>;

/// How many workers each step has: jobs of a step run at once up to this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    /// Validator workers (`VALIDATOR_CONCURRENCY`).
    pub validators: usize,
    /// Workers of each stage's runner (`STAGE_CONCURRENCY`).
    pub stages: usize,
}

impl Concurrency {
    /// One of each: every job in turn.
    pub const SERIAL: Concurrency = Concurrency {
        validators: 1,
        stages: 1,
    };

    /// The default: as many as this machine has cores.
    pub fn of_cores() -> Concurrency {
        let n = std::thread::available_parallelism().map_or(1, usize::from);
        Concurrency {
            validators: n,
            stages: n,
        }
    }

    /// The workers `step` has (the generator has one: a language model's replies are recorded
    /// in turn).
    pub fn of(self, step: Step) -> usize {
        match step {
            Step::Generate => 1,
            Step::Screen | Step::Validate => self.validators.max(1),
            Step::Stage(_) => self.stages.max(1),
        }
    }
}

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency::of_cores()
    }
}

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

/// Which worker of a step's pool (0-based).
pub type Slot = usize;

/// One step's worker.
pub struct Worker;

/// What a worker is started with.
#[derive(Clone)]
pub struct WorkerArgs {
    /// Its step.
    pub step: Step,
    /// Its place in the step's pool.
    pub slot: Slot,
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
        let begun = {
            let mut work = a.work.lock().await;
            // Handlers are idempotent by id: a job the log no longer shows waiting (queued
            // twice around a restart) is dropped, never done twice.
            if !work.is_waiting(a.step, id) {
                drop(work);
                a.supervisor
                    .send_message(PipelineMsg::Skipped(a.step, a.slot, id))?;
                return Ok(());
            }
            work.begin(id, a.step).await
        };
        // Its start is recorded: the next job of the step may begin.
        a.supervisor
            .send_message(PipelineMsg::Started(a.step, a.slot))?;
        // The heavy part runs without the lock: other workers record meanwhile.
        let result = match begun {
            Ok(Begun::Done(done)) => Ok(done),
            Ok(Begun::Job(job)) => match job.await {
                Ok(output) => a.work.lock().await.finish(id, a.step, output).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        a.supervisor.send_message(PipelineMsg::Done(
            a.slot,
            JobDone {
                id,
                step: a.step,
                result,
            },
        ))?;
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
    Done(Slot, JobDone),
    /// A worker dropped a job the log no longer shows waiting.
    Skipped(Step, Slot, Uuid),
    /// A worker recorded its job's start.
    Started(Step, Slot),
    /// The monitor finished a pass.
    Watched(Result<Vec<String>, HostError>),
    /// Start a worker again after its backoff.
    Restart(Step, Slot),
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
    /// Workers per step.
    pub concurrency: Concurrency,
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
    Worker(Step, Slot),
    Monitor,
}

impl Child {
    /// Its name in events: the step's (`validator`), with `#N` for the N-th worker of a pool
    /// after the first (`validator#2`).
    fn actor(self) -> String {
        match self {
            Child::Worker(s, 0) => s.actor(),
            Child::Worker(s, slot) => format!("{}#{}", s.actor(), slot + 1),
            Child::Monitor => "monitor".into(),
        }
    }
}

/// The pipeline supervisor's state.
pub struct PipelineState {
    work: SharedWork,
    concurrency: Concurrency,
    workers: HashMap<(Step, Slot), ActorRef<RunJob>>,
    monitor: Option<ActorRef<Watch>>,
    ids: HashMap<ractor::ActorId, Child>,
    trackers: HashMap<Child, RestartTracker>,
    gave_up: HashSet<Child>,
    /// Jobs waiting for a free worker, per step, in the order the log showed them.
    queue: HashMap<Step, VecDeque<Uuid>>,
    /// The job each busy worker is doing.
    busy: HashMap<(Step, Slot), Uuid>,
    /// The worker of each step whose job's start is not recorded yet: jobs of a step begin one
    /// after the other, in the queue's order (what a stage run reads at its start — the trials
    /// before it — is then what it would read one run after the other).
    starting: HashMap<Step, Slot>,
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
    /// Whether stage runs begin in the log's order
    /// ([`PipelineWork::stages_in_log_order`]).
    in_log_order: bool,
}

impl PipelineState {
    fn chaos_for(&self, c: Chaos) -> Option<Arc<AtomicBool>> {
        self.chaos
            .as_ref()
            .filter(|(x, _)| *x == c)
            .map(|(_, f)| f.clone())
    }

    /// A step one of whose workers was given up: this run stops giving it work (what waits
    /// stays on the log for the next start).
    fn step_gave_up(&self, step: Step) -> bool {
        (0..self.concurrency.of(step)).any(|slot| self.gave_up.contains(&Child::Worker(step, slot)))
    }

    async fn spawn(
        &mut self,
        me: &ActorRef<PipelineMsg>,
        step: Step,
        slot: Slot,
    ) -> Result<(), ActorProcessingErr> {
        let args = WorkerArgs {
            step,
            slot,
            work: self.work.clone(),
            supervisor: me.clone(),
            panic_once: self.chaos_for(Chaos::Worker(step)),
        };
        let (worker, _) = Actor::spawn_linked(
            Some(format!(
                "{}-{}",
                Child::Worker(step, slot).actor(),
                Uuid::now_v7()
            )),
            Worker,
            args,
            me.get_cell(),
        )
        .await?;
        self.ids.insert(worker.get_id(), Child::Worker(step, slot));
        self.workers.insert((step, slot), worker);
        // Its queue, from the log: whatever waits for this step (a restart picks up the job
        // its worker died in; one already done is dropped by the waiting check).
        self.fill(&[step]).await
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

    /// Queues every id the log shows waiting for `steps` that is neither queued nor being
    /// done, then hands out what free workers can take.
    async fn fill(&mut self, steps: &[Step]) -> Result<(), ActorProcessingErr> {
        let waiting: Vec<(Step, Vec<Uuid>)> = {
            let work = self.work.lock().await;
            steps.iter().map(|s| (*s, work.waiting(*s))).collect()
        };
        for (step, ids) in waiting {
            if self.step_gave_up(step) {
                continue;
            }
            let doing: HashSet<Uuid> = self
                .busy
                .iter()
                .filter(|((s, _), _)| *s == step)
                .map(|(_, id)| *id)
                .collect();
            let queue = self.queue.entry(step).or_default();
            let queued: HashSet<Uuid> = queue.iter().copied().collect();
            for id in ids {
                if self.settled.contains(&(step, id)) || queued.contains(&id) || doing.contains(&id)
                {
                    continue;
                }
                queue.push_back(id);
            }
            // In the log's order (ids are UUID v7: their creation order), however the jobs
            // before them finished.
            queue.make_contiguous().sort_unstable();
        }
        // Every step's queue first, then the workers: what one step may begin depends on what
        // the others have queued (see `dispatch`).
        for step in steps {
            if !self.step_gave_up(*step) {
                self.dispatch(*step)?;
            }
        }
        Ok(())
    }

    /// Whether no job of `step` is queued or being done.
    fn step_idle(&self, step: Step) -> bool {
        self.queue.get(&step).is_none_or(VecDeque::is_empty)
            && !self.busy.keys().any(|(s, _)| *s == step)
    }

    /// Gives each free worker of `step` the next job of its queue. Stage runs begin once
    /// generation and validation are idle: strategies then enter COLD in the log's order,
    /// whatever the order their validations finished in, so a run does the same with one
    /// validator as with several.
    ///
    /// On the recorded timeline ([`PipelineWork::stages_in_log_order`]) a strategy's stage run
    /// begins only once no strategy before it in the log's order has a stage run queued or under
    /// way: WARM and LIMITED are judged against the champion, which a FULL run makes (and every
    /// run records the baseline it started with), so each run then sees the champion the
    /// strategies before it left, with one stage worker or several.
    fn dispatch(&mut self, step: Step) -> Result<(), ActorProcessingErr> {
        if matches!(step, Step::Stage(_))
            && !(self.step_idle(Step::Generate)
                && self.step_idle(Step::Screen)
                && self.step_idle(Step::Validate))
        {
            return Ok(());
        }
        if matches!(step, Step::Stage(_)) && self.in_log_order {
            let Some(&next) = self.queue.get(&step).and_then(VecDeque::front) else {
                return Ok(());
            };
            let earlier_stage_work = self
                .busy
                .iter()
                .map(|((s, _), id)| (*s, *id))
                .chain(
                    self.queue
                        .iter()
                        .flat_map(|(s, q)| q.iter().map(move |id| (*s, *id))),
                )
                .any(|(s, id)| matches!(s, Step::Stage(_)) && id < next);
            if earlier_stage_work {
                return Ok(());
            }
        }
        for slot in 0..self.concurrency.of(step) {
            if self.starting.contains_key(&step) {
                break;
            }
            if self.busy.contains_key(&(step, slot)) {
                continue;
            }
            let Some(worker) = self.workers.get(&(step, slot)) else {
                continue;
            };
            let Some(id) = self.queue.get_mut(&step).and_then(VecDeque::pop_front) else {
                break;
            };
            worker.send_message(RunJob(id))?;
            self.busy.insert((step, slot), id);
            self.starting.insert(step, slot);
        }
        Ok(())
    }

    /// A worker is free again.
    fn freed(&mut self, step: Step, slot: Slot) {
        self.busy.remove(&(step, slot));
        self.started(step, slot);
    }

    /// A worker's job has begun (or ended before it could).
    fn started(&mut self, step: Step, slot: Slot) {
        if self.starting.get(&step) == Some(&slot) {
            self.starting.remove(&step);
        }
    }

    /// When every queue is empty and no worker busy: ask the monitor for a pass, or, after one
    /// that left nothing to do, report idle.
    fn check_idle(&mut self) -> Result<(), ActorProcessingErr> {
        if self.watching || !self.busy.is_empty() || !self.queue.values().all(VecDeque::is_empty) {
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
        let mut children: Vec<Child> = Step::ALL
            .iter()
            .flat_map(|s| (0..a.concurrency.of(*s)).map(|slot| Child::Worker(*s, slot)))
            .collect();
        children.push(Child::Monitor);
        let in_log_order = a.work.lock().await.stages_in_log_order();
        let mut state = PipelineState {
            in_log_order,
            work: a.work,
            concurrency: a.concurrency,
            workers: HashMap::new(),
            monitor: None,
            ids: HashMap::new(),
            trackers: children
                .iter()
                .map(|c| (*c, RestartTracker::new(a.policy)))
                .collect(),
            gave_up: HashSet::new(),
            queue: HashMap::new(),
            busy: HashMap::new(),
            starting: HashMap::new(),
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
            for slot in 0..state.concurrency.of(*step) {
                state.spawn(&me, *step, slot).await?;
            }
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
            PipelineMsg::Done(slot, done) => {
                state.freed(done.step, slot);
                // A stage step that stopped short is done or under way on the real clock (its
                // next bars are for the next run): either way not run again in this one.
                let settled = matches!(
                    (&done.result, done.step),
                    (Err(_), _) | (Ok((false, _)), Step::Generate | Step::Stage(_))
                );
                if settled {
                    state.settled.insert((done.step, done.id));
                }
                state.done.jobs.push(done);
                // What it moved on is waiting for a later step now.
                state.fill(&Step::ALL).await?;
                state.check_idle()?;
            }
            PipelineMsg::Started(step, slot) => {
                state.started(step, slot);
                state.dispatch(step)?;
            }
            PipelineMsg::Skipped(step, slot, _) => {
                state.freed(step, slot);
                state.dispatch(step)?;
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
                if state.busy.is_empty() && state.queue.values().all(VecDeque::is_empty) {
                    // Nothing new since the pass: done.
                    state.passes = state.max_passes;
                }
                state.check_idle()?;
            }
            PipelineMsg::Restart(step, slot) => {
                state.spawn(&me, step, slot).await?;
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
            Child::Worker(step, slot) => {
                state.workers.remove(&(step, slot));
                // The job it died in stays waiting on the log: the next fill queues it again.
                state.freed(step, slot);
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
            (RestartDecision::Restart { backoff, .. }, Child::Worker(step, slot)) => {
                me.send_after(backoff, move || PipelineMsg::Restart(step, slot));
            }
            (RestartDecision::Restart { backoff, .. }, Child::Monitor) => {
                me.send_after(backoff, || PipelineMsg::RestartMonitor);
            }
            (RestartDecision::GiveUp { .. }, c) => {
                // Its work stays in the log for the next start; this run stops waiting on it.
                state.gave_up.insert(c);
                match c {
                    Child::Worker(step, _) => {
                        if let Some(q) = state.queue.get_mut(&step) {
                            q.clear();
                        }
                    }
                    Child::Monitor => state.watching = false,
                }
                // What waited behind its jobs in the log's order may begin now.
                for step in Step::ALL {
                    if !state.step_gave_up(step) {
                        state.dispatch(step)?;
                    }
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
    concurrency: Concurrency,
) -> Result<Idle, CycleError> {
    let (tx, rx) = oneshot::channel();
    let args = PipelineArgs {
        work,
        policy,
        idle: Some(tx),
        panic_once,
        max_monitor_passes: 16,
        announced: crate::supervisor::Announced::default(),
        concurrency,
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
