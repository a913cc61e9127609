//! Event log benchmarks: durable appends (one event, batches of 100) on a real sled directory,
//! and replay of 1,000,000 events into the projections (AutonomyState and read models); the
//! same on NATS JetStream (`JetStreamEventStore`) — durable batches of 100 to one real
//! `nats-server` and to a three-node cluster (three replicas), and a replay from the stream
//! (opening it: every batch read into the local copy, then projected) — beside the sled figures
//! of the same run.
//!
//! Targets on the 2-core reference machine: >= 50,000 events/s durable in batches of 100,
//! >= 1,000,000 events/s replay. Run with `cargo bench --bench event_log`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use stratagem_events::{
    ActorStarted, AppendRequest, Event, EventStore, JetStreamEventStore, Projections,
    SledEventStore,
};

#[path = "common/log.rs"]
mod log;
#[path = "../events/tests/common/nats.rs"]
mod nats;
use log::cycle;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn appends(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("append_durable");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    let tmp = tempfile::tempdir().unwrap();
    let store = SledEventStore::open(tmp.path().join("single")).unwrap();
    group.throughput(Throughput::Elements(1));
    group.bench_function("single_event", |bench| {
        bench.iter(|| {
            rt.block_on(store.append(AppendRequest::one(ActorStarted {
                actor: "bench".into(),
            })))
            .unwrap()
        })
    });
    let store = SledEventStore::open(tmp.path().join("batch")).unwrap();
    let mut n = 0;
    group.throughput(Throughput::Elements(100));
    group.bench_function("batch_of_100", |bench| {
        bench.iter_batched(
            || {
                n += 1;
                (0..10).flat_map(|k| cycle(n * 10 + k)).collect::<Vec<_>>()
            },
            |events| {
                rt.block_on(store.append(AppendRequest::new(events)))
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

const REPLAY_EVENTS: u64 = 1_000_000;

fn replay(c: &mut Criterion) {
    let rt = runtime();
    let tmp = tempfile::tempdir().unwrap();
    let store = SledEventStore::open(tmp.path().join("replay")).unwrap();
    let mut i = 0;
    while store.head().seq < REPLAY_EVENTS {
        let batch: Vec<Event> = (0..100).flat_map(|k| cycle(i * 100 + k)).collect();
        rt.block_on(store.append(AppendRequest::new(batch)))
            .unwrap();
        i += 1;
    }
    let mut group = c.benchmark_group("replay");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(store.head().seq));
    group.bench_function("1m_events_into_projections", |bench| {
        bench.iter(|| {
            let p = Projections::replay(&store).unwrap();
            assert_eq!(p.last_seq, REPLAY_EVENTS);
            p.autonomy
        })
    });
    group.finish();
}

/// Events in the stream the JetStream replay reads.
const NATS_REPLAY_EVENTS: u64 = 200_000;

fn on_nats(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("append_durable_nats");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(100));
    for (name, servers) in [
        ("one_node_batch_of_100", nats::Nats::single()),
        ("three_node_cluster_batch_of_100", nats::Nats::cluster()),
    ] {
        let store = rt
            .block_on(JetStreamEventStore::open(
                &servers.address("BENCH"),
                servers.replicas(),
            ))
            .unwrap();
        let mut n = 0;
        group.bench_function(name, |bench| {
            bench.iter_batched(
                || {
                    n += 1;
                    (0..10).flat_map(|k| cycle(n * 10 + k)).collect::<Vec<_>>()
                },
                |events| {
                    rt.block_on(store.append(AppendRequest::new(events)))
                        .unwrap()
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();

    let server = nats::Nats::single();
    let address = server.address("REPLAY");
    let store = rt.block_on(JetStreamEventStore::open(&address, 1)).unwrap();
    let mut i = 0;
    while store.head().seq < NATS_REPLAY_EVENTS {
        let batch: Vec<Event> = (0..10).flat_map(|k| cycle(i * 10 + k)).collect();
        rt.block_on(store.append(AppendRequest::new(batch)))
            .unwrap();
        i += 1;
    }
    drop(store);
    let mut group = c.benchmark_group("replay_nats");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(NATS_REPLAY_EVENTS));
    group.bench_function("200k_events_from_the_stream_into_projections", |bench| {
        bench.iter(|| {
            let store = rt.block_on(JetStreamEventStore::open(&address, 1)).unwrap();
            let p = Projections::replay(&store).unwrap();
            assert_eq!(p.last_seq, NATS_REPLAY_EVENTS);
            p.autonomy
        })
    });
    group.finish();
}

criterion_group!(benches, appends, replay, on_nats);
criterion_main!(benches);
