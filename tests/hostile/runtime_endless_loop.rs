// expect: layer 6 sandbox.trap
// A hostile strategy file: an endless loop.
use stratagem_sdk::prelude::*;

/// an endless loop
pub struct HostileStrategy {
    n: u64,
}

impl Strategy for HostileStrategy {
    fn new() -> Self {
        HostileStrategy { n: 0 }
    }

    fn should_trade(&mut self, bar: &Bar) -> Result<Option<Signal>, StrategyError> {
        self.n += 1;
        loop { self.n = self.n.wrapping_mul(3).wrapping_add(bar.close as u64); }
    }

    fn execute(&mut self, signal: Signal, bar: &Bar) -> Result<Option<Order>, StrategyError> {
        if !GoalValidator::gate(signal.confidence)? {
            return Ok(None);
        }
        log_info!("order at {}", bar.close);
        let quantity = RiskController::size(signal.confidence, bar.close)?;
        Ok(Some(Order::market(signal.direction, quantity)))
    }
}
