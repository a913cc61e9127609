//! The JetStream event store beyond the conformance suite, on real `nats-server` processes:
//! failover of a three-node cluster under load, two writers on one stream, the durable
//! idempotency check, whole batches for every reader.

#[path = "common/nats.rs"]
mod nats;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stratagem_events::audit::verify_chain;
use stratagem_events::{
    ActorStarted, AppendAck, AppendRequest, Event, EventStore, JetStreamEventStore,
};

fn actor(name: &str) -> Event {
    Event::from(ActorStarted { actor: name.into() })
}

fn name_of(store: &dyn EventStore, seq: u64) -> String {
    match store.read(seq, 1).unwrap()[0].event().unwrap() {
        Event::ActorStarted(a) => a.actor,
        other => panic!("{other:?}"),
    }
}

/// Appends `request` until it is acknowledged, as a client does through a failover: the same
/// idempotency key each time, so a batch stored before its acknowledgement was lost is not
/// stored again.
async fn append_until_acknowledged(
    store: &JetStreamEventStore,
    request: AppendRequest,
) -> (AppendAck, u32) {
    let began = Instant::now();
    let mut retries = 0;
    loop {
        match store.append(request.clone()).await {
            Ok(ack) => return (ack, retries),
            Err(e) => {
                retries += 1;
                assert!(
                    began.elapsed() < Duration::from_secs(120),
                    "no acknowledgement in 120 s: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_loses_a_node_and_then_its_stream_leader_keeps_every_acknowledged_event_once(
) {
    let mut cluster = tokio::task::spawn_blocking(nats::Nats::cluster)
        .await
        .unwrap();
    let address = cluster.address("LOAD");
    let store = JetStreamEventStore::open(&address, 3).await.unwrap();
    // 100,000 events in batches of 100.
    let (batches, size) = (1_000usize, 100usize);
    let mut acks: Vec<(usize, AppendAck)> = Vec::new();
    let mut retries = 0;
    let mut killed = Vec::new();
    let began = Instant::now();
    for b in 0..batches {
        match b {
            // A node that does not lead the stream dies, and comes back later.
            250 => {
                let leader = cluster.stream_leader("LOAD").expect("a stream leader");
                let victim = (leader + 1) % 3;
                cluster.kill(victim);
                killed.push(format!("n{victim} (follower) at batch {b}"));
            }
            500 => {
                let victim = killed
                    .first()
                    .and_then(|k| k[1..2].parse::<usize>().ok())
                    .unwrap();
                tokio::task::block_in_place(|| cluster.restart(victim));
                killed.push(format!("n{victim} restarted at batch {b}"));
            }
            // Then the stream's leader.
            700 => {
                let leader = cluster.stream_leader("LOAD").expect("a stream leader");
                cluster.kill(leader);
                killed.push(format!("n{leader} (stream leader) at batch {b}"));
            }
            _ => {}
        }
        let events = (0..size).map(|i| actor(&format!("b{b}-e{i}"))).collect();
        let request = AppendRequest::new(events).idempotent(format!("load-{b}"));
        let (ack, r) = append_until_acknowledged(&store, request).await;
        retries += r;
        acks.push((b, ack));
    }
    let elapsed = began.elapsed();
    eprintln!(
        "{} events in {batches} batches of {size} in {:.1} s ({retries} retries); {}",
        batches * size,
        elapsed.as_secs_f64(),
        killed.join(", ")
    );
    drop(store);
    // A fresh reader of the stream: every acknowledged batch there once, in order, whole.
    let reader = JetStreamEventStore::open(&address, 3).await.unwrap();
    assert_eq!(
        reader.head().seq,
        (batches * size) as u64,
        "none twice, none lost"
    );
    let mut next = 1;
    for (b, ack) in &acks {
        assert_eq!(
            (ack.first_seq, ack.last_seq),
            (next, next + size as u64 - 1)
        );
        assert_eq!(name_of(&reader, ack.first_seq), format!("b{b}-e0"));
        assert_eq!(
            name_of(&reader, ack.last_seq),
            format!("b{b}-e{}", size - 1)
        );
        next = ack.last_seq + 1;
    }
    let report = verify_chain(&reader).unwrap();
    assert_eq!(
        (report.verified, report.first_break),
        ((batches * size) as u64, None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_on_one_stream_keep_one_contiguous_chain() {
    let servers = tokio::task::spawn_blocking(nats::Nats::single)
        .await
        .unwrap();
    let address = servers.address("TWO");
    let a = Arc::new(JetStreamEventStore::open(&address, 1).await.unwrap());
    let b = Arc::new(JetStreamEventStore::open(&address, 1).await.unwrap());
    let mut tasks = Vec::new();
    for (w, store) in [("a", a.clone()), ("b", b.clone())] {
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            for i in 0..50 {
                let batch = (0..(i % 4 + 1))
                    .map(|j| actor(&format!("{w}-{i}-{j}")))
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
        assert_eq!(*first, next, "the two writers' batches tile the sequence");
        next = last + 1;
    }
    // Each sees the other's batches (the follower), and the chain is one.
    let head = next - 1;
    let until = Instant::now() + Duration::from_secs(10);
    while (a.head().seq, b.head().seq) != (head, head) {
        assert!(
            Instant::now() < until,
            "{} {} {head}",
            a.head().seq,
            b.head().seq
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(a.head(), b.head());
    assert_eq!(verify_chain(a.as_ref()).unwrap().first_break, None);
    // A stale expectation from one writer is refused once the other has moved on.
    let err = a
        .append(AppendRequest::one(actor("stale")).expecting(head))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("expected the next sequence number"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_found_on_the_stream_itself_by_a_process_that_never_saw_it_stored() {
    let servers = tokio::task::spawn_blocking(nats::Nats::single)
        .await
        .unwrap();
    let address = servers.address("KEYS");
    let first = JetStreamEventStore::open(&address, 1).await.unwrap();
    let ack = first
        .append(AppendRequest::new(vec![actor("x"), actor("y")]).idempotent("decision-1"))
        .await
        .unwrap();
    for i in 0..5 {
        first
            .append(AppendRequest::one(actor(&format!("later {i}"))))
            .await
            .unwrap();
    }
    drop(first);
    // A new process: its index of keys comes from the stream, not from the server's
    // duplicate window (which this check does not need).
    let second = JetStreamEventStore::open(&address, 1).await.unwrap();
    let retry = second
        .append(AppendRequest::new(vec![actor("x"), actor("y")]).idempotent("decision-1"))
        .await
        .unwrap();
    assert_eq!(
        (retry.first_seq, retry.last_seq, retry.deduplicated),
        (ack.first_seq, ack.last_seq, true)
    );
    assert_eq!(second.head().seq, 7, "the retry stored nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_sees_only_whole_batches() {
    let servers = tokio::task::spawn_blocking(nats::Nats::single)
        .await
        .unwrap();
    let address = servers.address("WHOLE");
    let writer = JetStreamEventStore::open(&address, 1).await.unwrap();
    let reader = JetStreamEventStore::open(&address, 1).await.unwrap();
    let mut seen = reader.durable_watch();
    let watcher = tokio::spawn(async move {
        let mut heads = BTreeMap::new();
        while seen.changed().await.is_ok() {
            let head = *seen.borrow_and_update();
            *heads.entry(head).or_insert(0) += 1;
            if head >= 7 * 40 {
                break;
            }
        }
        heads
    });
    for b in 0..40 {
        let batch = (0..7).map(|i| actor(&format!("{b}-{i}"))).collect();
        writer.append(AppendRequest::new(batch)).await.unwrap();
    }
    let heads = tokio::time::timeout(Duration::from_secs(20), watcher)
        .await
        .unwrap()
        .unwrap();
    assert!(!heads.is_empty());
    for head in heads.keys() {
        assert_eq!(head % 7, 0, "the reader saw event {head}: half a batch");
    }
    assert_eq!(reader.head(), writer.head());
}
