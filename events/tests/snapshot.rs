//! The projection snapshot: opening loads it and replays only the tail; a snapshot that is
//! missing, damaged in any byte, or taken of another log is detected and the state rebuilt
//! from the log, ending exactly where a replay from sequence 1 ends.

use std::path::Path;

use stratagem_events::projection::files::{projection_file_names, ProjectionFiles, SnapshotUse};
use stratagem_events::projection::snapshot::{SnapshotRejected, SNAPSHOT_EVERY, SNAPSHOT_FILE};
use stratagem_events::{
    ActorStarted, AppendRequest, Event, EventStore, MemoryEventStore, OpportunityDiscovered,
    OpportunityHeld, OpportunityScored, Parameter, Projections, SourceChecked, SourceOutcome,
    SubScore,
};
use uuid::Uuid;

fn sub(value: f64) -> SubScore {
    SubScore {
        value,
        reason: format!("because {value}"),
    }
}

/// A varied batch: a check, an opportunity discovered, scored and held, an actor start.
fn batch(n: u64) -> Vec<Event> {
    let id = Uuid::from_u128(u128::from(n) + 1);
    vec![
        Event::from(SourceChecked {
            source: ["arxiv", "reddit", "edgar"][n as usize % 3].into(),
            outcome: if n.is_multiple_of(7) {
                SourceOutcome::Failed {
                    error: format!("HTTP 500 at {n}"),
                }
            } else {
                SourceOutcome::Ok
            },
            fetched: 3,
            new_items: 1,
            duration_ms: n,
        }),
        Event::from(OpportunityDiscovered {
            opportunity_id: id,
            source: "arxiv".into(),
            external_id: Some(format!("2401.{n:05}")),
            title: format!("idea {n}").into(),
            hypothesis: "momentum persists over 48 hours".into(),
            url: None,
            family: Some("momentum".into()),
            asset_class: Some("crypto".into()),
            timeframe: None,
            parameters: vec![Parameter {
                name: "lookback".into(),
                value: n as f64,
            }],
            stated_sharpe: Some(1.25),
            template: Some("momentum".into()),
            parent_strategy_id: None,
        }),
        Event::from(OpportunityScored {
            opportunity_id: id,
            novelty: sub(0.5),
            market_fit: sub(0.25),
            complexity: sub(0.75),
            capital_efficiency: sub(0.5),
            risk: sub(0.5),
            composite: 0.5,
            regime: "bear".into(),
        }),
        Event::from(OpportunityHeld {
            opportunity_id: id,
            composite: 0.5,
            threshold: 0.65,
        }),
        Event::from(ActorStarted {
            actor: format!("source/{n}"),
        }),
    ]
}

async fn log_of(batches: u64) -> MemoryEventStore {
    let store = MemoryEventStore::new();
    for n in 0..batches {
        store.append(AppendRequest::new(batch(n))).await.unwrap();
    }
    store
}

fn files_of(dir: &Path) -> Vec<Vec<u8>> {
    projection_file_names()
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect()
}

/// Opens `dir` and checks the state and every file against a replay from sequence 1 into an
/// empty folder.
fn open_and_compare(dir: &Path, store: &MemoryEventStore) -> SnapshotUse {
    let files = ProjectionFiles::open(dir, store).unwrap();
    assert_eq!(files.state(), &Projections::replay(store).unwrap());
    let fresh = tempfile::tempdir().unwrap();
    ProjectionFiles::rebuild(fresh.path(), store).unwrap();
    assert_eq!(files_of(dir), files_of(fresh.path()));
    files.snapshot_use().clone()
}

#[tokio::test]
async fn opening_loads_the_snapshot_and_replays_only_the_tail() {
    let store = log_of(50).await;
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(open_and_compare(dir.path(), &store), SnapshotUse::Absent);
    // The first open wrote a snapshot of everything it replayed.
    assert_eq!(
        open_and_compare(dir.path(), &store),
        SnapshotUse::Loaded { seq: 250 }
    );
    // Events after the snapshot are replayed on top of it.
    store.append(AppendRequest::new(batch(50))).await.unwrap();
    assert_eq!(
        open_and_compare(dir.path(), &store),
        SnapshotUse::Loaded { seq: 250 }
    );
}

#[tokio::test]
async fn a_snapshot_is_written_every_so_many_events_as_the_projections_catch_up() {
    let store = MemoryEventStore::new();
    let dir = tempfile::tempdir().unwrap();
    let mut files = ProjectionFiles::open(dir.path(), &store).unwrap();
    let per_batch = batch(0).len() as u64;
    let batches = SNAPSHOT_EVERY / per_batch + 10;
    for n in 0..batches {
        store.append(AppendRequest::new(batch(n))).await.unwrap();
        files.catch_up(&store).unwrap();
    }
    drop(files);
    let reopened = ProjectionFiles::open(dir.path(), &store).unwrap();
    let SnapshotUse::Loaded { seq } = reopened.snapshot_use().clone() else {
        panic!("no snapshot loaded: {:?}", reopened.snapshot_use());
    };
    assert!(seq >= SNAPSHOT_EVERY && seq <= batches * per_batch, "{seq}");
    assert_eq!(reopened.state(), &Projections::replay(&store).unwrap());
}

#[tokio::test]
async fn a_deleted_snapshot_is_rebuilt_from_the_log() {
    let store = log_of(40).await;
    let dir = tempfile::tempdir().unwrap();
    open_and_compare(dir.path(), &store);
    std::fs::remove_file(dir.path().join(SNAPSHOT_FILE)).unwrap();
    assert_eq!(open_and_compare(dir.path(), &store), SnapshotUse::Absent);
    assert!(dir.path().join(SNAPSHOT_FILE).exists(), "written again");
}

#[tokio::test]
async fn one_changed_byte_anywhere_in_the_snapshot_is_detected() {
    let store = log_of(40).await;
    let dir = tempfile::tempdir().unwrap();
    open_and_compare(dir.path(), &store);
    let path = dir.path().join(SNAPSHOT_FILE);
    let good = std::fs::read(&path).unwrap();
    // The magic, the version, the sequence, the hash, the lengths, the body, the digest.
    let len = good.len();
    for at in [0, 31, 33, 40, 60, 90, 140, len / 2, len - 40, len - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        let used = open_and_compare(dir.path(), &store);
        assert!(
            matches!(used, SnapshotUse::Discarded(SnapshotRejected::Damaged(_))),
            "byte {at}: {used:?}"
        );
        // The rebuild wrote a good one again.
        assert_eq!(std::fs::read(&path).unwrap(), good, "byte {at}");
    }
    // Cut short.
    std::fs::write(&path, &good[..len / 3]).unwrap();
    assert!(matches!(
        open_and_compare(dir.path(), &store),
        SnapshotUse::Discarded(SnapshotRejected::Damaged(_))
    ));
}

#[tokio::test]
async fn a_snapshot_of_another_log_is_not_trusted() {
    let store = log_of(30).await;
    let dir = tempfile::tempdir().unwrap();
    open_and_compare(dir.path(), &store);
    let snapshot = std::fs::read(dir.path().join(SNAPSHOT_FILE)).unwrap();

    // Same length, other events: the hash at the snapshot's sequence differs.
    let other = MemoryEventStore::new();
    for n in 100..130 {
        other.append(AppendRequest::new(batch(n))).await.unwrap();
    }
    let other_dir = tempfile::tempdir().unwrap();
    open_and_compare(other_dir.path(), &other);
    std::fs::write(other_dir.path().join(SNAPSHOT_FILE), &snapshot).unwrap();
    assert!(matches!(
        open_and_compare(other_dir.path(), &other),
        SnapshotUse::Discarded(SnapshotRejected::NotOfThisLog { seq: 150, .. })
    ));

    // A shorter log (the snapshot is ahead of it).
    let short = log_of(10).await;
    let short_dir = tempfile::tempdir().unwrap();
    open_and_compare(short_dir.path(), &short);
    std::fs::write(short_dir.path().join(SNAPSHOT_FILE), &snapshot).unwrap();
    assert!(matches!(
        open_and_compare(short_dir.path(), &short),
        SnapshotUse::Discarded(SnapshotRejected::NotOfThisLog { seq: 150, .. })
    ));
}

#[tokio::test]
async fn with_the_checkpoint_lost_the_snapshot_still_spares_the_replay() {
    let store = log_of(30).await;
    let dir = tempfile::tempdir().unwrap();
    open_and_compare(dir.path(), &store);
    std::fs::remove_file(dir.path().join("projections.checkpoint")).unwrap();
    assert_eq!(
        open_and_compare(dir.path(), &store),
        SnapshotUse::Loaded { seq: 150 }
    );
}

#[tokio::test]
async fn a_truncated_audit_file_makes_the_snapshot_unusable_and_everything_is_rebuilt() {
    let store = log_of(30).await;
    let dir = tempfile::tempdir().unwrap();
    open_and_compare(dir.path(), &store);
    std::fs::remove_file(dir.path().join("projections.checkpoint")).unwrap();
    std::fs::write(dir.path().join("operations.jsonl"), b"").unwrap();
    assert!(matches!(
        open_and_compare(dir.path(), &store),
        SnapshotUse::Discarded(SnapshotRejected::FilesShorter)
    ));
}

#[tokio::test]
async fn the_summary_is_used_only_when_it_is_of_the_logs_head() {
    use stratagem_events::projection::files::{read_summary, SUMMARY_FILE};
    let store = log_of(20).await;
    let dir = tempfile::tempdir().unwrap();
    let files = ProjectionFiles::open(dir.path(), &store).unwrap();
    let summary = read_summary(dir.path(), &store).expect("written at open");
    assert_eq!(summary.seq, 100);
    assert_eq!(summary.autonomy, files.state().autonomy);
    assert_eq!(summary.sources, files.state().sources);
    drop(files);
    // The log moved on: the summary is of an older point and is not used.
    store.append(AppendRequest::new(batch(20))).await.unwrap();
    assert!(read_summary(dir.path(), &store).is_none());
    // Another log of the same length: the hash differs.
    let other = MemoryEventStore::new();
    for n in 100..121 {
        other.append(AppendRequest::new(batch(n))).await.unwrap();
    }
    assert!(read_summary(dir.path(), &other).is_none());
    // Damaged: not used.
    std::fs::write(dir.path().join(SUMMARY_FILE), b"{not json").unwrap();
    ProjectionFiles::open(dir.path(), &store).unwrap();
    let summary = read_summary(dir.path(), &store).expect("rewritten at open");
    assert_eq!(summary.seq, 105);
    assert_eq!(
        summary.autonomy,
        Projections::replay(&store).unwrap().autonomy
    );
}
