// expect: layer 6 sandbox.trap
// A hostile strategy file: a huge allocation.
use stratagem_sdk::prelude::*;

/// a huge allocation
pub struct HostileStrategy {
    n: u64,
}

impl Strategy for HostileStrategy {
    fn new() -> Self {
        HostileStrategy { n: 0 }
    }

    fn should_trade(&mut self, bar: &Bar) -> Result<Option<Signal>, StrategyError> {
        self.n += 1;
        let v = vec![bar.close as u8; 1 << 30];
        if v[7] == 3 { return Ok(None); }
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
