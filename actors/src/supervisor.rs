//! Restart policy of the supervisors.
//!
//! ractor has no restart policy of its own, and its default supervisor handler stops the
//! supervisor when a child dies. Ours restarts a failed child after an exponential backoff. It
//! gives up (and escalates) when the child failed more than `max_restarts` times within
//! `window`. Time comes from the caller as a duration since any fixed origin, so the policy runs
//! the same on the real and the simulated clock.

use std::collections::VecDeque;
use std::time::Duration;

use stratagem_events::{ActorGaveUp, ActorRestarted, Event};

/// Work the caller does for an actor failed: opening the log, running a job, recording
/// events. The caller's errors are its own types (the binary's carry a chain of context), so
/// they reach the actors as their words, flattened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HostError(pub String);

/// A supervised run of actors (a cycle, discovery, the pipeline) could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CycleError {
    /// A cycle was asked for while one runs.
    #[error("a cycle is already running")]
    Busy,
    /// A child failed past its restart intensity and was given up: the escalation.
    #[error("{child} failed {restarts} times within {window_secs} s and was given up: {reason}")]
    GaveUp {
        /// The child.
        child: &'static str,
        /// Restarts within the window.
        restarts: u32,
        /// The window.
        window_secs: u64,
        /// Its last failure.
        reason: String,
    },
    /// An actor could not be started.
    #[error("cannot start {what}: {reason}")]
    Start {
        /// Which.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// An actor stopped before it was done.
    #[error("{what} stopped before it was done: {reason}")]
    Stopped {
        /// Which.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// The actors whose start this process has recorded (`actor.started`).
///
/// A phase's actors (discovery's scorer and source actors, the pipeline's workers) are spawned
/// with their phase in every cycle that has work; recording each spawn would add events to the
/// log at every cycle of a daemon that runs for months. So `actor.started` records an actor's
/// first start in the process, a failure and restart is `actor.restarted`, and a later cycle's
/// spawn of the same actor is neither.
#[derive(Debug, Clone, Default)]
pub struct Announced(std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>);

impl Announced {
    /// Whether `actor` starts for the first time in this process (and marks it started).
    pub fn first(&self, actor: &str) -> bool {
        match self.0.lock() {
            Ok(mut seen) => seen.insert(actor.to_string()),
            // A poisoned set: recording a start twice is better than losing one.
            Err(_) => true,
        }
    }
}

/// How a supervisor restarts a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Restarts allowed within `window`; one more failure gives up.
    pub max_restarts: u32,
    /// The intensity window.
    pub window: Duration,
    /// Backoff before the first restart in a window; doubled for each further one.
    pub initial_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
}

impl Default for RestartPolicy {
    /// 5 restarts in 60 s, backoff from 0.5 s doubling to at most 30 s.
    fn default() -> Self {
        RestartPolicy {
            max_restarts: 5,
            window: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartDecision {
    /// Restart after `backoff`; this is restart number `attempt` within the window.
    Restart {
        /// Restarts within the window, this one included.
        attempt: u32,
        /// Wait before restarting.
        backoff: Duration,
    },
    /// Too many failures within the window: stop restarting and escalate.
    GiveUp {
        /// Restarts within the window before this failure.
        restarts: u32,
    },
}

impl RestartDecision {
    /// The event that records this decision.
    pub fn to_event(self, actor: &str, reason: &str, policy: &RestartPolicy) -> Event {
        match self {
            RestartDecision::Restart { attempt, backoff } => Event::from(ActorRestarted {
                actor: actor.into(),
                attempt,
                reason: reason.into(),
                backoff_ms: u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
            }),
            RestartDecision::GiveUp { restarts } => Event::from(ActorGaveUp {
                actor: actor.into(),
                restarts,
                window_secs: policy.window.as_secs(),
                reason: reason.into(),
            }),
        }
    }
}

/// The failures of one child, judged against a policy.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    policy: RestartPolicy,
    restarts: VecDeque<Duration>,
}

impl RestartTracker {
    /// A tracker with no failures yet.
    pub fn new(policy: RestartPolicy) -> Self {
        RestartTracker {
            policy,
            restarts: VecDeque::new(),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RestartPolicy {
        &self.policy
    }

    /// Records a failure at time `now` and decides.
    pub fn on_failure(&mut self, now: Duration) -> RestartDecision {
        while let Some(first) = self.restarts.front() {
            if now.saturating_sub(*first) >= self.policy.window {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        let restarts = u32::try_from(self.restarts.len()).unwrap_or(u32::MAX);
        if restarts >= self.policy.max_restarts {
            return RestartDecision::GiveUp { restarts };
        }
        self.restarts.push_back(now);
        let factor = 1u32.checked_shl(restarts).unwrap_or(u32::MAX);
        let backoff = self
            .policy
            .initial_backoff
            .saturating_mul(factor)
            .min(self.policy.max_backoff);
        RestartDecision::Restart {
            attempt: restarts + 1,
            backoff,
        }
    }
}

/// A child's end as a supervisor sees it: the child and why it ended, for a failure or a stop
/// (`None` for the other supervision events, which need no restart).
pub fn ended(evt: ractor::SupervisionEvent) -> Option<(ractor::ActorCell, String)> {
    match evt {
        ractor::SupervisionEvent::ActorFailed(cell, err) => Some((cell, format!("failed: {err}"))),
        ractor::SupervisionEvent::ActorTerminated(cell, _, why) => Some((
            cell,
            format!("stopped: {}", why.unwrap_or_else(|| "no reason".into())),
        )),
        _ => None,
    }
}

/// Chaos testing: true the first time it is asked of a set flag (the caller then panics on
/// purpose, so the supervisor's restart can be tested); always false without a flag.
pub fn chaos_strikes(flag: Option<&std::sync::atomic::AtomicBool>) -> bool {
    flag.is_some_and(|f| !f.swap(true, std::sync::atomic::Ordering::SeqCst))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// Feeds failures at the given times and returns the decisions.
    fn check(policy: RestartPolicy, failures: &[f64], expected: &[RestartDecision]) {
        let mut tracker = RestartTracker::new(policy);
        let got: Vec<_> = failures
            .iter()
            .map(|t| tracker.on_failure(secs(*t)))
            .collect();
        assert_eq!(got, expected);
    }

    fn restart(attempt: u32, backoff_ms: u64) -> RestartDecision {
        RestartDecision::Restart {
            attempt,
            backoff: Duration::from_millis(backoff_ms),
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RestartPolicy {
            max_restarts: 10,
            max_backoff: secs(3.0),
            ..RestartPolicy::default()
        };
        check(
            policy,
            &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            &[
                restart(1, 500),
                restart(2, 1000),
                restart(3, 2000),
                restart(4, 3000),
                restart(5, 3000),
                restart(6, 3000),
            ],
        );
    }

    #[test]
    fn gives_up_past_the_intensity_limit() {
        let policy = RestartPolicy {
            max_restarts: 3,
            window: secs(10.0),
            ..RestartPolicy::default()
        };
        check(
            policy,
            &[0.0, 1.0, 2.0, 3.0],
            &[
                restart(1, 500),
                restart(2, 1000),
                restart(3, 2000),
                RestartDecision::GiveUp { restarts: 3 },
            ],
        );
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let policy = RestartPolicy {
            max_restarts: 2,
            window: secs(10.0),
            ..RestartPolicy::default()
        };
        // At 10.0 the failure at 0.0 has left the window; at 25 both earlier ones have.
        check(
            policy,
            &[0.0, 5.0, 10.0, 25.0],
            &[
                restart(1, 500),
                restart(2, 1000),
                restart(2, 1000),
                restart(1, 500),
            ],
        );
    }

    #[test]
    fn decisions_become_events() {
        let policy = RestartPolicy::default();
        let e = restart(2, 1000).to_event("arxiv", "timeout", &policy);
        assert_eq!(
            e,
            Event::from(ActorRestarted {
                actor: "arxiv".into(),
                attempt: 2,
                reason: "timeout".into(),
                backoff_ms: 1000
            })
        );
        let e = RestartDecision::GiveUp { restarts: 5 }.to_event("arxiv", "timeout", &policy);
        assert_eq!(
            e,
            Event::from(ActorGaveUp {
                actor: "arxiv".into(),
                restarts: 5,
                window_secs: 60,
                reason: "timeout".into()
            })
        );
    }
}
