// expect: layer 6 sandbox.compile
// A hostile strategy file: unbounded generic recursion at compile time.
use stratagem_sdk::prelude::*;
fn grow<T: Clone>(n: u64, t: T) -> Option<Signal> {
    if n == 0 { return None; }
    grow(n - 1, vec![t])
}
/// unbounded generic recursion at compile time
pub struct HostileStrategy {
    n: u64,
}

impl Strategy for HostileStrategy {
    fn new() -> Self {
        HostileStrategy { n: 0 }
    }

    fn should_trade(&mut self, bar: &Bar) -> Result<Option<Signal>, StrategyError> {
        self.n += 1;
        Ok(grow(self.n, Vec::<u8>::new()))
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
