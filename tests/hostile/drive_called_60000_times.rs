// expect: layer 6 sandbox.host_limit
// A hostile strategy file: calling the public `drive` 60,000 times a bar.
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
        let mut inner = Inner;
        for _ in 0..60_000 {
            stratagem_sdk::drive(&mut inner, *bar);
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

/// Always long, sized by the host.
pub struct Inner;

impl Strategy for Inner {
    fn new() -> Self {
        Inner
    }

    fn should_trade(&mut self, _bar: &Bar) -> Result<Option<Signal>, StrategyError> {
        Ok(Some(Signal::new(Direction::Long, 1.0)))
    }

    fn execute(&mut self, signal: Signal, bar: &Bar) -> Result<Option<Order>, StrategyError> {
        if !GoalValidator::gate(signal.confidence)? {
            return Ok(None);
        }
        let quantity = RiskController::size(signal.confidence, bar.close)?;
        Ok(Some(Order::market(signal.direction, quantity)))
    }
}
