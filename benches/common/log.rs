//! A realistic log for the benchmarks: batches of the events a discovery and validation cycle
//! writes.

use stratagem_events::{
    Decision, Event, Finding, OpportunityDiscovered, OpportunityHeld, OpportunityScored,
    OpportunitySubmitted, Parameter, SourceChecked, SourceOutcome, SubScore, ValidationDecided,
    ValidationLayerFinished,
};
use uuid::Uuid;

fn sub(value: f64, reason: &str) -> SubScore {
    SubScore {
        value,
        reason: reason.into(),
    }
}

/// Ten events of the shape a discovery cycle writes: source checks, two opportunities found and
/// scored, one submitted and one held, a validation layer and decision, an actor start.
pub fn cycle(i: u64) -> Vec<Event> {
    let a = Uuid::now_v7();
    let b = Uuid::now_v7();
    let strategy = Uuid::now_v7();
    let discovered = |id: Uuid, n: u64| {
        Event::from(OpportunityDiscovered {
            opportunity_id: id,
            source: "arxiv".into(),
            external_id: Some(format!("2401.{n:05}v1")),
            title: format!("Intraday momentum in crypto perpetuals, variant {n}").into(),
            hypothesis:
                "Returns of the first half hour predict the last half hour when volume is high."
                    .into(),
            url: Some(format!("https://arxiv.org/abs/2401.{n:05}")),
            family: Some("momentum".into()),
            asset_class: Some("crypto".into()),
            timeframe: Some("1h".into()),
            parameters: vec![Parameter {
                name: "lookback".into(),
                value: 24.0,
            }],
            stated_sharpe: Some(1.4),
            template: Some("momentum".into()),
            parent_strategy_id: None,
        })
    };
    let scored = |id: Uuid, composite: f64| {
        Event::from(OpportunityScored {
            opportunity_id: id,
            novelty: sub(0.8, "max similarity 0.20 against 1,000 earlier ideas"),
            market_fit: sub(0.7, "momentum in a BULL regime"),
            complexity: sub(0.6, "template fits"),
            capital_efficiency: sub(0.7, "hourly bars, one instrument"),
            risk: sub(0.6, "stated Sharpe 1.4"),
            composite,
            regime: "bull".into(),
        })
    };
    vec![
        Event::from(SourceChecked {
            source: "arxiv".into(),
            outcome: SourceOutcome::Ok,
            fetched: 50,
            new_items: 2,
            duration_ms: 420,
        }),
        Event::from(SourceChecked {
            source: "reddit".into(),
            outcome: SourceOutcome::NotModified,
            fetched: 0,
            new_items: 0,
            duration_ms: 80,
        }),
        discovered(a, 2 * i),
        discovered(b, 2 * i + 1),
        scored(a, 0.71),
        scored(b, 0.52),
        Event::from(OpportunitySubmitted {
            opportunity_id: a,
            composite: 0.71,
        }),
        Event::from(OpportunityHeld {
            opportunity_id: b,
            composite: 0.52,
            threshold: 0.65,
        }),
        Event::from(ValidationLayerFinished {
            strategy_id: strategy,
            layer: 2,
            layer_name: "security".into(),
            passed: false,
            errors: vec![Finding {
                code: "security.unsafe".into(),
                message: "`unsafe` block".into(),
                line: Some(12),
            }],
            warnings: vec![],
            duration_us: 310,
        }),
        Event::from(ValidationDecided {
            strategy_id: strategy,
            decision: Decision::Rejected,
            layers_passed: 1,
            reason: "layer 2".into(),
        }),
    ]
}

/// Appends whole cycles (`cycle`, a hundred a batch) to the data directory `dir`'s log until it
/// holds at least `events`, its projections caught up as a running daemon leaves them.
#[allow(dead_code)] // Not every bench that reads this file builds a directory.
pub fn fill(dir: &std::path::Path, events: u64) {
    use stratagem_events::projection::files::ProjectionFiles;
    use stratagem_events::{AppendRequest, EventStore, SledEventStore};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = SledEventStore::open(dir.join("events")).unwrap();
    let mut files = ProjectionFiles::open(dir, &store).unwrap();
    let mut i = 0;
    while store.head().seq < events {
        let batch: Vec<Event> = (0..100).flat_map(|k| cycle(i * 100 + k)).collect();
        rt.block_on(store.append(AppendRequest::new(batch)))
            .unwrap();
        files.catch_up(&store).unwrap();
        i += 1;
    }
}
