//! Goes short with all the capital the host allows at the first bar it sees and holds the
//! position: through a bull market it is ruined.
use stratagem_sdk::prelude::*;

/// Parameters, with their defaults.
pub struct ShortParams {
    /// Confidence of the one signal.
    pub conviction: f64,
}

impl Default for ShortParams {
    fn default() -> Self {
        ShortParams { conviction: 1.0 }
    }
}

/// Short once, then hold.
pub struct ShortAndHoldStrategy {
    params: ShortParams,
    entered: bool,
    bars_seen: u64,
}

impl ShortAndHoldStrategy {
    fn first_bar(&mut self) -> bool {
        self.bars_seen += 1;
        if self.entered {
            return false;
        }
        self.entered = true;
        true
    }
}

impl Strategy for ShortAndHoldStrategy {
    fn new() -> Self {
        ShortAndHoldStrategy { params: ShortParams::default(), entered: false, bars_seen: 0 }
    }

    fn should_trade(&mut self, bar: &Bar) -> Result<Option<Signal>, StrategyError> {
        if bar.close.is_nan() || bar.close <= 0.0 {
            return Err(StrategyError::new("a bar without a positive close"));
        }
        if !self.first_bar() {
            return Ok(None);
        }
        Ok(Some(Signal::new(Direction::Short, self.params.conviction)))
    }

    fn execute(&mut self, signal: Signal, bar: &Bar) -> Result<Option<Order>, StrategyError> {
        if !GoalValidator::gate(signal.confidence)? {
            return Ok(None);
        }
        let quantity = RiskController::size(signal.confidence, bar.close)?;
        log_info!("short {:.6} at {:.2} after {} bars", quantity, bar.close, self.bars_seen);
        Ok(Some(Order::market(signal.direction, quantity)))
    }
}
