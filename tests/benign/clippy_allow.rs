// benign: a clippy lint level.
#[allow(clippy::too_many_arguments)]
pub fn many(a: f64, b: f64, c: f64, d: f64, e: f64, f: f64, g: f64, h: f64) -> f64 { a + b + c + d + e + f + g + h }
use std::collections::VecDeque;

use stratagem_sdk::prelude::*;

/// Buys when the close is above its moving average by more than a threshold, sells when below.
pub struct CleanMomentumStrategy {
    params: MomentumParams,
    closes: VecDeque<f64>,
}

/// Parameters, with their defaults.
pub struct MomentumParams {
    pub lookback: usize,
    pub threshold: f64,
}

impl Default for MomentumParams {
    fn default() -> Self {
        MomentumParams { lookback: 24, threshold: 0.01 }
    }
}

impl CleanMomentumStrategy {
    fn average(&self) -> Option<f64> {
        if self.closes.len() < self.params.lookback {
            return None;
        }
        Some(self.closes.iter().sum::<f64>() / self.closes.len() as f64)
    }
}

impl Strategy for CleanMomentumStrategy {
    fn new() -> Self {
        CleanMomentumStrategy { params: MomentumParams::default(), closes: VecDeque::new() }
    }

    fn should_trade(&mut self, bar: &Bar) -> Result<Option<Signal>, StrategyError> {
        self.closes.push_back(bar.close);
        if self.closes.len() > self.params.lookback {
            self.closes.pop_front();
        }
        let Some(mean) = self.average() else { return Ok(None) };
        let edge = (bar.close - mean) / mean;
        let confidence = (edge.abs() / self.params.threshold).min(1.0);
        if edge > self.params.threshold {
            log_info!("long signal, edge {edge:.4}");
            return Ok(Some(Signal::new(Direction::Long, confidence)));
        }
        if edge < -self.params.threshold {
            return Ok(Some(Signal::new(Direction::Short, confidence)));
        }
        Ok(None)
    }

    fn execute(&mut self, signal: Signal, bar: &Bar) -> Result<Option<Order>, StrategyError> {
        if !GoalValidator::gate(signal.confidence)? {
            return Ok(None);
        }
        let quantity = RiskController::size(signal.confidence, bar.close)?;
        Ok(Some(Order::market(signal.direction, quantity)))
    }
}
