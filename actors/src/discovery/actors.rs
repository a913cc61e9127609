//! Discovery as supervised ractor actors: one [`SourceActor`] per enabled source, each on its
//! own interval; one [`ScorerActor`] that owns the log and records each check; and the
//! [`DiscoverySupervisor`] over them.
//!
//! Messages: a source actor, on its timer, asks the scorer what the log already holds for it
//! (`Known`), checks its source (the only I/O), and sends the result (`Checked`). The scorer
//! extracts, scores and appends the check as one batch, and only then takes the next message —
//! write-ahead, one writer. ractor's default supervisor stops itself when a child dies; ours
//! restarts a failed source actor after the [`RestartPolicy`]'s backoff, records
//! `actor.restarted`, and past the intensity limit records `actor.gave_up` and leaves that source
//! stopped. A restarted source actor holds nothing of its own: what it must not repeat comes
//! from the log through the scorer.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use stratagem_events::{ActorStarted, Event, Projections};

use super::{known_ids_of, plan_check, plan_rescore, CheckSummary, ScoringContext};
use crate::sources::check::{check_source, not_ready, Known, Mode, SourceCheck};
use crate::sources::config::DiscoveryConfig;
use crate::sources::http::Validators;
use crate::sources::SourceName;
use crate::supervisor::{RestartDecision, RestartPolicy, RestartTracker};

/// A boxed future of an append.
pub type AppendFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(), crate::supervisor::HostError>> + Send + 'a>>;

/// The log as the scorer sees it: the projections, and a durable append that brings them up
/// to date. The binary implements it over the data directory.
pub trait DiscoveryLog: Send + 'static {
    /// The projections, current with every append made through this value.
    fn state(&self) -> &Projections;
    /// Appends one batch durably, expecting it to start at `first_seq`.
    fn append(&mut self, events: Vec<Event>, first_seq: u64) -> AppendFuture<'_>;
    /// The context held ideas were last settled in, when this log keeps it (a cache: without
    /// it, every held idea is scored again once).
    fn settled(&self) -> Option<Settled> {
        None
    }
    /// Keeps the context held ideas are settled in.
    fn keep_settled(&mut self, _settled: &Settled) {}
}

/// Held ideas discovered up to `seq` were scored in the context of `fingerprint`
/// ([`ScoringContext::fingerprint`]), whose gas reading was `gas`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Settled {
    /// [`ScoringContext::fingerprint`].
    pub fingerprint: String,
    /// [`ScoringContext::settled_through`].
    pub seq: u64,
    /// The last gas reading.
    pub gas: Option<crate::sources::GasConditions>,
}

/// Messages of the scorer.
pub enum ScorerMsg {
    /// What the log holds for a source: its external ids and its last successful check.
    Known(SourceName, RpcReplyPort<KnownSnapshot>),
    /// A finished check, to score and record.
    Checked(Box<SourceCheck>),
    /// Record a supervision event (`actor.restarted`, `actor.gave_up`, `actor.started`).
    Record(Box<Event>),
    /// The summaries recorded so far.
    Summaries(RpcReplyPort<Vec<CheckSummary>>),
}

/// What the log holds for one source.
#[derive(Debug, Clone, Default)]
pub struct KnownSnapshot {
    /// External ids recorded.
    pub ids: HashSet<String>,
    /// Unix time of the last successful check.
    pub last_success_unix: Option<i64>,
}

/// The single writer of discovery.
pub struct ScorerActor;

/// The scorer's state.
pub struct ScorerState {
    notify: crate::notify::Notify,
    log: Box<dyn DiscoveryLog>,
    ctx: ScoringContext,
    summaries: Vec<CheckSummary>,
    /// The settled context the log keeps now.
    kept: Option<Settled>,
}

/// What the scorer starts with.
pub struct ScorerArgs {
    /// The log.
    pub log: Box<dyn DiscoveryLog>,
    /// The scoring context (regime, settings), built from the log.
    pub ctx: ScoringContext,
    /// Where notifications go: told of submitted opportunities after they are recorded.
    pub notify: crate::notify::Notify,
}

impl ScorerState {
    /// Scores what waits and re-scores held ideas not settled in the context; records it, then
    /// keeps the settled context in the log's cache.
    async fn rescore(&mut self) -> Result<(), ActorProcessingErr> {
        let used = crate::model_reader::tokens_used_today(self.log.state());
        crate::discovery::prepare_rescore(self.log.state(), &mut self.ctx, used).await;
        let (events, _, _) = plan_rescore(self.log.state(), &mut self.ctx);
        self.record(events).await?;
        let settled = Settled {
            fingerprint: self.ctx.fingerprint(),
            seq: self.ctx.settled_through,
            gas: self.ctx.gas.clone(),
        };
        // Written only when it moved (a quiet check leaves it as it was).
        if self.kept.as_ref() != Some(&settled) {
            self.log.keep_settled(&settled);
            self.kept = Some(settled);
        }
        Ok(())
    }

    async fn record(&mut self, events: Vec<Event>) -> Result<(), ActorProcessingErr> {
        if events.is_empty() {
            return Ok(());
        }
        let first = self.log.state().last_seq + 1;
        self.log
            .append(events.clone(), first)
            .await
            .map_err(ActorProcessingErr::from)?;
        // After the decision is durable: its messages into the outbox (and what the courier
        // delivered since), then to the courier (never fails the decision).
        let mut prepared = self.notify.prepare(&events, self.log.state());
        if !prepared.events.is_empty() {
            let first = self.log.state().last_seq + 1;
            let queued = std::mem::take(&mut prepared.events);
            if let Err(e) = self.log.append(queued, first).await {
                tracing::warn!(error = %e, "cannot record the notifications");
                return Ok(());
            }
        }
        self.notify.post(prepared);
        Ok(())
    }
}

impl Actor for ScorerActor {
    type Msg = ScorerMsg;
    type State = ScorerState;
    type Arguments = ScorerArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<ScorerMsg>,
        args: ScorerArgs,
    ) -> Result<ScorerState, ActorProcessingErr> {
        let mut state = ScorerState {
            notify: args.notify,
            log: args.log,
            ctx: args.ctx,
            summaries: Vec::new(),
            kept: None,
        };
        // The last gas reading, and the held ideas settled in this very context, from the
        // log's cache.
        if let Some(s) = state.log.settled() {
            if state.ctx.gas.is_none() {
                state.ctx.gas = s.gas.clone();
            }
            if s.fingerprint == state.ctx.fingerprint() && s.seq <= state.log.state().last_seq {
                state.ctx.settled_through = s.seq;
            }
            state.kept = Some(s);
        }
        // Whatever waits for a score already (a hand submission, a clone of a winner, a held
        // idea in a changed regime) is scored at once, not at the first check.
        state.rescore().await?;
        Ok(state)
    }

    async fn handle(
        &self,
        _me: ActorRef<ScorerMsg>,
        msg: ScorerMsg,
        state: &mut ScorerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ScorerMsg::Known(source, reply) => {
                let p = state.log.state();
                let name = source.as_str();
                let ids = known_ids_of(p, name);
                let last_success_unix = p
                    .sources
                    .get(name)
                    .and_then(|h| h.last_success_micros)
                    .map(|m| m / 1_000_000);
                let _ = reply.send(KnownSnapshot {
                    ids,
                    last_success_unix,
                });
            }
            ScorerMsg::Checked(check) => {
                // `record` appends at the next sequence number: the one the plan is made for.
                let used = crate::model_reader::tokens_used_today(state.log.state());
                let prepared =
                    crate::model_reader::prepare(state.ctx.reader.as_ref(), &check.items, used)
                        .await;
                let first = state.log.state().last_seq + 1;
                let (events, summary) =
                    plan_check(&check, &mut state.ctx, &prepared, first, state.log.state());
                state.record(events).await?;
                // Only what is not settled in the context (all of it after a new gas reading).
                state.rescore().await?;
                tracing::info!(source = %summary.source, fetched = summary.fetched, new = summary.new, submitted = summary.submitted, "source checked");
                state.summaries.push(summary);
            }
            ScorerMsg::Record(event) => state.record(vec![*event]).await?,
            ScorerMsg::Summaries(reply) => {
                let _ = reply.send(state.summaries.clone());
            }
        }
        Ok(())
    }
}

/// Messages of a source actor.
pub enum SourceMsg {
    /// Time to check.
    Tick,
}

/// One source on its interval.
pub struct SourceActor;

/// What a source actor is started with (cloned for each restart).
#[derive(Clone)]
pub struct SourceArgs {
    /// Which source.
    pub source: SourceName,
    /// Settings.
    pub config: Arc<DiscoveryConfig>,
    /// Online or recorded.
    pub mode: Mode,
    /// Where checks go.
    pub scorer: ActorRef<ScorerMsg>,
    /// Shared conditional-GET cache.
    pub validators: Arc<Mutex<Validators>>,
    /// Chaos testing: the first check of this source in this process panics (the supervisor
    /// must restart it). `STRATAGEM_CHAOS_PANIC_SOURCE` in the binary.
    pub panic_once: Option<Arc<AtomicBool>>,
    /// Check again on the source's interval (`discover --watch`); else once (the root
    /// supervisor decides when a source is due, and a timer would outlive the actor).
    pub repeat: bool,
}

impl Actor for SourceActor {
    type Msg = SourceMsg;
    type State = SourceArgs;
    type Arguments = SourceArgs;

    async fn pre_start(
        &self,
        me: ActorRef<SourceMsg>,
        args: SourceArgs,
    ) -> Result<SourceArgs, ActorProcessingErr> {
        // Check at once, then (watching) on the interval.
        me.send_message(SourceMsg::Tick)?;
        if args.repeat {
            me.send_interval(args.config.source(args.source).interval, || SourceMsg::Tick);
        }
        Ok(args)
    }

    async fn handle(
        &self,
        _me: ActorRef<SourceMsg>,
        _msg: SourceMsg,
        s: &mut SourceArgs,
    ) -> Result<(), ActorProcessingErr> {
        if crate::supervisor::chaos_strikes(s.panic_once.as_deref()) {
            panic!("chaos: the {} source actor fails on purpose", s.source);
        }
        let known = ractor::call!(s.scorer, ScorerMsg::Known, s.source)?;
        let seen = |id: &str| known.ids.contains(id);
        let view = Known {
            seen: &seen,
            last_success_unix: known.last_success_unix,
        };
        // The cache is shared by all sources; each check works on a copy and merges it back.
        let mut validators = s.validators.lock().map(|v| v.clone()).unwrap_or_default();
        let check = check_source(s.source, &s.config, &s.mode, &mut validators, &view).await;
        if let Ok(mut shared) = s.validators.lock() {
            shared.merge(validators);
        }
        s.scorer.send_message(ScorerMsg::Checked(Box::new(check)))?;
        Ok(())
    }
}

/// The supervisor of discovery.
pub struct DiscoverySupervisor;

/// What the supervisor is started with.
pub struct SupervisorArgs {
    /// The scorer's arguments.
    pub scorer: ScorerArgs,
    /// Settings.
    pub config: Arc<DiscoveryConfig>,
    /// Online or recorded.
    pub mode: Mode,
    /// Only these sources.
    pub sources: Vec<SourceName>,
    /// Restart policy of the source actors.
    pub policy: RestartPolicy,
    /// Shared conditional-GET cache.
    pub validators: Arc<Mutex<Validators>>,
    /// Chaos testing (see [`SourceArgs::panic_once`]).
    pub panic_once: Option<SourceName>,
    /// See [`SourceArgs::repeat`].
    pub repeat: bool,
    /// Actors whose start this process has already recorded.
    pub announced: crate::supervisor::Announced,
}

/// Messages of the supervisor.
pub enum SupervisorMsg {
    /// Start a source actor again after its backoff.
    Restart(SourceName),
    /// The scorer, for callers that want summaries.
    Scorer(RpcReplyPort<ActorRef<ScorerMsg>>),
    /// Sources not started and why.
    Skipped(RpcReplyPort<Vec<(SourceName, String)>>),
    /// Sources whose actor failed past the intensity limit and stays stopped.
    GaveUp(RpcReplyPort<Vec<SourceName>>),
}

/// The supervisor's state.
pub struct SupervisorState {
    scorer: ActorRef<ScorerMsg>,
    args: HashMap<SourceName, SourceArgs>,
    children: HashMap<ractor::ActorId, SourceName>,
    trackers: HashMap<SourceName, RestartTracker>,
    skipped: Vec<(SourceName, String)>,
    gave_up: Vec<SourceName>,
    started: Instant,
}

impl SupervisorState {
    async fn spawn(
        &mut self,
        me: &ActorRef<SupervisorMsg>,
        source: SourceName,
    ) -> Result<(), ActorProcessingErr> {
        let Some(args) = self.args.get(&source).cloned() else {
            return Ok(());
        };
        let (child, _) = Actor::spawn_linked(
            Some(format!("source-{source}-{}", uuid::Uuid::now_v7())),
            SourceActor,
            args,
            me.get_cell(),
        )
        .await?;
        self.children.insert(child.get_id(), source);
        Ok(())
    }
}

impl Actor for DiscoverySupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        me: ActorRef<SupervisorMsg>,
        a: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let (scorer, _) = Actor::spawn_linked(
            Some(format!("scorer-{}", uuid::Uuid::now_v7())),
            ScorerActor,
            a.scorer,
            me.get_cell(),
        )
        .await?;
        let chaos = Arc::new(AtomicBool::new(false));
        let mut state = SupervisorState {
            scorer: scorer.clone(),
            args: HashMap::new(),
            children: HashMap::new(),
            trackers: HashMap::new(),
            skipped: Vec::new(),
            gave_up: Vec::new(),
            started: Instant::now(),
        };
        for actor in ["discovery", "scorer"] {
            if a.announced.first(actor) {
                scorer.send_message(ScorerMsg::Record(Box::new(Event::from(ActorStarted {
                    actor: actor.into(),
                }))))?;
            }
        }
        for source in a.sources {
            if let Some(why) = not_ready(source, &a.config, &a.mode) {
                state.skipped.push((source, why));
                continue;
            }
            state.args.insert(
                source,
                SourceArgs {
                    source,
                    config: a.config.clone(),
                    mode: a.mode.clone(),
                    scorer: scorer.clone(),
                    validators: a.validators.clone(),
                    panic_once: (a.panic_once == Some(source)).then(|| chaos.clone()),
                    repeat: a.repeat,
                },
            );
            state.trackers.insert(source, RestartTracker::new(a.policy));
            let actor = format!("source/{source}");
            if a.announced.first(&actor) {
                scorer.send_message(ScorerMsg::Record(Box::new(Event::from(ActorStarted {
                    actor,
                }))))?;
            }
            state.spawn(&me, source).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        me: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Restart(source) => state.spawn(&me, source).await?,
            SupervisorMsg::Scorer(reply) => {
                let _ = reply.send(state.scorer.clone());
            }
            SupervisorMsg::Skipped(reply) => {
                let _ = reply.send(state.skipped.clone());
            }
            SupervisorMsg::GaveUp(reply) => {
                let _ = reply.send(state.gave_up.clone());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<SupervisorMsg>,
        evt: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, reason)) = crate::supervisor::ended(evt) else {
            return Ok(());
        };
        if cell.get_id() == state.scorer.get_id() {
            // The scorer owns the log: without it nothing can be recorded. Escalate.
            me.stop(Some(format!("the scorer {reason}")));
            return Ok(());
        }
        let Some(source) = state.children.remove(&cell.get_id()) else {
            return Ok(());
        };
        let Some(tracker) = state.trackers.get_mut(&source) else {
            return Ok(());
        };
        let decision = tracker.on_failure(state.started.elapsed());
        let actor = format!("source/{source}");
        tracing::warn!(%actor, %reason, ?decision, "source actor ended");
        state
            .scorer
            .send_message(ScorerMsg::Record(Box::new(decision.to_event(
                &actor,
                &reason,
                tracker.policy(),
            ))))?;
        match decision {
            RestartDecision::Restart { backoff, .. } => {
                me.send_after(backoff, move || SupervisorMsg::Restart(source));
            }
            RestartDecision::GiveUp { .. } => state.gave_up.push(source),
        }
        Ok(())
    }
}

/// Runs discovery under the supervisor until `until` completes (the daemon: a signal; tests
/// and `discover --watch --for`: a timer), then stops the actors and returns the summaries of
/// every check and the sources skipped.
///
/// # Errors
/// When the supervisor cannot start, or stopped early because the scorer failed.
pub async fn run_until(
    args: SupervisorArgs,
    until: impl Future<Output = ()>,
) -> Result<(Vec<CheckSummary>, Vec<(SourceName, String)>), crate::supervisor::CycleError> {
    let (sup, handle) = Actor::spawn(
        Some(format!("discovery-{}", uuid::Uuid::now_v7())),
        DiscoverySupervisor,
        args,
    )
    .await
    .map_err(|e| crate::supervisor::CycleError::Start {
        what: "discovery",
        reason: e.to_string(),
    })?;
    let stopped = |e: &dyn std::fmt::Display| crate::supervisor::CycleError::Stopped {
        what: "discovery",
        reason: e.to_string(),
    };
    let scorer = ractor::call!(sup, SupervisorMsg::Scorer).map_err(|e| stopped(&e))?;
    let skipped = ractor::call!(sup, SupervisorMsg::Skipped).map_err(|e| stopped(&e))?;
    until.await;
    let summaries = ractor::call!(scorer, ScorerMsg::Summaries).map_err(|e| stopped(&e))?;
    sup.stop(None);
    let _ = handle.await;
    Ok((summaries, skipped))
}
