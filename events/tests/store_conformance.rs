//! One conformance suite for every `EventStore` implementation: the same checks run against the
//! in-memory store, the sled store (in a real temporary directory), and the JetStream store on
//! a real `nats-server` (one node, and a three-node cluster with three replicas).

mod common;
#[path = "common/nats.rs"]
mod nats;

use std::sync::Arc;

use stratagem_events::audit::verify_chain;
use stratagem_events::record::GENESIS_HASH;
use stratagem_events::{
    ActorStarted, AppendRequest, Event, EventStore, Head, JetStreamEventStore, MemoryEventStore,
    Projections, SledEventStore, StoreError, Subscription,
};
use uuid::Uuid;

/// A store under test, and whatever keeps its directory or servers alive.
struct Subject {
    store: Arc<dyn EventStore>,
    _dir: Option<tempfile::TempDir>,
    _nats: Option<nats::Nats>,
}

async fn memory() -> Subject {
    Subject {
        store: Arc::new(MemoryEventStore::new()),
        _dir: None,
        _nats: None,
    }
}

async fn sled() -> Subject {
    let dir = tempfile::tempdir().unwrap();
    let store = SledEventStore::open(dir.path().join("events")).unwrap();
    Subject {
        store: Arc::new(store),
        _dir: Some(dir),
        _nats: None,
    }
}

async fn on_nats(servers: nats::Nats) -> Subject {
    let store = JetStreamEventStore::open(&servers.address("EVENTS"), servers.replicas())
        .await
        .unwrap();
    Subject {
        store: Arc::new(store),
        _dir: None,
        _nats: Some(servers),
    }
}

async fn nats_single() -> Subject {
    on_nats(
        tokio::task::spawn_blocking(nats::Nats::single)
            .await
            .unwrap(),
    )
    .await
}

async fn nats_cluster() -> Subject {
    on_nats(
        tokio::task::spawn_blocking(nats::Nats::cluster)
            .await
            .unwrap(),
    )
    .await
}

fn actor(name: &str) -> Event {
    Event::from(ActorStarted { actor: name.into() })
}

fn opportunity(title: &str) -> Event {
    common::discovered(Uuid::now_v7(), title)
}

async fn empty_store(s: Subject) {
    assert_eq!(s.store.head(), Head::EMPTY);
    assert!(s.store.read(1, 10).unwrap().is_empty());
    let report = verify_chain(s.store.as_ref()).unwrap();
    assert_eq!((report.verified, report.first_break), (0, None));
}

async fn appends_are_contiguous_and_chained(s: Subject) {
    let a = s
        .store
        .append(AppendRequest::one(actor("a")))
        .await
        .unwrap();
    assert_eq!((a.first_seq, a.last_seq, a.deduplicated), (1, 1, false));
    let b = s
        .store
        .append(AppendRequest::new(vec![actor("b"), actor("c"), actor("d")]))
        .await
        .unwrap();
    assert_eq!((b.first_seq, b.last_seq), (2, 4));
    let events = s.store.read(1, 100).unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(events[0].prev_hash, GENESIS_HASH);
    for pair in events.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
        assert!(pair[0].id < pair[1].id, "UUID v7 ids grow");
    }
    assert_eq!(events[2].event().unwrap(), actor("c"));
    assert_eq!(
        s.store.head(),
        Head {
            seq: 4,
            hash: events[3].hash
        }
    );
    let report = verify_chain(s.store.as_ref()).unwrap();
    assert_eq!(
        (report.verified, report.first_break, report.head_hash),
        (4, None, events[3].hash)
    );
}

async fn empty_batch_is_refused(s: Subject) {
    let err = s
        .store
        .append(AppendRequest::new(vec![]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::EmptyBatch), "{err}");
    assert_eq!(s.store.head().seq, 0);
}

async fn an_oversized_event_refuses_its_whole_batch(s: Subject) {
    let huge = actor(&"x".repeat(stratagem_events::MAX_PAYLOAD_BYTES));
    let err = s
        .store
        .append(AppendRequest::new(vec![actor("fine"), huge]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Encode(_)), "{err}");
    assert!(
        err.to_string().contains("actor.started payload is"),
        "{err}"
    );
    assert_eq!(s.store.head().seq, 0, "nothing of the batch was stored");
    assert_eq!(
        s.store
            .append(AppendRequest::one(actor("next")))
            .await
            .unwrap()
            .first_seq,
        1
    );
}

async fn expected_sequence_is_enforced(s: Subject) {
    s.store
        .append(AppendRequest::one(actor("a")).expecting(1))
        .await
        .unwrap();
    let err = s
        .store
        .append(AppendRequest::one(actor("b")).expecting(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 1,
                actual: 2
            }
        ),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains("expected the next sequence number to be 1, but it is 2"));
    assert_eq!(s.store.head().seq, 1, "a conflicting append stores nothing");
    s.store
        .append(AppendRequest::one(actor("b")).expecting(2))
        .await
        .unwrap();
    assert_eq!(s.store.head().seq, 2);
}

async fn idempotency_key_stores_once(s: Subject) {
    let first = s
        .store
        .append(AppendRequest::new(vec![actor("a"), actor("b")]).idempotent("k1"))
        .await
        .unwrap();
    s.store
        .append(AppendRequest::one(actor("other")))
        .await
        .unwrap();
    // A retry with a stale expectation still gets the original acknowledgement.
    let retry = s
        .store
        .append(
            AppendRequest::new(vec![actor("a"), actor("b")])
                .idempotent("k1")
                .expecting(1),
        )
        .await
        .unwrap();
    assert_eq!(
        (retry.first_seq, retry.last_seq, retry.deduplicated),
        (first.first_seq, first.last_seq, true)
    );
    assert_eq!(s.store.head().seq, 3, "the retry stored nothing");
    let next = s
        .store
        .append(AppendRequest::one(actor("c")).idempotent("k2"))
        .await
        .unwrap();
    assert_eq!((next.first_seq, next.deduplicated), (4, false));
}

async fn reads_ranges(s: Subject) {
    for i in 0..10 {
        s.store
            .append(AppendRequest::one(actor(&format!("a{i}"))))
            .await
            .unwrap();
    }
    let middle = s.store.read(4, 3).unwrap();
    assert_eq!(
        middle.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![4, 5, 6]
    );
    assert!(s.store.read(11, 5).unwrap().is_empty());
    assert_eq!(
        s.store.read(0, 2).unwrap()[0].seq,
        1,
        "0 reads from the start"
    );
    let all: Vec<_> = stratagem_events::iter_from(s.store.as_ref(), 8)
        .map(|e| e.unwrap().seq)
        .collect();
    assert_eq!(all, vec![8, 9, 10]);
}

async fn subscription_catches_up_then_follows(s: Subject) {
    s.store
        .append(AppendRequest::new(vec![actor("a"), actor("b")]))
        .await
        .unwrap();
    let mut sub = Subscription::new(s.store.clone(), 2);
    assert_eq!(sub.next().await.unwrap().unwrap().seq, 2);
    let store = s.store.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        store
            .append(AppendRequest::new(vec![actor("c"), actor("d")]))
            .await
            .unwrap();
    });
    let c = tokio::time::timeout(std::time::Duration::from_secs(10), sub.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((c.seq, c.event().unwrap()), (3, actor("c")));
    assert_eq!(sub.next().await.unwrap().unwrap().seq, 4);
    writer.await.unwrap();
}

async fn concurrent_appends_stay_contiguous(s: Subject) {
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = s.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            for i in 0..25 {
                let batch = (0..(i % 3 + 1))
                    .map(|j| actor(&format!("t{t}-{i}-{j}")))
                    .collect();
                acks.push(store.append(AppendRequest::new(batch)).await.unwrap());
            }
            acks
        }));
    }
    let mut ranges = Vec::new();
    for t in tasks {
        ranges.extend(
            t.await
                .unwrap()
                .into_iter()
                .map(|a| (a.first_seq, a.last_seq)),
        );
    }
    ranges.sort();
    let mut next = 1;
    for (first, last) in &ranges {
        assert_eq!(
            *first, next,
            "batches tile the sequence with no gap or overlap"
        );
        next = last + 1;
    }
    assert_eq!(s.store.head().seq, next - 1);
    assert_eq!(verify_chain(s.store.as_ref()).unwrap().first_break, None);
}

async fn replay_equals_incremental_projection(s: Subject) {
    let mut live = Projections::default();
    for i in 0..20 {
        s.store
            .append(AppendRequest::new(vec![
                opportunity(&format!("idea {i}")),
                actor("x"),
            ]))
            .await
            .unwrap();
        for rec in s.store.read(live.last_seq + 1, 100).unwrap() {
            live.apply(&rec).unwrap();
        }
    }
    let replayed = Projections::replay(s.store.as_ref()).unwrap();
    assert_eq!(replayed, live);
    assert_eq!(replayed.autonomy.opportunities_discovered, 20);
    assert_eq!(replayed.last_seq, 40);
}

async fn a_copy_holds_the_same_records_hashes_and_keys(s: Subject) {
    // A log elsewhere, with keyed batches among plain ones.
    let source = MemoryEventStore::new();
    for i in 0..30 {
        let batch: Vec<Event> = (0..(i % 3 + 1))
            .map(|j| actor(&format!("{i}-{j}")))
            .collect();
        let request = AppendRequest::new(batch);
        let request = if i % 4 == 0 {
            request.idempotent(format!("k{i}"))
        } else {
            request
        };
        source.append(request).await.unwrap();
    }
    // Copied in chunks smaller than a batch: each keyed batch still goes whole.
    let report = stratagem_events::copy(&source, s.store.as_ref(), 2)
        .await
        .unwrap();
    assert_eq!((report.already, report.copied, report.keys), (0, 60, 8));
    assert_eq!(s.store.head(), source.head());
    assert_eq!(
        s.store.read_raw(1, 100).unwrap(),
        source.read_raw(1, 100).unwrap(),
        "byte for byte"
    );
    assert_eq!(s.store.keys().unwrap(), source.keys().unwrap());
    let report = verify_chain(s.store.as_ref()).unwrap();
    assert_eq!((report.verified, report.first_break), (60, None));
    // A retry of a copied decision is found on the copy.
    let retry = s
        .store
        .append(AppendRequest::one(actor("again")).idempotent("k4"))
        .await
        .unwrap();
    let (_, first, last) = source.keys().unwrap()[1].clone();
    assert_eq!(
        (retry.first_seq, retry.last_seq, retry.deduplicated),
        (first, last, true)
    );
    // The copy goes on where it is: a second copy finds nothing new.
    let again = stratagem_events::copy(&source, s.store.as_ref(), 100)
        .await
        .unwrap();
    assert_eq!((again.already, again.copied), (60, 0));
    // A record that does not continue the chain is refused, and nothing of its call stored.
    let mut forged = source.read_raw(60, 1).unwrap();
    forged[0].0 = 61;
    let err = s.store.import(forged, vec![]).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { seq: 61, .. }), "{err}");
    assert_eq!(s.store.head().seq, 60);
    // Nor does a log go onto another one.
    let other = MemoryEventStore::new();
    other
        .append(AppendRequest::one(actor("not the same")))
        .await
        .unwrap();
    let err = stratagem_events::copy(&other, s.store.as_ref(), 10)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not the start of the log"),
        "{err}"
    );
}

macro_rules! conformance {
    ($($check:ident),+ $(,)?) => {
        mod memory_store {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() { super::$check(super::memory().await).await })+
        }
        mod sled_store {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() { super::$check(super::sled().await).await })+
        }
        mod nats_single_node {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() { super::$check(super::nats_single().await).await })+
        }
        mod nats_three_node_cluster {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() { super::$check(super::nats_cluster().await).await })+
        }
    };
}

conformance!(
    empty_store,
    appends_are_contiguous_and_chained,
    empty_batch_is_refused,
    an_oversized_event_refuses_its_whole_batch,
    expected_sequence_is_enforced,
    idempotency_key_stores_once,
    reads_ranges,
    subscription_catches_up_then_follows,
    concurrent_appends_stay_contiguous,
    replay_equals_incremental_projection,
    a_copy_holds_the_same_records_hashes_and_keys,
);
