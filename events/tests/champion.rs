//! The FULL champion as the log makes it: set when a strategy's FULL run completes, handed back
//! to the previous champion when the monitor rolls it back, never a strategy that left FULL.

mod common;

use common::generated;
use stratagem_events::{
    AppendRequest, Event, EventStore, MemoryEventStore, Projections, Stage, StageCompleted,
    StageMetrics, StageRolledBack, StrategyRetired,
};
use uuid::Uuid;

fn full_done(id: Uuid, passed: bool) -> Event {
    Event::from(StageCompleted {
        strategy_id: id,
        stage: Stage::Full,
        run_id: Uuid::now_v7(),
        metrics: StageMetrics::default(),
        passed,
        gate: "none".into(),
    })
}

async fn replayed(store: &MemoryEventStore, events: Vec<Event>) -> Projections {
    store.append(AppendRequest::new(events)).await.unwrap();
    Projections::replay(store).unwrap()
}

#[tokio::test]
async fn the_champion_follows_full_runs_rollbacks_and_retirements() {
    let (a, b, c) = (
        Uuid::from_u128(10),
        Uuid::from_u128(20),
        Uuid::from_u128(30),
    );
    let store = MemoryEventStore::new();
    let p = replayed(&store, vec![generated(a), generated(b), generated(c)]).await;
    assert_eq!(p.champion, None);

    let p = replayed(&store, vec![full_done(a, true)]).await;
    assert_eq!(
        (p.champion, p.previous_champions.clone()),
        (Some(a), vec![])
    );
    // A failed FULL run crowns nobody.
    let p = replayed(&store, vec![full_done(c, false)]).await;
    assert_eq!(p.champion, Some(a));
    let p = replayed(&store, vec![full_done(b, true)]).await;
    assert_eq!(
        (p.champion, p.previous_champions.clone()),
        (Some(b), vec![a])
    );

    // The monitor rolls B back and reinstates A.
    let p = replayed(
        &store,
        vec![Event::from(StageRolledBack {
            strategy_id: b,
            from: Stage::Full,
            to: Stage::Limited,
            reason: "drawdown 12.0 % beyond the limit of 10.0 %".into(),
            reinstated: Some(a),
        })],
    )
    .await;
    assert_eq!(
        (p.champion, p.previous_champions.clone()),
        (Some(a), vec![])
    );
    assert_eq!(p.strategies[&b].rollbacks, 1);
    assert_eq!(p.strategies[&b].stage, Some(Stage::Limited));

    // B comes back to FULL, then A is retired while not champion: it leaves the succession.
    let p = replayed(&store, vec![full_done(b, true)]).await;
    assert_eq!(
        (p.champion, p.previous_champions.clone()),
        (Some(b), vec![a])
    );
    let p = replayed(
        &store,
        vec![Event::from(StrategyRetired {
            strategy_id: a,
            stage: Some(Stage::Full),
            reason: "a loser".into(),
        })],
    )
    .await;
    assert_eq!(
        (p.champion, p.previous_champions.clone()),
        (Some(b), vec![])
    );
    // Retiring the champion with no one before it leaves no champion (buy-and-hold again).
    let p = replayed(
        &store,
        vec![Event::from(StrategyRetired {
            strategy_id: b,
            stage: Some(Stage::Full),
            reason: "a loser".into(),
        })],
    )
    .await;
    assert_eq!(p.champion, None);
}
