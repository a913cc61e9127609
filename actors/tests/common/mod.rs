//! A pipeline's work over a log in memory, for the in-process supervisor tests: each step
//! records the events the real one records (generation; validation started, then decided;
//! stage started, then completed and promoted) through the real store and the real projections,
//! and its heavy part is a timed job outside the lock (on a paused clock, hours take no time).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stratagem_actors::pipeline::{
    opportunity_waits, strategy_waits, Begun, JobOutput, PipelineWork, SharedWork, Step, WorkFuture,
};
use stratagem_actors::stages::runner::{StageOutcome, StageSettings, StageWindow};
use stratagem_actors::supervisor::HostError;
use stratagem_actors::validator::{Layer, LayerReport, Screened, ValidationReport};
use stratagem_events::projection::StrategyStatus;
use stratagem_events::{
    AppendRequest, Decision, Event, EventStore, GenerationMode, MemoryEventStore,
    OpportunityDiscovered, OpportunityScored, OpportunitySubmitted, Projections, Stage,
    StageCompleted, StageMetrics, StagePromoted, StageStarted, StrategyGenerated, SubScore,
    ValidationDecided, ValidationStarted,
};
use uuid::Uuid;

/// What the jobs did, seen from outside the lock.
#[derive(Default)]
pub struct Seen {
    /// Jobs under way.
    pub running: Mutex<HashSet<(Step, Uuid)>>,
    /// The most validations under way at once.
    pub most_validations: AtomicUsize,
    /// A job was given to a second worker while the first was on it.
    pub shared: AtomicUsize,
    /// The first job of these steps panics after its start is recorded.
    pub crash_once: Mutex<HashSet<Step>>,
    /// Every job of these steps panics after its start is recorded.
    pub always: Mutex<HashSet<Step>>,
}

pub struct LogWork {
    store: Arc<MemoryEventStore>,
    state: Projections,
    seen: Arc<Seen>,
    /// How long a stage's run takes (simulated).
    stage_time: HashMap<Stage, Duration>,
}

impl LogWork {
    /// The work over `store`, its projections caught up with it (what a phase opening the log
    /// does).
    pub fn over(store: Arc<MemoryEventStore>, seen: Arc<Seen>) -> LogWork {
        let mut work = LogWork {
            store,
            state: Projections::default(),
            seen,
            stage_time: HashMap::from([
                (Stage::Cold, Duration::from_millis(200)),
                (Stage::Warm, Duration::from_secs(4 * 3600)),
                (Stage::Limited, Duration::from_secs(24 * 3600)),
                (Stage::Full, Duration::from_secs(60)),
            ]),
        };
        work.catch_up().expect("the log replays");
        work
    }

    fn catch_up(&mut self) -> Result<(), HostError> {
        for rec in self
            .store
            .read(self.state.last_seq + 1, usize::MAX)
            .map_err(|e| HostError(e.to_string()))?
        {
            self.state
                .apply(&rec)
                .map_err(|e| HostError(e.to_string()))?;
        }
        Ok(())
    }

    pub async fn append(&mut self, events: Vec<Event>) -> Result<(), HostError> {
        self.store
            .append(AppendRequest::new(events))
            .await
            .map_err(|e| HostError(e.to_string()))?;
        self.catch_up()
    }

    /// The job outside the lock: counted, checked for sharing, maybe crashing, then timed.
    fn job(&self, step: Step, id: Uuid, takes: Duration, output: JobOutput) -> Begun {
        let seen = self.seen.clone();
        Begun::Job(Box::pin(async move {
            let under_way = {
                let mut running = seen.running.lock().unwrap();
                if !running.insert((step, id)) {
                    seen.shared.fetch_add(1, Ordering::SeqCst);
                }
                running.iter().filter(|(s, _)| *s == Step::Validate).count()
            };
            if step == Step::Validate {
                seen.most_validations.fetch_max(under_way, Ordering::SeqCst);
            }
            tokio::time::sleep(takes).await;
            seen.running.lock().unwrap().remove(&(step, id));
            let crash = seen.crash_once.lock().unwrap().remove(&step)
                || seen.always.lock().unwrap().contains(&step);
            if crash {
                panic!("the {} job of {id} fails on purpose", step.actor());
            }
            Ok(output)
        }))
    }
}

pub fn next(stage: Stage) -> Option<Stage> {
    Stage::ALL
        .iter()
        .position(|s| *s == stage)
        .and_then(|i| Stage::ALL.get(i + 1).copied())
}

impl PipelineWork for LogWork {
    fn begin(&mut self, id: Uuid, step: Step) -> WorkFuture<'_, Result<Begun, HostError>> {
        Box::pin(async move {
            match step {
                Step::Generate => {
                    let strategy_id = Uuid::now_v7();
                    self.append(vec![Event::from(StrategyGenerated {
                        strategy_id,
                        opportunity_id: id,
                        name: format!("momentum_{}", &strategy_id.simple().to_string()[..8]),
                        path: String::new(),
                        sha256: strategy_id.simple().to_string(),
                        source_code: String::new(),
                        mode: GenerationMode::Template,
                        template: Some("momentum".into()),
                        parameters: Vec::new(),
                        model: None,
                        prompt: None,
                        reply: None,
                        tokens_used: 0,
                    })])
                    .await?;
                    Ok(Begun::Done((true, format!("strategy {strategy_id}"))))
                }
                Step::Screen => {
                    self.append(vec![Event::from(ValidationStarted {
                        strategy_id: id,
                        sha256: String::new(),
                    })])
                    .await?;
                    let layers = [
                        Layer::Syntax,
                        Layer::Security,
                        Layer::Conventions,
                        Layer::Integration,
                        Layer::Coverage,
                    ]
                    .map(passed)
                    .to_vec();
                    let screened = Screened::Passed {
                        layers,
                        strategy_type: "MomentumStrategy".into(),
                    };
                    Ok(self.job(
                        step,
                        id,
                        Duration::from_millis(5),
                        JobOutput::Screen(screened),
                    ))
                }
                Step::Validate => {
                    let report = ValidationReport {
                        sha256: String::new(),
                        strategy_type: Some("MomentumStrategy".into()),
                        layers: vec![passed(Layer::Sandbox)],
                        decision: Decision::Approved,
                    };
                    Ok(self.job(
                        step,
                        id,
                        Duration::from_millis(500),
                        JobOutput::Validation(report),
                    ))
                }
                Step::Stage(stage) => {
                    let view = self.state.strategies[&id].clone();
                    // A run cut short resumes under its own id; else its start is recorded.
                    if view.open_run.is_none_or(|(s, _)| s != stage) {
                        let mut start = Vec::new();
                        if stage == Stage::Cold && view.stage != Some(Stage::Cold) {
                            start.push(Event::from(StagePromoted {
                                strategy_id: id,
                                from: None,
                                to: Stage::Cold,
                            }));
                        }
                        start.push(Event::from(StageStarted {
                            strategy_id: id,
                            stage,
                            run_id: Uuid::now_v7(),
                            baseline: Some("buy_and_hold".into()),
                            capital_fraction: 1.0,
                            window_start: None,
                            window_end: None,
                        }));
                        self.append(start).await?;
                    }
                    let outcome = StageOutcome {
                        stage,
                        window: StageWindow {
                            feed_start: 0,
                            start: 0,
                            end: 0,
                        },
                        capital_fraction: 1.0,
                        metrics: StageMetrics::default(),
                        baseline: "buy_and_hold".into(),
                        passed: true,
                        gate: "always".into(),
                        trap: None,
                        bars_per_year: 8760.0,
                        parity: None,
                        curve: Vec::new(),
                        curve_baseline: String::new(),
                    };
                    let takes = self.stage_time.get(&stage).copied().unwrap_or_default();
                    let step_done = stratagem_actors::stages::realclock::StageStep {
                        mark: None,
                        window: Vec::new(),
                        outcome: Some(outcome),
                    };
                    Ok(self.job(step, id, takes, JobOutput::Stage(Box::new(step_done))))
                }
            }
        })
    }

    fn finish(
        &mut self,
        id: Uuid,
        _step: Step,
        output: JobOutput,
    ) -> WorkFuture<'_, Result<(bool, String), HostError>> {
        Box::pin(async move {
            match output {
                JobOutput::Screen(Screened::Passed { layers, .. }) => {
                    let events = layers.iter().map(|l| Event::from(l.to_event(id))).collect();
                    self.append(events).await?;
                }
                JobOutput::Screen(Screened::Decided(report)) => {
                    return Err(HostError(format!("{id} screened out: {}", report.reason())));
                }
                JobOutput::Validation(report) => {
                    let mut events: Vec<Event> = report
                        .layers
                        .iter()
                        .map(|l| Event::from(l.to_event(id)))
                        .collect();
                    events.push(Event::from(ValidationDecided {
                        strategy_id: id,
                        decision: report.decision,
                        layers_passed: 6,
                        reason: "all six layers passed".into(),
                    }));
                    self.append(events).await?;
                }
                JobOutput::RemoteValidation(report) => {
                    return Err(HostError(format!(
                        "{id}: this pipeline has no workers, yet a worker's result came: {}",
                        report.reason
                    )));
                }
                JobOutput::Stage(step_done) => {
                    let Some(outcome) = step_done.outcome else {
                        return Err(HostError(format!("{id}: a stage step without an end")));
                    };
                    let Some((_, run_id)) = self.state.strategies[&id].open_run else {
                        return Err(HostError(format!("{id} has no open run")));
                    };
                    let mut end = vec![Event::from(StageCompleted {
                        strategy_id: id,
                        stage: outcome.stage,
                        run_id,
                        metrics: outcome.metrics,
                        passed: true,
                        gate: outcome.gate,
                    })];
                    if let Some(to) = next(outcome.stage) {
                        end.push(Event::from(StagePromoted {
                            strategy_id: id,
                            from: Some(outcome.stage),
                            to,
                        }));
                    }
                    self.append(end).await?;
                }
            }
            Ok((true, "done".into()))
        })
    }

    fn waiting(&self, step: Step) -> Vec<Uuid> {
        // The pipeline's own rules (the binary's, less its template check), no approval needed.
        let settings = StageSettings::default();
        match step {
            Step::Generate => self
                .state
                .opportunities
                .values()
                .filter(|o| opportunity_waits(o))
                .map(|o| o.id)
                .collect(),
            _ => self
                .state
                .strategies
                .values()
                .filter(|s| strategy_waits(s, step, &settings))
                .map(|s| s.id)
                .collect(),
        }
    }

    fn record(&mut self, events: Vec<Event>) -> WorkFuture<'_, Result<(), HostError>> {
        Box::pin(self.append(events))
    }

    fn state(&self) -> &Projections {
        &self.state
    }

    fn monitor(&mut self) -> WorkFuture<'_, Result<Vec<String>, HostError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

pub fn sub() -> SubScore {
    SubScore {
        value: 0.8,
        reason: "test".into(),
    }
}

/// A log with `n` submitted opportunities, the work over it, the log (to read back) and the
/// opportunities' ids.
pub async fn log_with(n: usize, seen: Arc<Seen>) -> (SharedWork, Arc<MemoryEventStore>, Vec<Uuid>) {
    let store = Arc::new(MemoryEventStore::new());
    let mut work = LogWork::over(store.clone(), seen);
    let mut ids = Vec::new();
    for i in 0..n {
        let id = Uuid::now_v7();
        ids.push(id);
        work.append(vec![
            Event::from(OpportunityDiscovered {
                opportunity_id: id,
                source: "manual".into(),
                external_id: Some(format!("idea-{i}")),
                title: format!("idea {i}").into(),
                hypothesis: "momentum".into(),
                url: None,
                family: Some("momentum".into()),
                asset_class: None,
                timeframe: None,
                parameters: Vec::new(),
                stated_sharpe: None,
                template: Some("momentum".into()),
                parent_strategy_id: None,
            }),
            Event::from(OpportunityScored {
                opportunity_id: id,
                novelty: sub(),
                market_fit: sub(),
                complexity: sub(),
                capital_efficiency: sub(),
                risk: sub(),
                composite: 0.8,
                regime: "bull".into(),
            }),
            Event::from(OpportunitySubmitted {
                opportunity_id: id,
                composite: 0.8,
            }),
        ])
        .await
        .unwrap();
    }
    let work: SharedWork = Arc::new(tokio::sync::Mutex::new(Box::new(work)));
    (work, store, ids)
}

/// Every event on the log, in order.
pub fn events(store: &MemoryEventStore) -> Vec<Event> {
    store
        .read(1, usize::MAX)
        .unwrap()
        .iter()
        .map(|r| r.event().unwrap())
        .collect()
}

/// Whatever crashed, every opportunity became one strategy that went through every stage, and
/// no transition is on the log twice.
pub async fn everything_done_once(work: &SharedWork, store: &MemoryEventStore, ids: &[Uuid]) {
    {
        let w = work.lock().await;
        let state = w.state();
        assert_eq!(state.strategies.len(), ids.len(), "one strategy per idea");
        for o in ids {
            assert_eq!(state.opportunities[o].strategies.len(), 1);
        }
        for s in state.strategies.values() {
            assert_eq!(s.status, StrategyStatus::Staged, "{s:?}");
            assert_eq!(s.last_completed_stage, Some(Stage::Full), "{s:?}");
            assert!(s.open_run.is_none(), "{s:?}");
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for e in events(store) {
        let key = match &e {
            Event::StrategyGenerated(g) => format!("generated {}", g.opportunity_id),
            Event::ValidationDecided(d) => format!("decided {}", d.strategy_id),
            Event::ValidationLayerFinished(l) => format!("layer {} {}", l.layer, l.strategy_id),
            Event::StageStarted(s) => format!("started {} {:?}", s.strategy_id, s.stage),
            Event::StageCompleted(c) => format!("completed {} {:?}", c.strategy_id, c.stage),
            Event::StagePromoted(p) => format!("promoted {} {:?}", p.strategy_id, p.to),
            _ => continue,
        };
        *seen.entry(key).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "recorded twice: {twice:?}");
    // Generated, each of the six layers, decided; per stage started and completed; promoted to
    // each stage.
    assert_eq!(seen.len(), ids.len() * (2 + 6 + 2 * 4 + 4));
}

pub fn actor_events(store: &MemoryEventStore, kind: &str, actor: &str) -> usize {
    events(store)
        .iter()
        .filter(|e| match e {
            Event::ActorRestarted(r) => kind == "restarted" && r.actor == actor,
            Event::ActorGaveUp(g) => kind == "gave_up" && g.actor == actor,
            Event::ActorStarted(s) => kind == "started" && s.actor == actor,
            _ => false,
        })
        .count()
}

/// A layer's report with no finding.
fn passed(layer: Layer) -> LayerReport {
    LayerReport {
        layer,
        errors: Vec::new(),
        warnings: Vec::new(),
        duration: Duration::from_millis(1),
    }
}
