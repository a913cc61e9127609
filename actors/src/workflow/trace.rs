//! A strategy's provenance, read from the log: the source item its idea came from, the scores,
//! the generation, each validation layer, every stage run with its gate, the monitor's readings,
//! rollbacks and clones — each step with the sequence number of the event that records it
//! (`stratagem trace`, the daemon's `/v1/trace/ID`).

use serde::Serialize;
use serde_json::Value;
use stratagem_events::projection::rfc3339_micros;
use stratagem_events::store::iter_from;
use stratagem_events::{Event, EventStore, Projections, RecordedEvent};
use uuid::Uuid;

use super::error::{Result, WorkflowError};

/// One step of a trace.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TraceStep {
    /// The event's sequence number.
    pub seq: u64,
    /// When it was recorded (RFC 3339).
    pub at: String,
    /// `source`, `score`, `generation`, `validation`, `review`, `backtest`, `cold`, `warm`,
    /// `limited`, `full`, `monitor` or `clone`.
    pub phase: String,
    /// The event's kind.
    pub kind: String,
    /// What it says, in one line.
    pub summary: String,
    /// The event as the audit files hold it.
    pub data: Value,
}

/// A strategy's provenance.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Trace {
    /// The strategy.
    pub strategy_id: Uuid,
    /// Its name.
    pub name: String,
    /// The opportunity it implements.
    pub opportunity_id: Uuid,
    /// The strategy it was cloned from, if it is a clone.
    pub parent_strategy_id: Option<Uuid>,
    /// Opportunities spawned from it as clones.
    pub clones: Vec<Uuid>,
    /// Where it is now (`status` and stage).
    pub now: String,
    /// Every event about it or its idea, in the log's order.
    pub steps: Vec<TraceStep>,
}

/// The phases a trace goes through, in the order a strategy meets them.
pub const PHASES: [&str; 12] = [
    "source",
    "score",
    "generation",
    "validation",
    "review",
    "backtest",
    "cold",
    "warm",
    "limited",
    "full",
    "monitor",
    "clone",
];

/// The trace of strategy `id`: its idea's events from its discovery on, and its own.
///
/// # Errors
/// No such strategy, or the log cannot be read.
pub fn trace(store: &dyn EventStore, state: &Projections, id: Uuid) -> Result<Trace> {
    trace_with(store, state, id, None)
}

/// As [`trace`], reading only the events `index` lists for the strategy and its idea instead
/// of the log from the idea's discovery on (the index must be brought up to the head first).
///
/// # Errors
/// As [`trace`].
pub fn trace_with(
    store: &dyn EventStore,
    state: &Projections,
    id: Uuid,
    index: Option<&SubjectIndex>,
) -> Result<Trace> {
    let Some(s) = state.strategies.get(&id) else {
        return Err(WorkflowError::refused(format!(
            "no strategy {id} in the log"
        )));
    };
    let opportunity = state.opportunities.get(&s.opportunity_id);
    let from = opportunity.map_or(1, |o| o.discovered_seq.max(1));
    let (me, idea) = (id.to_string(), s.opportunity_id.to_string());
    let unreadable = |e: stratagem_events::StoreError| {
        WorkflowError::refused(format!("cannot read the log: {e}"))
    };
    let records: Box<dyn Iterator<Item = Result<RecordedEvent>>> = match index {
        None => Box::new(iter_from(store, from).map(move |r| r.map_err(unreadable))),
        Some(index) => Box::new(index.seqs(&[id, s.opportunity_id]).into_iter().filter_map(
            move |seq| match store.read(seq, 1) {
                Ok(mut found) => found.pop().map(Ok),
                Err(e) => Some(Err(unreadable(e))),
            },
        )),
    };
    let mut steps = Vec::new();
    for rec in records {
        let rec = rec?;
        let event = rec
            .event()
            .map_err(|e| WorkflowError::refused(format!("event {}: {e}", rec.seq)))?;
        if matches!(
            event,
            Event::NotificationQueued(_)
                | Event::NotificationSent(_)
                | Event::NotificationFailed(_)
                | Event::NotificationDropped(_)
        ) {
            continue;
        }
        let data = serde_json::to_value(&event).unwrap_or(Value::Null);
        let field = |k: &str| data.get(k).and_then(Value::as_str);
        let about_me = field("strategy_id") == Some(me.as_str())
            || field("parent_strategy_id") == Some(me.as_str());
        let about_idea = field("opportunity_id") == Some(idea.as_str());
        if !(about_me || about_idea) {
            continue;
        }
        // The idea of a clone spawned from it is one of its clones, not its source.
        let phase = match &event {
            Event::OpportunityDiscovered(_) if !about_idea => "clone",
            _ => phase_of(&event, &data),
        };
        steps.push(TraceStep {
            seq: rec.seq,
            at: rfc3339_micros(rec.recorded_at_micros),
            phase: phase.to_string(),
            kind: rec.kind.as_str().to_string(),
            summary: summary_of(&event),
            data,
        });
    }
    Ok(Trace {
        strategy_id: id,
        name: s.name.clone(),
        opportunity_id: s.opportunity_id,
        parent_strategy_id: opportunity.and_then(|o| o.parent_strategy_id),
        clones: s.clones.clone(),
        now: match s.stage {
            Some(stage) => format!("{} in {}", s.status.as_str(), stage.as_str().to_uppercase()),
            None => s.status.as_str().to_string(),
        },
        steps,
    })
}

/// Which events name which strategy or idea (`strategy_id`, `parent_strategy_id`,
/// `opportunity_id`), by sequence number: a strategy's trace, or the event browser filtered by
/// a strategy, reads its own events instead of the whole log. Brought up to the head
/// incrementally; each event is looked at once.
#[derive(Debug, Default)]
pub struct SubjectIndex {
    through: u64,
    by: std::collections::HashMap<Uuid, Vec<u64>>,
}

impl SubjectIndex {
    /// Indexes the events after the last one indexed, up to the log's head.
    ///
    /// # Errors
    /// The log cannot be read (what was indexed before stays).
    pub fn bring(&mut self, store: &dyn EventStore) -> Result<()> {
        self.bring_seeing(store, |_, _| {})
    }

    /// As [`SubjectIndex::bring`], showing `seen` each event indexed.
    ///
    /// # Errors
    /// As [`SubjectIndex::bring`].
    pub fn bring_seeing(
        &mut self,
        store: &dyn EventStore,
        mut seen: impl FnMut(&RecordedEvent, &Event),
    ) -> Result<()> {
        if store.head().seq <= self.through {
            return Ok(());
        }
        for rec in iter_from(store, self.through + 1) {
            let rec =
                rec.map_err(|e| WorkflowError::refused(format!("cannot read the log: {e}")))?;
            // An event this build cannot decode names nobody; the chain status reports it.
            if let Ok(event) = rec.event() {
                for subject in subjects(&event) {
                    self.by.entry(subject).or_default().push(rec.seq);
                }
                seen(&rec, &event);
            }
            self.through = rec.seq;
        }
        Ok(())
    }

    /// The events naming any of `subjects`, in the log's order, each once.
    pub fn seqs(&self, subjects: &[Uuid]) -> Vec<u64> {
        let mut all: Vec<u64> = subjects
            .iter()
            .filter_map(|s| self.by.get(s))
            .flatten()
            .copied()
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The last event indexed.
    pub fn through(&self) -> u64 {
        self.through
    }
}

/// The strategies and ideas an event names.
fn subjects(event: &Event) -> Vec<Uuid> {
    let Ok(Value::Object(data)) = serde_json::to_value(event) else {
        return Vec::new();
    };
    ["strategy_id", "parent_strategy_id", "opportunity_id"]
        .iter()
        .filter_map(|k| data.get(*k).and_then(Value::as_str))
        .filter_map(|v| v.parse().ok())
        .collect()
}

fn phase_of(event: &Event, data: &Value) -> &'static str {
    let stage = |key: &str| match data.get(key).and_then(Value::as_str) {
        Some("cold") => "cold",
        Some("warm") => "warm",
        Some("limited") => "limited",
        Some("full") => "full",
        _ => "cold",
    };
    match event {
        Event::OpportunityDiscovered(_) | Event::OpportunityRead(_) => "source",
        Event::OpportunityScored(_)
        | Event::OpportunityHeld(_)
        | Event::OpportunitySubmitted(_)
        | Event::OpportunityRejectedDuplicate(_)
        | Event::OpportunityRejected(_) => "score",
        Event::GenerationAttempted(_) | Event::StrategyGenerated(_) => "generation",
        Event::ValidationStarted(_)
        | Event::ValidationLayerFinished(_)
        | Event::ValidationDecided(_) => "validation",
        Event::ReviewApproved(_) | Event::ReviewRejected(_) | Event::ReviewReopened(_) => "review",
        Event::BacktestTrial(_) => "backtest",
        Event::StagePromoted(_) => stage("to"),
        Event::StageRolledBack(_) | Event::MonitorObserved(_) | Event::StrategyRetired(_) => {
            "monitor"
        }
        Event::CloneSpawned(_) => "clone",
        _ => stage("stage"),
    }
}

/// One line saying what `event` records.
pub fn summary_of(event: &Event) -> String {
    let short = |t: &str, n: usize| -> String {
        let mut s: String = t.chars().take(n).collect();
        if t.chars().count() > n {
            s.push('…');
        }
        s
    };
    match event {
        Event::OpportunityDiscovered(e) => format!(
            "{} {}: \"{}\"{} — {}",
            e.source,
            e.external_id.as_deref().unwrap_or(""),
            e.title.shown(),
            e.url.as_deref().map(|u| format!(" <{u}>")).unwrap_or_default(),
            short(&e.hypothesis.shown(), 160)
        ),
        Event::OpportunityScored(e) => format!(
            "composite {:.3}: novelty {:.2}, market fit {:.2}, complexity {:.2}, capital efficiency {:.2}, risk {:.2} (regime {})",
            e.composite,
            e.novelty.value,
            e.market_fit.value,
            e.complexity.value,
            e.capital_efficiency.value,
            e.risk.value,
            e.regime
        ),
        Event::OpportunityRead(e) => {
            let missing: Vec<&str> = e
                .fit
                .fidelity
                .iter()
                .filter(|n| !n.implemented)
                .map(|n| n.note.as_str())
                .collect();
            format!(
                "read by {}: needs {}; {}{}",
                e.model.as_deref().map_or(e.extractor.clone(), |m| format!("{} {m}", e.extractor)),
                crate::generator::templates::needs_words(&e.needs),
                e.fit.reason,
                if missing.is_empty() {
                    String::new()
                } else {
                    format!("; not implemented: {}", missing.join("; "))
                }
            )
        }
        Event::OpportunitySubmitted(_) => "submitted to code generation".into(),
        Event::OpportunityHeld(e) if e.composite >= e.threshold => {
            "held: scored above the threshold, but nothing can test it as stated (see its reading)".into()
        }
        Event::OpportunityHeld(_) => "held below the threshold".into(),
        Event::GenerationAttempted(e) => format!(
            "attempt {} ({:?}), model {}",
            e.attempt, e.mode, e.requested_model
        ),
        Event::StrategyGenerated(e) => format!(
            "{} from {}{}; sha256 {}",
            e.name,
            match (&e.template, &e.model) {
                (Some(t), Some(m)) => format!("template {t} and model {m}"),
                (Some(t), None) => format!("template {t}"),
                (None, Some(m)) => format!("model {m}"),
                (None, None) => "?".into(),
            },
            if e.parameters.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    e.parameters
                        .iter()
                        .map(|p| format!("{} {}", p.name, p.value))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            short(&e.sha256, 12)
        ),
        Event::ValidationLayerFinished(e) => format!(
            "layer {} {}: {}{}",
            e.layer,
            e.layer_name,
            if e.passed { "passed" } else { "failed" },
            {
                let codes: Vec<&str> = e
                    .errors
                    .iter()
                    .chain(&e.warnings)
                    .map(|f| f.code.as_str())
                    .collect();
                if codes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", codes.join(", "))
                }
            }
        ),
        Event::ValidationDecided(e) => format!("{:?}: {}", e.decision, e.reason),
        Event::StageStarted(e) => format!(
            "{} run started, {:.0} % of capital, baseline {}",
            e.stage.as_str().to_uppercase(),
            e.capital_fraction * 100.0,
            e.baseline.as_deref().unwrap_or("none")
        ),
        Event::StageCompleted(e) => format!(
            "{} run {}: sharpe {:.3}, return {:.2} %, {} trades; gate {}",
            e.stage.as_str().to_uppercase(),
            if e.passed { "passed" } else { "failed" },
            e.metrics.sharpe,
            e.metrics.total_return * 100.0,
            e.metrics.trades,
            e.gate
        ),
        Event::StagePromoted(e) => format!(
            "promoted {} → {}",
            e.from.map_or("approved".to_string(), |s| s.as_str().to_uppercase()),
            e.to.as_str().to_uppercase()
        ),
        Event::StageRejected(e) => format!("rejected at {}: {}", e.stage.as_str().to_uppercase(), e.reason),
        Event::StageRolledBack(e) => format!(
            "rolled back {} → {}: {}",
            e.from.as_str().to_uppercase(),
            e.to.as_str().to_uppercase(),
            e.reason
        ),
        Event::StrategyRetired(e) => format!("retired: {}", e.reason),
        Event::StageCurve(e) => match (e.points.first(), e.points.last()) {
            (Some(a), Some(b)) => format!(
                "{} run's curve, {} point(s): equity {:.2} → {:.2} against {} {:.2} → {:.2}",
                e.stage.as_str().to_uppercase(),
                e.points.len(),
                a.equity,
                b.equity,
                e.baseline,
                a.baseline_equity,
                b.baseline_equity
            ),
            _ => format!("{} run's curve: empty", e.stage.as_str().to_uppercase()),
        },
        Event::StageParity(e) => format!(
            "parity on the {} venue: {} trades beside the backtest's {}, {} unexplained; equity {:.2} against {:.2}",
            e.ledger.venue,
            e.ledger.stage_trades,
            e.ledger.backtest_trades,
            e.ledger.unexplained,
            e.ledger.stage_equity,
            e.ledger.backtest_equity
        ),
        Event::ValidationStarted(_) => "validation started".into(),
        Event::RiskStateChanged(e) => format!(
            "trading {} by {}: {}",
            e.state.as_str(),
            e.by,
            e.reason
        ),
        Event::ActorGaveUp(e) => format!(
            "{} given up after {} restarts: {}",
            e.actor, e.restarts, e.reason
        ),
        Event::NotificationFailed(e) => format!(
            "{} message to {} failed after {} attempts: {}",
            e.message_kind, e.channel, e.attempts, e.error
        ),
        Event::SourceChecked(e) => match &e.outcome {
            stratagem_events::SourceOutcome::Failed { error } => {
                format!("{} failed: {error}", e.source)
            }
            _ => format!("{} checked: {} items, {} new", e.source, e.fetched, e.new_items),
        },
        Event::MonitorObserved(e) => format!(
            "reading {} in {}: P&L {:.2}, return {:.2} %",
            e.observation,
            e.stage.as_str().to_uppercase(),
            e.pnl,
            e.total_return * 100.0
        ),
        Event::CloneSpawned(e) => format!(
            "clone {} spawned ({})",
            e.opportunity_id,
            e.variant
                .iter()
                .map(|p| format!("{} {}", p.name, p.value))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.kind().as_str().to_string(),
    }
}
