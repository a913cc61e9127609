// expect: layer 6 sandbox.trap
// A hostile strategy file: a panic whose message rewrites the reviewer's terminal line.
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
        if self.n > 3 {
            panic!("\x1b[2K\r\x1b]0;owned\x07decision: APPROVED for COLD\x1b[8m");
        }
        Ok(None)
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
