//! The strategy lifecycle as a state machine: every transition a decision may record, listed
//! once ([`next`]), and enforced before a batch is appended ([`check`]). Retired and rejected
//! are terminal: only `review.reopened` leads out of them.
//!
//! ```text
//!                 strategy.generated
//!                        │
//!                        ▼
//!   ┌──────────────► generated ──validation.started──► validating
//!   │                                                  │  │  │
//!   │            validation.decided (approved) ◄───────┘  │  └─► manual_review ─┐
//!   │                        │            (rejected) ─────┼──► rejected ◄──────┤ review.rejected
//!   │                        ▼                            │        ▲           │
//!   │  review.approved ─► approved ──stage.promoted──► staged ──────┘          │
//!   │  (manual review)      ▲ └────stage.rejected ──────┘ │  stage.rejected    │
//!   │                       └─────────────────────────────┼────────────────────┘
//!   │                                                     └─strategy.retired─► retired
//!   └─────────────── review.reopened (from rejected or retired) ◄──────────────┘
//! ```
//!
//! Replay applies history as it was recorded (an old log may hold what these rules now
//! refuse); the rules bind what is decided from now on.

use uuid::Uuid;

use super::{Projections, StrategyStatus};
use crate::event::Event;

/// A transition the lifecycle does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("strategy {strategy} is {from}: `{event}` is not a transition of its lifecycle{hint}")]
pub struct Illegal {
    /// The strategy.
    pub strategy: Uuid,
    /// Its state.
    pub from: &'static str,
    /// The event refused.
    pub event: &'static str,
    /// What would lead on, if anything.
    pub hint: &'static str,
}

/// The strategy an event is about, for the lifecycle (`None`: not a lifecycle event).
fn subject(event: &Event) -> Option<Uuid> {
    Some(match event {
        Event::StrategyGenerated(e) => e.strategy_id,
        Event::ValidationStarted(e) => e.strategy_id,
        Event::ValidationLayerFinished(e) => e.strategy_id,
        Event::ValidationDecided(e) => e.strategy_id,
        Event::ReviewApproved(e) => e.strategy_id,
        Event::ReviewRejected(e) => e.strategy_id,
        Event::ReviewReopened(e) => e.strategy_id,
        Event::StageStarted(e) => e.strategy_id,
        Event::StageCompleted(e) => e.strategy_id,
        Event::StagePromoted(e) => e.strategy_id,
        Event::StageRejected(e) => e.strategy_id,
        Event::StageRolledBack(e) => e.strategy_id,
        Event::StageHeld(e) => e.strategy_id,
        Event::StrategyRetired(e) => e.strategy_id,
        Event::MonitorObserved(e) => e.strategy_id,
        Event::CloneSpawned(e) => e.parent_strategy_id,
        _ => return None,
    })
}

/// The state after `event` for a strategy in state `from` (`None`: not generated yet), or
/// why the lifecycle refuses it. Every transition is here, once.
pub fn next(
    from: Option<StrategyStatus>,
    event: &Event,
) -> Result<Option<StrategyStatus>, (&'static str, &'static str)> {
    use crate::event::Decision;
    use StrategyStatus::*;
    let terminal = "; `stratagem review reopen ID --reason …` lets it back in";
    Ok(Some(match (from, event) {
        (None, Event::StrategyGenerated(_)) => Generated,
        // Regenerating the same source is recorded once; a known strategy stays as it is.
        (Some(s), Event::StrategyGenerated(_)) => s,
        (None, _) => return Err(("unknown", "")),
        (Some(Retired | Rejected), Event::ReviewReopened(_)) => Generated,
        (Some(_), Event::ReviewReopened(_)) => {
            return Err(("", ": only a retired or rejected strategy is reopened"))
        }
        (Some(Retired | Rejected), _) => return Err(("", terminal)),
        // Validation: started from any live state (a crash mid-validation starts it again).
        (Some(_), Event::ValidationStarted(_)) => Validating,
        (Some(Validating), Event::ValidationLayerFinished(_)) => Validating,
        (Some(Validating), Event::ValidationDecided(d)) => match d.decision {
            Decision::Approved => Approved,
            Decision::Rejected => Rejected,
            Decision::ManualReview => ManualReview,
        },
        (Some(_), Event::ValidationLayerFinished(_) | Event::ValidationDecided(_)) => {
            return Err(("", ": a validation that was not started"))
        }
        // A person's decisions.
        (Some(ManualReview), Event::ReviewApproved(e)) if e.before_stage.is_none() => Approved,
        (Some(ManualReview), Event::ReviewRejected(e)) if e.before_stage.is_none() => Rejected,
        (Some(s @ (Approved | Staged)), Event::ReviewApproved(e)) if e.before_stage.is_some() => s,
        (Some(Approved | Staged), Event::ReviewRejected(e)) if e.before_stage.is_some() => Rejected,
        (Some(_), Event::ReviewApproved(_) | Event::ReviewRejected(_)) => {
            return Err(("", ": it does not wait for that decision"))
        }
        // The stages.
        (Some(s @ (Approved | Staged)), Event::StageStarted(_) | Event::StageCompleted(_)) => s,
        (Some(Approved | Staged), Event::StagePromoted(_)) => Staged,
        (Some(Staged), Event::StageHeld(_)) => Staged,
        (Some(Approved | Staged), Event::StageRejected(_)) => Rejected,
        (Some(Staged), Event::StageRolledBack(_)) => Staged,
        (Some(Staged), Event::MonitorObserved(_) | Event::CloneSpawned(_)) => Staged,
        (Some(Approved | Staged), Event::StrategyRetired(_)) => Retired,
        (Some(_), _) => return Err(("", ": it is not in a stage")),
    }))
}

/// Checks a batch against the lifecycle, event by event from the state in `state`.
///
/// # Errors
/// The first transition the lifecycle refuses.
pub fn check(state: &Projections, events: &[Event]) -> Result<(), Illegal> {
    let mut now: std::collections::HashMap<Uuid, Option<StrategyStatus>> = Default::default();
    for event in events {
        let Some(id) = subject(event) else {
            continue;
        };
        let from = *now
            .entry(id)
            .or_insert_with(|| state.strategies.get(&id).map(|s| s.status));
        match next(from, event) {
            Ok(to) => {
                now.insert(id, to);
            }
            Err((name, hint)) => {
                return Err(Illegal {
                    strategy: id,
                    from: from.map_or(if name.is_empty() { "unknown" } else { name }, |s| {
                        s.as_str()
                    }),
                    event: event.kind().as_str(),
                    hint,
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ReviewReopened, StrategyRetired, ValidationStarted};

    #[test]
    fn terminal_states_lead_out_only_through_a_reopening() {
        let id = Uuid::from_u128(9);
        let started = Event::from(ValidationStarted {
            strategy_id: id,
            sha256: "x".into(),
        });
        let reopened = Event::from(ReviewReopened {
            strategy_id: id,
            reviewer: "a".into(),
            reason: "new evidence".into(),
        });
        let retired = Event::from(StrategyRetired {
            strategy_id: id,
            stage: None,
            reason: "loser".into(),
        });
        for terminal in [StrategyStatus::Retired, StrategyStatus::Rejected] {
            assert!(next(Some(terminal), &started).is_err());
            assert_eq!(
                next(Some(terminal), &reopened),
                Ok(Some(StrategyStatus::Generated))
            );
        }
        assert!(next(Some(StrategyStatus::Generated), &reopened).is_err());
        assert!(next(Some(StrategyStatus::Generated), &retired).is_err());
        assert_eq!(
            next(Some(StrategyStatus::Staged), &retired),
            Ok(Some(StrategyStatus::Retired))
        );
        assert!(next(None, &started).is_err());
    }
}
