//! The daemon's rhythm, as plain functions: which sources are due, and whether a cycle has
//! anything to do at all.
//!
//! An idle cycle must cost the same on the first day and after a year: nothing here looks at
//! more than the seven sources and a few numbers.

use crate::sources::check::{not_ready, Mode};
use crate::sources::config::DiscoveryConfig;
use crate::sources::SourceName;

/// The sources due at `now_micros`: those whose interval has passed since their last check
/// (`last_checked`, micros), or never checked. A source that cannot be checked (switched off,
/// or online without its token) is never due: it would only be skipped again, and a cycle with
/// nothing else to do stays idle.
///
/// A minute's slack: a check recorded a moment after the cycle began is not a reason to skip
/// the source for a whole interval.
pub fn due_sources(
    config: &DiscoveryConfig,
    mode: &Mode,
    now_micros: i64,
    last_checked: impl Fn(SourceName) -> Option<i64>,
) -> Vec<SourceName> {
    let now = now_micros + 60_000_000;
    SourceName::ALL
        .into_iter()
        .filter(|s| not_ready(*s, config, mode).is_none())
        .filter(|s| {
            let interval = config.source(*s).interval.as_micros() as i64;
            last_checked(*s).is_none_or(|t| t + interval <= now)
        })
        .collect()
}

/// Whether a cycle has work. Every step of a cycle is a function of the log, the settings and
/// the recorded bars; so when no source is due, no review decision waits to be recorded, the
/// log's head is where the last cycle left it and that cycle left nothing to retry, running the
/// steps again would decide nothing.
#[derive(Debug, Clone, Default)]
pub struct Idleness {
    /// The log's head after the last cycle, when that cycle left nothing to retry.
    settled: Option<u64>,
}

impl Idleness {
    /// Whether the cycle about to run is idle.
    pub fn is_idle(&self, due: &[SourceName], head: u64, handoff_waiting: bool) -> bool {
        due.is_empty() && !handoff_waiting && self.settled == Some(head)
    }

    /// Notes how a cycle that worked ended: the log's `head` after it, and whether something
    /// failed or still waits (then the next cycle works again).
    pub fn worked(&mut self, head: u64, retry: bool) {
        self.settled = (!retry).then_some(head);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_is_idle_only_when_nothing_is_due_waiting_or_new() {
        let mut idle = Idleness::default();
        // The first cycle of a process always works.
        assert!(!idle.is_idle(&[], 10, false));
        idle.worked(10, false);
        assert!(idle.is_idle(&[], 10, false));
        assert!(!idle.is_idle(&[SourceName::Arxiv], 10, false));
        assert!(!idle.is_idle(&[], 10, true));
        assert!(!idle.is_idle(&[], 11, false));
        // A cycle that left something to retry is followed by one that works.
        idle.worked(12, true);
        assert!(!idle.is_idle(&[], 12, false));
    }

    #[test]
    fn switched_off_sources_are_never_due() {
        let lookup = |k: &str| (k == "DISCOVERY_ARXIV_ENABLED").then(|| "0".to_string());
        let config = DiscoveryConfig::from_lookup(&lookup).unwrap();
        let due = due_sources(&config, &Mode::Online, 0, |_| None);
        assert!(!due.contains(&SourceName::Arxiv));
        assert!(due.contains(&SourceName::Reddit));
        // Online without a token: X is not due either.
        assert!(!due.contains(&SourceName::Twitter));
        // Checked just now: not due until its interval has passed.
        let hour = 3_600_000_000;
        let due = due_sources(&config, &Mode::Online, 0, |s| {
            (s == SourceName::Reddit).then_some(0)
        });
        assert!(!due.contains(&SourceName::Reddit));
        let due = due_sources(&config, &Mode::Online, hour, |s| {
            (s == SourceName::Reddit).then_some(0)
        });
        assert!(due.contains(&SourceName::Reddit));
    }
}
