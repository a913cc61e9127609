//! Event log benchmarks: durable appends (one event, batches of 100) on a real sled directory,
//! and replay of 1,000,000 events into the projections (AutonomyState and read models).
//!
//! Targets on the 2-core reference machine: >= 50,000 events/s durable in batches of 100,
//! >= 1,000,000 events/s replay. Run with `cargo bench --bench event_log`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use stratagem_events::{
    ActorStarted, AppendRequest, Event, EventStore, Projections, SledEventStore,
};

#[path = "common/log.rs"]
mod log;
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

criterion_group!(benches, appends, replay);
criterion_main!(benches);
