// expect: layer 6 sandbox.trap
// A hostile strategy file: unbounded recursion.
use stratagem_sdk::prelude::*;
fn deep(n: u64) -> u64 {
    let frame = std::hint::black_box([n; 32]);
    deep(n.wrapping_add(1)).wrapping_add(frame[(n % 32) as usize])
}
/// unbounded recursion
pub struct HostileStrategy {
    n: u64,
}

impl Strategy for HostileStrategy {
    fn new() -> Self {
        HostileStrategy { n: 0 }
    }

    fn should_trade(&mut self, bar: &Bar) -> Result<Option<Signal>, StrategyError> {
        self.n += 1;
        if deep(self.n) == 7 { return Ok(None); }
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
