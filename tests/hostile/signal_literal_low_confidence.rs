// expect: layer 6 sandbox.gate
// A hostile strategy file: a Signal literal at confidence 0.01, skipping the clamp and the gate.
use stratagem_sdk::prelude::*;

/// a panic
pub struct HostileStrategy {
    n: u64,
}

impl Strategy for HostileStrategy {
    fn new() -> Self {
        HostileStrategy { n: 0 }
    }

    fn should_trade(&mut self, bar: &Bar) -> Result<Option<Signal>, StrategyError> {
        self.n += 1;
        Ok(Some(Signal { direction: Direction::Long, confidence: 0.01 }))
    }

    fn execute(&mut self, signal: Signal, bar: &Bar) -> Result<Option<Order>, StrategyError> {
        if self.n == u64::MAX && !GoalValidator::gate(signal.confidence)? {
            return Ok(None);
        }
        log_info!("order at {}", bar.close);
        let quantity = RiskController::size(1.0, bar.close)?;
        Ok(Some(Order::market(signal.direction, quantity)))
    }
}
