// expect: layer 6 sandbox.compile
// A hostile strategy file: endless const evaluation.
use stratagem_sdk::prelude::*;
const BOMB: u64 = {
    let mut i = 0u64;
    loop {
        i = i.wrapping_add(1);
        if i == 0 {
            break i;
        }
    }
};
/// endless const evaluation
pub struct HostileStrategy {
    n: u64,
}

impl Strategy for HostileStrategy {
    fn new() -> Self {
        HostileStrategy { n: 0 }
    }

    fn should_trade(&mut self, bar: &Bar) -> Result<Option<Signal>, StrategyError> {
        self.n += 1;
        let _ = BOMB;
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
