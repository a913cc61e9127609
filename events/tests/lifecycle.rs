//! The strategy lifecycle binds decisions: a batch is checked transition by transition from
//! the read models' state, and the first transition the lifecycle does not list is refused,
//! naming the strategy, its state and the event.

mod common;

use common::generated;
use stratagem_events::projection::lifecycle::check;
use stratagem_events::{
    AppendRequest, Event, EventStore, MemoryEventStore, Projections, ReviewReopened, Stage,
    StagePromoted, StrategyRetired, ValidationStarted,
};
use uuid::Uuid;

#[tokio::test]
async fn a_batch_is_checked_against_the_lifecycle() {
    let id = Uuid::from_u128(5);
    let store = MemoryEventStore::new();
    store
        .append(AppendRequest::new(vec![generated(id)]))
        .await
        .unwrap();
    let state = Projections::replay(&store).unwrap();
    // A generated strategy is not in a stage: it cannot be promoted.
    let promoted = Event::from(StagePromoted {
        strategy_id: id,
        from: Some(Stage::Cold),
        to: Stage::Warm,
    });
    let e = check(&state, std::slice::from_ref(&promoted)).unwrap_err();
    assert_eq!(e.from, "generated");
    assert_eq!(e.event, "stage.promoted");
    // Within a batch, each event sees the state the ones before it made: retired, then a
    // validation is refused; retired, reopened, then validated is a lifecycle.
    let retired = Event::from(StrategyRetired {
        strategy_id: id,
        stage: None,
        reason: "x".into(),
    });
    let started = Event::from(ValidationStarted {
        strategy_id: id,
        sha256: "s".into(),
    });
    let reopened = Event::from(ReviewReopened {
        strategy_id: id,
        reviewer: "a".into(),
        reason: "new evidence".into(),
    });
    // A generated strategy cannot be retired (it never traded).
    assert!(check(&state, std::slice::from_ref(&retired)).is_err());
    let mut staged = state.clone();
    if let Some(s) = staged.strategies.get_mut(&id) {
        s.status = stratagem_events::projection::StrategyStatus::Staged;
    }
    let e = check(&staged, &[retired.clone(), started.clone()]).unwrap_err();
    assert_eq!((e.from, e.event), ("retired", "validation.started"));
    assert!(e.to_string().contains("review reopen"), "{e}");
    check(&staged, &[retired, reopened, started]).unwrap();
}
