//! The market regime, detected from recent bars: BULL, BEAR or SIDEWAYS.
//!
//! Over the last [`WINDOW_BARS`] bars (30 days of hourly bars): the return from the first close
//! to the last, and where the last close sits against the window's mean. A return beyond
//! ±[`TREND_THRESHOLD`] with the close on the same side of the mean is a trend (BULL or BEAR);
//! anything else is SIDEWAYS. Annualised volatility is reported beside it.

use serde::Serialize;

use crate::validator::sandbox::runtime::SandboxBar;

/// Bars in the window (30 days of hourly bars).
pub const WINDOW_BARS: usize = 720;
/// Return over the window that makes a trend.
pub const TREND_THRESHOLD: f64 = 0.05;

/// A regime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Regime {
    /// Rising.
    Bull,
    /// Falling.
    Bear,
    /// Neither.
    Sideways,
}

impl Regime {
    /// The lower-case name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Regime::Bull => "bull",
            Regime::Bear => "bear",
            Regime::Sideways => "sideways",
        }
    }
}

/// The regime and the figures behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegimeReading {
    /// The regime.
    pub regime: Regime,
    /// Return over the window.
    pub window_return: f64,
    /// Annualised volatility of bar returns over the window (24/7 market).
    pub annual_volatility: f64,
    /// Bars used.
    pub bars: usize,
    /// One line saying why.
    pub reason: String,
}

/// Detects the regime of the last [`WINDOW_BARS`] bars (fewer if that is all there is).
/// Fewer than two bars: SIDEWAYS, saying so.
pub fn detect(bars: &[SandboxBar]) -> RegimeReading {
    detect_window(&bars[bars.len().saturating_sub(WINDOW_BARS)..])
}

/// Detects the regime over every bar of `window` (a series of the bar store reads its last 30
/// days, whatever its interval). Fewer than two bars: SIDEWAYS, saying so.
pub fn detect_window(window: &[SandboxBar]) -> RegimeReading {
    if window.len() < 2 {
        return RegimeReading {
            regime: Regime::Sideways,
            window_return: 0.0,
            annual_volatility: 0.0,
            bars: window.len(),
            reason: "too few bars to tell a trend: assumed sideways".into(),
        };
    }
    let first = window[0].close;
    let last = window[window.len() - 1].close;
    let window_return = last / first - 1.0;
    let mean = window.iter().map(|b| b.close).sum::<f64>() / window.len() as f64;
    let returns: Vec<f64> = window
        .windows(2)
        .map(|w| w[1].close / w[0].close - 1.0)
        .collect();
    let m = returns.iter().sum::<f64>() / returns.len() as f64;
    let var = if returns.len() > 1 {
        returns.iter().map(|r| (r - m).powi(2)).sum::<f64>() / (returns.len() - 1) as f64
    } else {
        0.0
    };
    let bars_per_year = crate::market::bars_per_year(window);
    let annual_volatility = (var * bars_per_year).sqrt();
    let regime = if window_return > TREND_THRESHOLD && last > mean {
        Regime::Bull
    } else if window_return < -TREND_THRESHOLD && last < mean {
        Regime::Bear
    } else {
        Regime::Sideways
    };
    RegimeReading {
        regime,
        window_return,
        annual_volatility,
        bars: window.len(),
        reason: format!(
            "{} over the last {} bars ({:+.1} %, close {} the mean, volatility {:.0} % a year)",
            regime.as_str(),
            window.len(),
            window_return * 100.0,
            if last > mean { "above" } else { "below" },
            annual_volatility * 100.0
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(closes: &[f64]) -> Vec<SandboxBar> {
        closes
            .iter()
            .enumerate()
            .map(|(i, c)| SandboxBar {
                timestamp: 1_600_000_000 + 3600 * i as i64,
                open: *c,
                high: *c,
                low: *c,
                close: *c,
                volume: 1.0,
            })
            .collect()
    }

    #[test]
    fn rising_falling_and_flat_markets() {
        let up: Vec<f64> = (0..800).map(|i| 100.0 + i as f64 * 0.05).collect();
        assert_eq!(detect(&bars(&up)).regime, Regime::Bull);
        let down: Vec<f64> = up.iter().rev().copied().collect();
        assert_eq!(detect(&bars(&down)).regime, Regime::Bear);
        let flat: Vec<f64> = (0..800)
            .map(|i| 100.0 + if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        assert_eq!(detect(&bars(&flat)).regime, Regime::Sideways);
        assert_eq!(detect(&bars(&[100.0])).regime, Regime::Sideways);
    }

    #[test]
    fn the_embedded_hourly_data_ends_in_a_bear_market() {
        // Coinbase BTC/USD, 2019-09-17 → 2019-10-17: from about 10,200 to about 8,000.
        let r = detect(crate::market::embedded_hourly());
        assert_eq!(r.regime, Regime::Bear, "{}", r.reason);
        assert!(r.window_return < -0.15, "{}", r.reason);
    }
}
