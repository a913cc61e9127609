//! Time for the stages. One [`Clock`] trait: [`RealClock`] for live paper trading,
//! [`SimulatedClock`] for backtests and offline replays, where "4 hours of paper trading" takes
//! 4 hours of recorded bars and, at `speed` None, no real time at all.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of time, in unix seconds.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> i64;
    /// Resolves once the clock reads at least `t`.
    fn wait_until(&self, t: i64) -> impl Future<Output = ()> + Send;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealClock;

impl Clock for RealClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }

    async fn wait_until(&self, t: i64) {
        let now = self.now();
        if t > now {
            tokio::time::sleep(Duration::from_secs(u64::try_from(t - now).unwrap_or(0))).await;
        }
    }
}

/// A clock that jumps to whatever time it is asked to wait for; with a `speed`, it also
/// sleeps the waited span divided by the speed (e.g. 3,600 replays an hour per second).
#[derive(Debug)]
pub struct SimulatedClock {
    now: AtomicI64,
    speed: Option<f64>,
}

impl SimulatedClock {
    /// A clock reading `start`, replaying at `speed` (None = instantly).
    pub fn new(start: i64, speed: Option<f64>) -> SimulatedClock {
        SimulatedClock {
            now: AtomicI64::new(start),
            speed: speed.filter(|s| s.is_finite() && *s > 0.0),
        }
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    async fn wait_until(&self, t: i64) {
        let now = self.now();
        if t <= now {
            return;
        }
        if let Some(speed) = self.speed {
            tokio::time::sleep(Duration::from_secs_f64((t - now) as f64 / speed)).await;
        }
        self.now.fetch_max(t, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_simulated_clock_jumps_at_once_or_paces_at_its_speed() {
        let instant = SimulatedClock::new(1_000, None);
        let started = std::time::Instant::now();
        instant.wait_until(1_000 + 4 * 3600).await;
        assert_eq!(instant.now(), 1_000 + 4 * 3600);
        assert!(started.elapsed() < Duration::from_millis(50));
        // An hour at 36,000× takes a tenth of a second.
        let paced = SimulatedClock::new(0, Some(36_000.0));
        let started = std::time::Instant::now();
        paced.wait_until(3600).await;
        assert!(
            started.elapsed() >= Duration::from_millis(90),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(paced.now(), 3600);
        paced.wait_until(10).await; // the past: no wait, no going back
        assert_eq!(paced.now(), 3600);
    }
}
