//! Events the integration tests of the log share.

use stratagem_events::{Event, GenerationMode, OpportunityDiscovered, StrategyGenerated};
use uuid::Uuid;

/// A generated momentum strategy.
#[allow(dead_code)]
pub fn generated(id: Uuid) -> Event {
    generated_from(id, Uuid::from_u128(1))
}

/// A generated momentum strategy of the opportunity `opportunity`.
#[allow(dead_code)]
pub fn generated_from(id: Uuid, opportunity: Uuid) -> Event {
    Event::from(StrategyGenerated {
        strategy_id: id,
        opportunity_id: opportunity,
        name: format!("momentum_{}", id.as_u128()),
        path: String::new(),
        sha256: String::new(),
        source_code: String::new(),
        mode: GenerationMode::Template,
        template: Some("momentum".into()),
        parameters: Vec::new(),
        model: None,
        prompt: None,
        reply: None,
        tokens_used: 0,
    })
}

/// A hand-submitted opportunity titled `title`.
#[allow(dead_code)]
pub fn discovered(id: Uuid, title: &str) -> Event {
    Event::from(OpportunityDiscovered {
        opportunity_id: id,
        source: "manual".into(),
        external_id: None,
        title: title.into(),
        hypothesis: "h".into(),
        url: None,
        family: None,
        asset_class: None,
        timeframe: None,
        parameters: vec![],
        stated_sharpe: None,
        template: None,
        parent_strategy_id: None,
    })
}
