//! SMA 10/50 crossover: long with all the capital the host allows while the 10-bar average of
//! closes is above the 50-bar one, flat otherwise. The backtest oracle's strategy.
use std::collections::VecDeque;

use stratagem_sdk::prelude::*;

/// Parameters, with their defaults.
pub struct CrossParams {
    /// Bars of the fast average.
    pub fast: usize,
    /// Bars of the slow average.
    pub slow: usize,
}

impl Default for CrossParams {
    fn default() -> Self {
        CrossParams { fast: 10, slow: 50 }
    }
}

/// Long while the fast average is above the slow one.
pub struct SmaCrossStrategy {
    params: CrossParams,
    closes: VecDeque<f64>,
}

impl SmaCrossStrategy {
    fn average(&self, bars: usize) -> Option<f64> {
        if bars == 0 || self.closes.len() < bars {
            return None;
        }
        let sum: f64 = self.closes.iter().rev().take(bars).sum();
        Some(sum / bars as f64)
    }

    fn remember(&mut self, close: f64) {
        self.closes.push_back(close);
        while self.closes.len() > self.params.slow {
            self.closes.pop_front();
        }
    }
}

impl Strategy for SmaCrossStrategy {
    fn new() -> Self {
        SmaCrossStrategy { params: CrossParams::default(), closes: VecDeque::new() }
    }

    fn should_trade(&mut self, bar: &Bar) -> Result<Option<Signal>, StrategyError> {
        if bar.close.is_nan() || bar.close <= 0.0 {
            return Err(StrategyError::new("a bar without a positive close"));
        }
        self.remember(bar.close);
        let fast = self.average(self.params.fast);
        let slow = self.average(self.params.slow);
        let (Some(fast), Some(slow)) = (fast, slow) else {
            return Ok(None);
        };
        let direction = if fast > slow { Direction::Long } else { Direction::Flat };
        Ok(Some(Signal::new(direction, 1.0)))
    }

    fn execute(&mut self, signal: Signal, bar: &Bar) -> Result<Option<Order>, StrategyError> {
        if !GoalValidator::gate(signal.confidence)? {
            return Ok(None);
        }
        if signal.direction == Direction::Flat {
            return Ok(Some(Order::flat()));
        }
        let quantity = RiskController::size(signal.confidence, bar.close)?;
        log_debug!("long {:.6} at {:.2}", quantity, bar.close);
        Ok(Some(Order::market(signal.direction, quantity)))
    }
}
