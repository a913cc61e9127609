//! The root supervisor: every actor of a cycle under one tree, wired as the dataflow.
//!
//! ```text
//! root ─┬─ notifier                     (lives as long as the root)
//!       ├─ discovery ─┬─ scorer          (single writer of discovery)
//!       │             └─ source/<name>…  (one per due source)
//!       └─ pipeline ──┬─ generator ─ validator ─ stage/cold … stage/full
//!                     └─ monitor
//! ```
//!
//! A cycle ([`RootMsg::Cycle`]) runs discovery until every due source has been checked once
//! (its opportunities scored and recorded by the scorer), stops it, then runs the pipeline
//! until it is idle. Clones the monitor spawned wait to be scored, so the cycle goes round
//! again — discovery with no source (the scorer scores what waits at start), then the pipeline —
//! until nothing waits. The log is the caller's ([`CycleHost`]): each phase opens it and owns
//! it while it runs (one writer at a time).
//!
//! Supervision: discovery and the pipeline are the root's children, each restarted after the
//! [`RestartPolicy`]'s backoff when it fails (`actor.restarted`) and, past the intensity limit,
//! given up (`actor.gave_up`): the cycle then fails, and the caller stops — the escalation
//! above the root is the process's exit, for whatever runs it to see. A phase restarted resumes
//! from the log: sources already checked are known by id, work in flight is what the read
//! models show. The notifier is restarted the same way; while it is down, deliveries fail as
//! events and the pipeline carries on.

use crate::supervisor::{CycleError, HostError};
use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use stratagem_events::{ActorStarted, Event};
use uuid::Uuid;

use crate::discovery::actors::{DiscoverySupervisor, ScorerMsg, SupervisorArgs, SupervisorMsg};
use crate::discovery::CheckSummary;
use crate::notify::{NotifierActor, NotifierArgs, NotifierSlot, Notify, SlackSettings};
use crate::pipeline::{
    Chaos, Concurrency, Idle, PipelineArgs, PipelineMsg, PipelineSupervisor, SharedWork, WorkFuture,
};
use crate::sources::SourceName;
use crate::supervisor::{RestartDecision, RestartPolicy, RestartTracker};

/// What the root needs of the caller: the log, opened for each phase.
pub trait CycleHost: Send + Sync + 'static {
    /// Discovery's arguments for `sources`, its scorer owning a freshly opened log and
    /// delivering through `notify`.
    fn discovery(
        &self,
        sources: Vec<SourceName>,
        notify: Notify,
    ) -> WorkFuture<'_, Result<SupervisorArgs, HostError>>;
    /// Called once discovery has stopped (the conditional-GET cache is saved here).
    fn discovery_stopped(&self);
    /// The pipeline's work over a freshly opened log, delivering through `notify`.
    fn pipeline(&self, notify: Notify) -> WorkFuture<'_, Result<SharedWork, HostError>>;
    /// Records supervision events of the root's children (opens the log for it).
    fn record(&self, events: Vec<Event>) -> WorkFuture<'_, Result<(), HostError>>;
}

/// What a cycle did.
#[derive(Default)]
pub struct CycleOutcome {
    /// Every source check, in order.
    pub summaries: Vec<CheckSummary>,
    /// Sources not started and why.
    pub skipped: Vec<(SourceName, String)>,
    /// Each pipeline round's jobs and monitor decisions.
    pub rounds: Vec<Idle>,
    /// The last round's work, for reading the final state (dropping it releases the log).
    pub work: Option<SharedWork>,
}

/// Messages of the root.
pub enum RootMsg {
    /// Run one cycle: these sources, then everything in flight.
    Cycle(
        Vec<SourceName>,
        RpcReplyPort<Result<CycleOutcome, CycleError>>,
    ),
    /// Discovery's arguments are ready (the log is open), or could not be made.
    DiscoveryReady(u64, Result<Box<SupervisorArgs>, HostError>),
    /// Discovery checked every source it started.
    DiscoveryDone(u64, Vec<CheckSummary>, Vec<(SourceName, String)>),
    /// The pipeline's work is ready (the log is open), or could not be made.
    PipelineReady(u64, Result<SharedWork, HostError>),
    /// The pipeline is idle.
    PipelineIdle(u64, Idle),
    /// Every worker has let go of the pipeline's work.
    PipelineReleased(u64, SharedWork),
    /// Start discovery (again, after a backoff).
    StartDiscovery,
    /// Start the pipeline (again, after a backoff).
    StartPipeline,
    /// Start the notifier again after its backoff.
    RestartNotifier,
    /// Record what waits to be recorded (before stopping).
    Flush(RpcReplyPort<()>),
}

/// What the root starts with.
pub struct RootArgs {
    /// The log.
    pub host: Arc<dyn CycleHost>,
    /// Restart policy of every child.
    pub policy: RestartPolicy,
    /// The Slack channel, if configured.
    pub slack: Option<SlackSettings>,
    /// Where the notifier actor's address is kept (the courier's channel looks it up).
    pub notifier: NotifierSlot,
    /// The courier the phases hand their messages to.
    pub notify: Notify,
    /// Chaos testing: a pipeline worker, or the monitor, fails on its first job.
    pub pipeline_chaos: Option<Chaos>,
    /// Chaos testing: the notifier fails on its first delivery.
    pub notifier_chaos: bool,
    /// Rounds of a cycle at most (clones of clones are bounded anyway; this is a guard).
    pub max_rounds: u32,
    /// Workers of the validator and of each stage runner.
    pub concurrency: Concurrency,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Child {
    Discovery,
    Pipeline,
    Notifier,
}

impl Child {
    fn name(self) -> &'static str {
        match self {
            Child::Discovery => "discovery",
            Child::Pipeline => "pipeline",
            Child::Notifier => "notifier",
        }
    }
}

enum Phase {
    Waiting,
    Discovery(ActorRef<SupervisorMsg>),
    Pipeline(ActorRef<PipelineMsg>, SharedWork),
}

/// The root's state.
pub struct RootState {
    host: Arc<dyn CycleHost>,
    slack: Option<SlackSettings>,
    notifier: NotifierSlot,
    notify: Notify,
    notifier_chaos: Option<Arc<AtomicBool>>,
    pipeline_chaos: Option<Chaos>,
    trackers: std::collections::HashMap<Child, RestartTracker>,
    children: std::collections::HashMap<ractor::ActorId, Child>,
    /// Children the root stopped itself: their end is no failure.
    stopping: HashSet<ractor::ActorId>,
    phase: Phase,
    /// The phase's generation: a report from an earlier (failed) incarnation is ignored.
    generation: u64,
    caller: Option<RpcReplyPort<Result<CycleOutcome, CycleError>>>,
    sources: Vec<SourceName>,
    round: u32,
    max_rounds: u32,
    concurrency: Concurrency,
    outcome: CycleOutcome,
    /// Supervision events of the notifier, waiting for the log between two phases (a phase
    /// holds the log for as long as it runs).
    unrecorded: Vec<Event>,
    started: Instant,
    /// Actors whose start this process has recorded.
    announced: crate::supervisor::Announced,
}

/// Records what waits, before a phase opens the log.
async fn record_waiting(host: &dyn CycleHost, events: Vec<Event>) {
    if events.is_empty() {
        return;
    }
    if let Err(e) = host.record(events).await {
        tracing::warn!(error = %e, "cannot record a supervision event");
    }
}

impl RootState {
    fn notify(&self) -> Notify {
        self.notify.clone()
    }

    async fn spawn_notifier(&mut self, me: &ActorRef<RootMsg>) -> Result<(), ActorProcessingErr> {
        let Some(settings) = self.slack.clone() else {
            return Ok(());
        };
        let (actor, _) = Actor::spawn_linked(
            Some(format!("notifier-{}", Uuid::now_v7())),
            NotifierActor,
            NotifierArgs {
                settings,
                panic_once: self.notifier_chaos.clone(),
            },
            me.get_cell(),
        )
        .await?;
        self.children.insert(actor.get_id(), Child::Notifier);
        if let Ok(mut slot) = self.notifier.lock() {
            *slot = Some(actor);
        }
        Ok(())
    }

    /// Opens the log for discovery off the root's mailbox: the root never waits on the log,
    /// since what releases it may be a supervision event only the root can take.
    fn start_discovery(&mut self, me: &ActorRef<RootMsg>) {
        self.generation += 1;
        let generation = self.generation;
        let sources = if self.round == 0 {
            self.sources.clone()
        } else {
            Vec::new()
        };
        let (host, notify, root) = (self.host.clone(), self.notify(), me.clone());
        let waiting = std::mem::take(&mut self.unrecorded);
        tokio::spawn(async move {
            record_waiting(host.as_ref(), waiting).await;
            let args = host.discovery(sources, notify).await.map(Box::new);
            let _ = root.send_message(RootMsg::DiscoveryReady(generation, args));
        });
    }

    async fn discovery_ready(
        &mut self,
        me: &ActorRef<RootMsg>,
        args: SupervisorArgs,
    ) -> Result<(), ActorProcessingErr> {
        let generation = self.generation;
        let sources = args.sources.clone();
        let args = SupervisorArgs {
            announced: self.announced.clone(),
            ..args
        };
        let (sup, _) = Actor::spawn_linked(
            Some(format!("discovery-{}", Uuid::now_v7())),
            DiscoverySupervisor,
            args,
            me.get_cell(),
        )
        .await?;
        self.children.insert(sup.get_id(), Child::Discovery);
        self.phase = Phase::Discovery(sup.clone());
        // Until every source it started has a check recorded (or was given up).
        let root = me.clone();
        tokio::spawn(async move {
            let Ok(skipped) = ractor::call!(sup, SupervisorMsg::Skipped) else {
                return;
            };
            let Ok(scorer) = ractor::call!(sup, SupervisorMsg::Scorer) else {
                return;
            };
            let started: HashSet<SourceName> = sources
                .iter()
                .copied()
                .filter(|s| !skipped.iter().any(|(k, _)| k == s))
                .collect();
            loop {
                let Ok(summaries) = ractor::call!(scorer, ScorerMsg::Summaries) else {
                    return; // discovery died: the supervision event restarts it
                };
                let Ok(gave_up) = ractor::call!(sup, SupervisorMsg::GaveUp) else {
                    return;
                };
                let all_done = started.iter().all(|s| {
                    gave_up.contains(s) || summaries.iter().any(|c| c.source == s.as_str())
                });
                if all_done {
                    let _ =
                        root.send_message(RootMsg::DiscoveryDone(generation, summaries, skipped));
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Ok(())
    }

    fn start_pipeline(&mut self, me: &ActorRef<RootMsg>) {
        self.generation += 1;
        let generation = self.generation;
        let (host, notify, root) = (self.host.clone(), self.notify(), me.clone());
        let waiting = std::mem::take(&mut self.unrecorded);
        tokio::spawn(async move {
            record_waiting(host.as_ref(), waiting).await;
            let work = host.pipeline(notify).await;
            let _ = root.send_message(RootMsg::PipelineReady(generation, work));
        });
    }

    async fn pipeline_ready(
        &mut self,
        me: &ActorRef<RootMsg>,
        work: SharedWork,
    ) -> Result<(), ActorProcessingErr> {
        let generation = self.generation;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (sup, _) = Actor::spawn_linked(
            Some(format!("pipeline-{}", Uuid::now_v7())),
            PipelineSupervisor,
            PipelineArgs {
                work: work.clone(),
                policy: RestartPolicy::default(),
                idle: Some(tx),
                panic_once: if self.round == 0 {
                    self.pipeline_chaos
                } else {
                    None
                },
                max_monitor_passes: 16,
                announced: self.announced.clone(),
                concurrency: self.concurrency,
            },
            me.get_cell(),
        )
        .await?;
        self.children.insert(sup.get_id(), Child::Pipeline);
        self.phase = Phase::Pipeline(sup, work);
        let root = me.clone();
        tokio::spawn(async move {
            if let Ok(idle) = rx.await {
                let _ = root.send_message(RootMsg::PipelineIdle(generation, idle));
            }
        });
        Ok(())
    }

    /// Stops the phase's supervisor (ractor then stops its children) and returns the
    /// pipeline's work, if that was the phase.
    async fn stop_phase(&mut self) -> Option<SharedWork> {
        let phase = std::mem::replace(&mut self.phase, Phase::Waiting);
        let (cell, work) = match phase {
            Phase::Discovery(sup) => (Some(sup.get_cell()), None),
            Phase::Pipeline(sup, work) => (Some(sup.get_cell()), Some(work)),
            Phase::Waiting => (None, None),
        };
        if let Some(cell) = cell {
            self.stopping.insert(cell.get_id());
            let _ = cell
                .stop_and_wait(None, Some(Duration::from_secs(30)))
                .await;
        }
        work
    }

    /// A child failed (or could not start): record it, then restart it after its backoff, or
    /// give up — for discovery or the pipeline, failing the cycle. Recording opens the log, so
    /// it happens off the root's mailbox, and the restart is asked for after it.
    fn failed(&mut self, me: &ActorRef<RootMsg>, child: Child, reason: &str) {
        let Some(tracker) = self.trackers.get_mut(&child) else {
            return;
        };
        let decision = tracker.on_failure(self.started.elapsed());
        let window = tracker.policy().window;
        let event = decision.to_event(child.name(), reason, tracker.policy());
        tracing::warn!(actor = child.name(), %reason, ?decision, "root child ended");
        if child != Child::Notifier {
            // Whatever of the log the phase held is let go of.
            self.phase = Phase::Waiting;
            self.generation += 1;
        }
        let next = match (decision, child) {
            (RestartDecision::Restart { backoff, .. }, c) => Some((
                backoff,
                match c {
                    Child::Discovery => RootMsg::StartDiscovery,
                    Child::Pipeline => RootMsg::StartPipeline,
                    Child::Notifier => RootMsg::RestartNotifier,
                },
            )),
            (RestartDecision::GiveUp { restarts }, c) => {
                if c != Child::Notifier {
                    if let Some(caller) = self.caller.take() {
                        let _ = caller.send(Err(CycleError::GaveUp {
                            child: c.name(),
                            restarts,
                            window_secs: window.as_secs(),
                            reason: reason.to_string(),
                        }));
                    }
                }
                // A notifier given up: notifications stop, each delivery fails as an event,
                // and the pipeline goes on.
                None
            }
        };
        if child == Child::Notifier {
            // A phase may hold the log for long: the event is recorded before the next one.
            self.unrecorded.push(event);
            if let Some((backoff, msg)) = next {
                me.send_after(backoff, move || msg);
            }
            return;
        }
        let (host, root) = (self.host.clone(), me.clone());
        tokio::spawn(async move {
            record_waiting(host.as_ref(), vec![event]).await;
            if let Some((backoff, msg)) = next {
                tokio::time::sleep(backoff).await;
                let _ = root.send_message(msg);
            }
        });
    }
}

impl Actor for RootSupervisor {
    type Msg = RootMsg;
    type State = RootState;
    type Arguments = RootArgs;

    async fn pre_start(
        &self,
        me: ActorRef<RootMsg>,
        a: RootArgs,
    ) -> Result<RootState, ActorProcessingErr> {
        let mut state = RootState {
            host: a.host,
            slack: a.slack,
            notifier: a.notifier,
            notify: a.notify,
            notifier_chaos: a.notifier_chaos.then(|| Arc::new(AtomicBool::new(false))),
            pipeline_chaos: a.pipeline_chaos,
            trackers: [Child::Discovery, Child::Pipeline, Child::Notifier]
                .into_iter()
                .map(|c| (c, RestartTracker::new(a.policy)))
                .collect(),
            children: std::collections::HashMap::new(),
            stopping: HashSet::new(),
            phase: Phase::Waiting,
            generation: 0,
            caller: None,
            sources: Vec::new(),
            round: 0,
            max_rounds: a.max_rounds.max(1),
            concurrency: a.concurrency,
            outcome: CycleOutcome::default(),
            unrecorded: Vec::new(),
            started: Instant::now(),
            announced: crate::supervisor::Announced::default(),
        };
        if state.slack.is_some() && state.announced.first("notifier") {
            state
                .host
                .record(vec![Event::from(ActorStarted {
                    actor: "notifier".into(),
                })])
                .await
                .map_err(ActorProcessingErr::from)?;
            state.spawn_notifier(&me).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        me: ActorRef<RootMsg>,
        msg: RootMsg,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RootMsg::Cycle(sources, reply) => {
                if state.caller.is_some() {
                    let _ = reply.send(Err(CycleError::Busy));
                    return Ok(());
                }
                state.caller = Some(reply);
                state.sources = sources;
                state.round = 0;
                state.outcome = CycleOutcome::default();
                state.start_discovery(&me);
            }
            RootMsg::DiscoveryReady(generation, ready) => {
                if generation != state.generation || state.caller.is_none() {
                    return Ok(());
                }
                match ready {
                    Ok(args) => state.discovery_ready(&me, *args).await?,
                    Err(e) => state.failed(&me, Child::Discovery, &format!("cannot start: {e}")),
                }
            }
            RootMsg::DiscoveryDone(generation, summaries, skipped) => {
                if generation != state.generation {
                    return Ok(());
                }
                state.stop_phase().await;
                state.host.discovery_stopped();
                state.outcome.summaries.extend(summaries);
                if state.round == 0 {
                    state.outcome.skipped = skipped;
                }
                state.start_pipeline(&me);
            }
            RootMsg::PipelineReady(generation, ready) => {
                if generation != state.generation || state.caller.is_none() {
                    return Ok(());
                }
                match ready {
                    Ok(work) => state.pipeline_ready(&me, work).await?,
                    Err(e) => state.failed(&me, Child::Pipeline, &format!("cannot start: {e}")),
                }
            }
            RootMsg::PipelineIdle(generation, idle) => {
                if generation != state.generation {
                    return Ok(());
                }
                state.outcome.rounds.push(idle);
                let Some(work) = state.stop_phase().await else {
                    return Ok(());
                };
                // The workers let go of the work as they stop; wait for that off the mailbox.
                let root = me.clone();
                tokio::spawn(async move {
                    for _ in 0..3000 {
                        if Arc::strong_count(&work) == 1 {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    let _ = root.send_message(RootMsg::PipelineReleased(generation, work));
                });
            }
            RootMsg::PipelineReleased(generation, work) => {
                if generation != state.generation {
                    return Ok(());
                }
                let more = work.lock().await.state().opportunities.values().any(|o| {
                    o.status == stratagem_events::projection::OpportunityStatus::Discovered
                        && o.score.is_none()
                });
                state.round += 1;
                if more && state.round < state.max_rounds {
                    // Clones wait for the scorer: round again, the log released first.
                    drop(work);
                    state.start_discovery(&me);
                } else if let Some(caller) = state.caller.take() {
                    let mut outcome = std::mem::take(&mut state.outcome);
                    outcome.work = Some(work);
                    let _ = caller.send(Ok(outcome));
                }
            }
            RootMsg::StartDiscovery => {
                if state.caller.is_some() {
                    state.start_discovery(&me);
                }
            }
            RootMsg::StartPipeline => {
                if state.caller.is_some() {
                    state.start_pipeline(&me);
                }
            }
            RootMsg::RestartNotifier => state.spawn_notifier(&me).await?,
            RootMsg::Flush(reply) => {
                let (host, waiting) = (state.host.clone(), std::mem::take(&mut state.unrecorded));
                tokio::spawn(async move {
                    record_waiting(host.as_ref(), waiting).await;
                    let _ = reply.send(());
                });
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<RootMsg>,
        evt: SupervisionEvent,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, reason)) = crate::supervisor::ended(evt) else {
            return Ok(());
        };
        let id = cell.get_id();
        let Some(child) = state.children.remove(&id) else {
            return Ok(());
        };
        if state.stopping.remove(&id) {
            return Ok(());
        }
        if child == Child::Notifier {
            if let Ok(mut slot) = state.notifier.lock() {
                *slot = None;
            }
        }
        state.failed(&me, child, &reason);
        Ok(())
    }
}

/// The root supervisor.
pub struct RootSupervisor;

/// A running root supervisor.
pub struct Root {
    actor: ActorRef<RootMsg>,
    handle: tokio::task::JoinHandle<()>,
}

impl Root {
    /// Starts the root (and the notifier, when Slack is configured).
    ///
    /// # Errors
    /// When it cannot start (its start could not be recorded, say).
    pub async fn start(args: RootArgs) -> Result<Root, CycleError> {
        let (actor, handle) = Actor::spawn(
            Some(format!("root-{}", Uuid::now_v7())),
            RootSupervisor,
            args,
        )
        .await
        .map_err(|e| CycleError::Start {
            what: "the root supervisor",
            reason: e.to_string(),
        })?;
        Ok(Root { actor, handle })
    }

    /// Runs one cycle: `sources`, then everything in flight, until nothing waits.
    ///
    /// # Errors
    /// When a phase was given up (past its restart intensity) or the root stopped.
    pub async fn cycle(&self, sources: Vec<SourceName>) -> Result<CycleOutcome, CycleError> {
        ractor::call!(self.actor, RootMsg::Cycle, sources).map_err(|e| CycleError::Stopped {
            what: "the root supervisor",
            reason: e.to_string(),
        })?
    }

    /// Records what waits to be recorded, then stops the root and every actor under it.
    pub async fn stop(self) {
        let _ = ractor::call!(self.actor, RootMsg::Flush);
        self.actor.stop(None);
        let _ = self.handle.await;
    }
}
