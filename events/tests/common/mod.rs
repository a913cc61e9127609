//! Events the integration tests of the log share.

use stratagem_events::{Event, GenerationMode, StrategyGenerated};
use uuid::Uuid;

/// A generated momentum strategy.
pub fn generated(id: Uuid) -> Event {
    Event::from(StrategyGenerated {
        strategy_id: id,
        opportunity_id: Uuid::from_u128(1),
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
