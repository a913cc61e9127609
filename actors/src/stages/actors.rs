//! The stage runners as supervised ractor actors: one [`StageRunner`] per stage, each with its
//! own queue (its mailbox), under the [`StageSupervisor`], which routes a strategy that passes
//! a stage to the next stage's runner.
//!
//! The work itself — run a stage and record it, write-ahead — is the caller's [`StageWork`]
//! (the binary runs it over the data directory), shared by the runners behind one lock: one
//! writer. What is waiting comes from the log ([`StageWork::waiting`]), never from memory: at
//! start, and again when a runner is restarted after a failure, its stage's queue is rebuilt
//! from the read models, so the job it died in (a stage started and not completed) is resumed
//! under its own run id and the jobs queued behind it are not lost. Each restart and give-up is
//! an event.

use std::collections::{BTreeSet, HashMap};
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

/// The stage work the runners do, over the log.
pub trait StageWork: Send + 'static {
    /// Runs `stage` of `strategy` (resuming an open run) and records it; `Ok((true, gate))`
    /// when it passed and was promoted, `Ok((false, why))` when it was rejected.
    fn run(
        &mut self,
        strategy: Uuid,
        stage: Stage,
    ) -> WorkFuture<'_, Result<(bool, String), String>>;
    /// The strategies the log shows waiting for `stage`.
    fn waiting(&self, stage: Stage) -> Vec<Uuid>;
    /// Records supervision events.
    fn record(&mut self, events: Vec<Event>) -> WorkFuture<'_, Result<(), String>>;
    /// The read models, current with every run recorded through this value.
    fn state(&self) -> &stratagem_events::Projections;
    /// One pass of the monitor over every strategy trading in LIMITED or FULL, recorded;
    /// returns a line for each rollback, retirement or clone it decided.
    fn monitor(&mut self) -> WorkFuture<'_, Result<Vec<String>, String>>;
}

/// The work, shared by the runners.
pub type SharedWork = Arc<Mutex<Box<dyn StageWork>>>;

/// What a stage run came to.
#[derive(Debug, Clone, PartialEq)]
pub struct StageJobDone {
    /// Which strategy.
    pub strategy: Uuid,
    /// Which stage.
    pub stage: Stage,
    /// Passed (promoted) or rejected, with the gate or the reason; or could not run (why).
    pub result: Result<(bool, String), String>,
}

fn next(stage: Stage) -> Option<Stage> {
    match stage {
        Stage::Cold => Some(Stage::Warm),
        Stage::Warm => Some(Stage::Limited),
        Stage::Limited => Some(Stage::Full),
        Stage::Full => None,
    }
}

/// A stage runner's message: run this strategy's stage.
pub struct RunJob(pub Uuid);

/// One stage's runner.
pub struct StageRunner;

/// What a runner is started with.
#[derive(Clone)]
pub struct RunnerArgs {
    /// Its stage.
    pub stage: Stage,
    /// The work.
    pub work: SharedWork,
    /// Where results go.
    pub supervisor: ActorRef<StageSupervisorMsg>,
    /// Chaos testing: the first job of this runner in this process panics.
    pub panic_once: Option<Arc<AtomicBool>>,
}

impl Actor for StageRunner {
    type Msg = RunJob;
    type State = RunnerArgs;
    type Arguments = RunnerArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<RunJob>,
        args: RunnerArgs,
    ) -> Result<RunnerArgs, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _me: ActorRef<RunJob>,
        RunJob(id): RunJob,
        a: &mut RunnerArgs,
    ) -> Result<(), ActorProcessingErr> {
        if crate::supervisor::chaos_strikes(a.panic_once.as_deref()) {
            panic!("chaos: the {} runner fails on purpose", a.stage.as_str());
        }
        let mut work = a.work.lock().await;
        // Handlers are idempotent by id: a job the log no longer shows waiting (queued twice
        // around a restart) is dropped, never run twice.
        if !work.waiting(a.stage).contains(&id) {
            drop(work);
            a.supervisor
                .send_message(StageSupervisorMsg::Skipped(a.stage, id))?;
            return Ok(());
        }
        let result = work.run(id, a.stage).await;
        drop(work);
        a.supervisor
            .send_message(StageSupervisorMsg::Done(StageJobDone {
                strategy: id,
                stage: a.stage,
                result,
            }))?;
        Ok(())
    }
}

/// Messages of the stage supervisor.
pub enum StageSupervisorMsg {
    /// A runner finished a job.
    Done(StageJobDone),
    /// A runner dropped a job the log no longer shows waiting.
    Skipped(Stage, Uuid),
    /// Start a runner again after its backoff.
    Restart(Stage),
}

/// The stage supervisor.
pub struct StageSupervisor;

/// What the stage supervisor is started with.
pub struct StageSupervisorArgs {
    /// The work.
    pub work: SharedWork,
    /// Restart policy of the runners.
    pub policy: RestartPolicy,
    /// Told once every queue is empty (for `run --once`), with every job's result.
    pub idle: Option<oneshot::Sender<Vec<StageJobDone>>>,
    /// Chaos testing: this stage's runner panics on its first job.
    pub panic_once: Option<Stage>,
}

/// The stage supervisor's state.
pub struct StageSupervisorState {
    work: SharedWork,
    runners: HashMap<Stage, ActorRef<RunJob>>,
    ids: HashMap<ractor::ActorId, Stage>,
    trackers: HashMap<Stage, RestartTracker>,
    pending: HashMap<Stage, BTreeSet<Uuid>>,
    done: Vec<StageJobDone>,
    idle: Option<oneshot::Sender<Vec<StageJobDone>>>,
    chaos: Option<(Stage, Arc<AtomicBool>)>,
    started: Instant,
}

impl StageSupervisorState {
    async fn spawn(
        &mut self,
        me: &ActorRef<StageSupervisorMsg>,
        stage: Stage,
    ) -> Result<(), ActorProcessingErr> {
        let args = RunnerArgs {
            stage,
            work: self.work.clone(),
            supervisor: me.clone(),
            panic_once: self
                .chaos
                .as_ref()
                .filter(|(s, _)| *s == stage)
                .map(|(_, f)| f.clone()),
        };
        let (runner, _) = Actor::spawn_linked(
            Some(format!("stage-{}-{}", stage.as_str(), Uuid::now_v7())),
            StageRunner,
            args,
            me.get_cell(),
        )
        .await?;
        self.ids.insert(runner.get_id(), stage);
        self.runners.insert(stage, runner);
        // Its queue, from the log: whatever waits for this stage.
        let waiting = self.work.lock().await.waiting(stage);
        let queue = self.pending.entry(stage).or_default();
        queue.clear();
        queue.extend(waiting.iter().copied());
        if let Some(r) = self.runners.get(&stage) {
            for id in waiting {
                r.send_message(RunJob(id))?;
            }
        }
        Ok(())
    }

    fn check_idle(&mut self) {
        if self.pending.values().all(BTreeSet::is_empty) {
            if let Some(tx) = self.idle.take() {
                let _ = tx.send(std::mem::take(&mut self.done));
            }
        }
    }
}

impl Actor for StageSupervisor {
    type Msg = StageSupervisorMsg;
    type State = StageSupervisorState;
    type Arguments = StageSupervisorArgs;

    async fn pre_start(
        &self,
        me: ActorRef<StageSupervisorMsg>,
        a: StageSupervisorArgs,
    ) -> Result<StageSupervisorState, ActorProcessingErr> {
        let mut state = StageSupervisorState {
            work: a.work,
            runners: HashMap::new(),
            ids: HashMap::new(),
            trackers: Stage::ALL
                .iter()
                .map(|s| (*s, RestartTracker::new(a.policy)))
                .collect(),
            pending: HashMap::new(),
            done: Vec::new(),
            idle: a.idle,
            chaos: a.panic_once.map(|s| (s, Arc::new(AtomicBool::new(false)))),
            started: Instant::now(),
        };
        let started: Vec<Event> = Stage::ALL
            .iter()
            .map(|s| {
                Event::from(ActorStarted {
                    actor: format!("stage/{}", s.as_str()),
                })
            })
            .collect();
        state
            .work
            .lock()
            .await
            .record(started)
            .await
            .map_err(ActorProcessingErr::from)?;
        // Later stages first, so a strategy promoted by an earlier runner finds its next one.
        for stage in Stage::ALL.iter().rev() {
            state.spawn(&me, *stage).await?;
        }
        state.check_idle();
        Ok(state)
    }

    async fn handle(
        &self,
        me: ActorRef<StageSupervisorMsg>,
        msg: StageSupervisorMsg,
        state: &mut StageSupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            StageSupervisorMsg::Done(done) => {
                if let Some(q) = state.pending.get_mut(&done.stage) {
                    q.remove(&done.strategy);
                }
                if let (Ok((true, _)), Some(to)) = (&done.result, next(done.stage)) {
                    state.pending.entry(to).or_default().insert(done.strategy);
                    if let Some(r) = state.runners.get(&to) {
                        r.send_message(RunJob(done.strategy))?;
                    }
                }
                state.done.push(done);
                state.check_idle();
            }
            StageSupervisorMsg::Skipped(stage, id) => {
                if let Some(q) = state.pending.get_mut(&stage) {
                    q.remove(&id);
                }
                state.check_idle();
            }
            StageSupervisorMsg::Restart(stage) => {
                state.spawn(&me, stage).await?;
                state.check_idle();
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<StageSupervisorMsg>,
        evt: SupervisionEvent,
        state: &mut StageSupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, reason)) = crate::supervisor::ended(evt) else {
            return Ok(());
        };
        let Some(stage) = state.ids.remove(&cell.get_id()) else {
            return Ok(());
        };
        state.runners.remove(&stage);
        let Some(tracker) = state.trackers.get_mut(&stage) else {
            return Ok(());
        };
        let decision = tracker.on_failure(state.started.elapsed());
        let actor = format!("stage/{}", stage.as_str());
        tracing::warn!(%actor, %reason, ?decision, "stage runner ended");
        let event = decision.to_event(&actor, &reason, tracker.policy());
        state
            .work
            .lock()
            .await
            .record(vec![event])
            .await
            .map_err(ActorProcessingErr::from)?;
        match decision {
            RestartDecision::Restart { backoff, .. } => {
                me.send_after(backoff, move || StageSupervisorMsg::Restart(stage));
            }
            RestartDecision::GiveUp { .. } => {
                // Its queue stays in the log for the next start; this run stops waiting on it.
                if let Some(q) = state.pending.get_mut(&stage) {
                    q.clear();
                }
                state.check_idle();
            }
        }
        Ok(())
    }
}

/// Runs every waiting stage job under the supervisor until all queues are empty; returns the
/// results in completion order.
///
/// # Errors
/// When the supervisor cannot start or stops before the queues are empty.
pub async fn run_until_idle(
    work: SharedWork,
    policy: RestartPolicy,
    panic_once: Option<Stage>,
) -> Result<Vec<StageJobDone>, String> {
    let (tx, rx) = oneshot::channel();
    let args = StageSupervisorArgs {
        work,
        policy,
        idle: Some(tx),
        panic_once,
    };
    let (sup, handle) = Actor::spawn(
        Some(format!("stages-{}", Uuid::now_v7())),
        StageSupervisor,
        args,
    )
    .await
    .map_err(|e| format!("cannot start the stage runners: {e}"))?;
    let done = rx
        .await
        .map_err(|_| "the stage runners stopped before their queues were empty".to_string());
    sup.stop(None);
    let _ = handle.await;
    done
}
