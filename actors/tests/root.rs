//! The root supervisor in-process (no binary): discovery over the shipped recordings of every source
//! (real payloads, the real source actors and scorer), then the pipeline (`common::LogWork`),
//! all recorded on one log in memory, on a paused tokio clock. Each phase opens the log afresh,
//! as the binary's host does. A failed phase start, a source actor's panic, and a pipeline
//! worker's or the monitor's panic are each restarted, and the cycle ends where an undisturbed
//! one ends; a second cycle finds nothing new and does nothing twice.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use common::{events, LogWork, Seen};
use stratagem_actors::discovery::actors::{AppendFuture, DiscoveryLog, ScorerArgs, SupervisorArgs};
use stratagem_actors::discovery::ScoringContext;
use stratagem_actors::notify::Notify;
use stratagem_actors::pipeline::{Chaos, Concurrency, SharedWork, Step, WorkFuture};
use stratagem_actors::root::{CycleHost, Root, RootArgs};
use stratagem_actors::scorer::ScorerConfig;
use stratagem_actors::sources::check::Mode;
use stratagem_actors::sources::config::DiscoveryConfig;
use stratagem_actors::sources::http::Validators;
use stratagem_actors::sources::SourceName;
use stratagem_actors::supervisor::{HostError, RestartPolicy};
use stratagem_events::projection::StrategyStatus;
use stratagem_events::{AppendRequest, Event, EventStore, MemoryEventStore, Projections, Stage};

/// The scorer's log: the store, and projections caught up with it.
struct MemoryLog {
    store: Arc<MemoryEventStore>,
    state: Projections,
}

impl DiscoveryLog for MemoryLog {
    fn state(&self) -> &Projections {
        &self.state
    }

    fn append(&mut self, events: Vec<Event>, first_seq: u64) -> AppendFuture<'_> {
        Box::pin(async move {
            let ack = self
                .store
                .append(AppendRequest::new(events).expecting(first_seq))
                .await
                .map_err(|e| HostError(e.to_string()))?;
            for rec in self
                .store
                .read(ack.first_seq, usize::MAX)
                .map_err(|e| HostError(e.to_string()))?
            {
                self.state
                    .apply(&rec)
                    .map_err(|e| HostError(e.to_string()))?;
            }
            Ok(())
        })
    }
}

/// The log as the root's phases take it.
struct MemoryHost {
    store: Arc<MemoryEventStore>,
    seen: Arc<Seen>,
    /// This phase (`discovery` or `pipeline`) fails to start once.
    fail_once: Mutex<Option<&'static str>>,
    /// This source's actor panics on its first check.
    source_panic: Option<SourceName>,
}

impl MemoryHost {
    fn fails(&self, phase: &str) -> Result<(), HostError> {
        let mut armed = self.fail_once.lock().unwrap();
        if *armed == Some(phase) {
            *armed = None;
            return Err(HostError(format!(
                "the {phase} cannot open the log (on purpose)"
            )));
        }
        Ok(())
    }

    fn replayed(&self) -> Projections {
        Projections::replay(self.store.as_ref()).expect("the log replays")
    }
}

fn recordings() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/sources")
}

impl CycleHost for MemoryHost {
    fn discovery(
        &self,
        sources: Vec<SourceName>,
        notify: Notify,
    ) -> WorkFuture<'_, Result<SupervisorArgs, HostError>> {
        Box::pin(async move {
            self.fails("discovery")?;
            let state = self.replayed();
            let regime = stratagem_actors::scorer::regime::detect(
                stratagem_actors::market::embedded_hourly(),
            );
            let ctx = ScoringContext::new(regime, ScorerConfig::default());
            let config = DiscoveryConfig::from_lookup(&|_: &str| None)
                .map_err(|e| HostError(e.to_string()))?;
            Ok(SupervisorArgs {
                scorer: ScorerArgs {
                    log: Box::new(MemoryLog {
                        store: self.store.clone(),
                        state,
                    }),
                    ctx,
                    notify,
                },
                config: Arc::new(config),
                mode: Mode::Offline(recordings()),
                sources,
                policy: RestartPolicy::default(),
                validators: Arc::new(Mutex::new(Validators::default())),
                panic_once: self.source_panic,
                repeat: false,
                announced: Default::default(),
            })
        })
    }

    fn discovery_stopped(&self) {}

    fn pipeline(&self, _notify: Notify) -> WorkFuture<'_, Result<SharedWork, HostError>> {
        Box::pin(async move {
            self.fails("pipeline")?;
            let work = LogWork::over(self.store.clone(), self.seen.clone());
            let work: SharedWork = Arc::new(tokio::sync::Mutex::new(Box::new(work)));
            Ok(work)
        })
    }

    fn record(&self, events: Vec<Event>) -> WorkFuture<'_, Result<(), HostError>> {
        Box::pin(async move {
            self.store
                .append(AppendRequest::new(events))
                .await
                .map(|_| ())
                .map_err(|e| HostError(e.to_string()))
        })
    }
}

/// One cycle (twice, with `again`) under a root with these failures; the log.
async fn cycle(
    fail_once: Option<&'static str>,
    source_panic: Option<SourceName>,
    pipeline_chaos: Option<Chaos>,
    again: bool,
) -> Arc<MemoryEventStore> {
    let store = Arc::new(MemoryEventStore::new());
    let host = MemoryHost {
        store: store.clone(),
        seen: Arc::default(),
        fail_once: Mutex::new(fail_once),
        source_panic,
    };
    let root = Root::start(RootArgs {
        host: Arc::new(host),
        policy: RestartPolicy::default(),
        slack: None,
        notifier: Default::default(),
        notify: stratagem_actors::notify::Notify::Off,
        pipeline_chaos,
        notifier_chaos: false,
        max_rounds: 8,
        concurrency: Concurrency {
            validators: 2,
            stages: 2,
        },
    })
    .await
    .unwrap();
    let outcome = root.cycle(SourceName::ALL.to_vec()).await.unwrap();
    assert_eq!(
        outcome.summaries.len() + outcome.skipped.len(),
        SourceName::ALL.len()
    );
    drop(outcome);
    if again {
        let outcome = root.cycle(SourceName::ALL.to_vec()).await.unwrap();
        drop(outcome);
    }
    root.stop().await;
    store
}

/// What a cycle decided: opportunities by status, and every strategy's place.
fn decided(store: &MemoryEventStore) -> (Vec<String>, Vec<(StrategyStatus, Option<Stage>)>) {
    let state = Projections::replay(store).unwrap();
    let mut opportunities: Vec<String> = state
        .opportunities
        .values()
        .map(|o| {
            format!(
                "{} {:?}",
                o.external_id.clone().unwrap_or_default(),
                o.status
            )
        })
        .collect();
    opportunities.sort();
    let strategies = state
        .strategies
        .values()
        .map(|s| (s.status, s.last_completed_stage))
        .collect();
    (opportunities, strategies)
}

fn restarts(store: &MemoryEventStore, actor: &str) -> usize {
    events(store)
        .iter()
        .filter(|e| matches!(e, Event::ActorRestarted(r) if r.actor == actor))
        .count()
}

#[tokio::test(start_paused = true)]
async fn each_failure_under_the_root_is_restarted_and_the_cycle_ends_as_an_undisturbed_one() {
    let reference = decided(&*cycle(None, None, None, false).await);
    assert!(
        !reference.1.is_empty(),
        "the recordings submit at least one idea: {reference:?}"
    );
    assert!(reference
        .1
        .iter()
        .all(|s| *s == (StrategyStatus::Staged, Some(Stage::Full))));
    for (fail, source, chaos, actor) in [
        (Some("discovery"), None, None, "discovery"),
        (Some("pipeline"), None, None, "pipeline"),
        (None, Some(SourceName::Arxiv), None, "source/arxiv"),
        (None, None, Some(Chaos::Worker(Step::Screen)), "screener"),
        (None, None, Some(Chaos::Worker(Step::Validate)), "validator"),
        (
            None,
            None,
            Some(Chaos::Worker(Step::Stage(Stage::Warm))),
            "stage/warm",
        ),
        (None, None, Some(Chaos::Monitor), "monitor"),
    ] {
        let store = cycle(fail, source, chaos, false).await;
        assert_eq!(restarts(&store, actor), 1, "{actor}");
        assert_eq!(decided(&store), reference, "after a crash of {actor}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_second_cycle_finds_nothing_new_and_does_nothing_twice() {
    let once = cycle(None, None, None, false).await;
    let twice = cycle(None, None, None, true).await;
    assert_eq!(decided(&once), decided(&twice));
    let count = |store: &MemoryEventStore, kind: &str| {
        events(store)
            .iter()
            .filter(|e| e.kind().as_str() == kind)
            .count()
    };
    for kind in [
        "opportunity.discovered",
        "opportunity.submitted",
        "strategy.generated",
        "validation.decided",
        "stage.completed",
    ] {
        assert_eq!(count(&once, kind), count(&twice, kind), "{kind}");
    }
    // The second cycle checked the sources again (each check is an event), and its actors'
    // starts were not recorded again.
    assert_eq!(
        count(&twice, "source.checked"),
        2 * count(&once, "source.checked")
    );
    assert_eq!(
        count(&once, "actor.started"),
        count(&twice, "actor.started")
    );
}
